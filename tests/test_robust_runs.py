"""Inputs that move or break, ids that cannot collide, bounded work, clean failure (issue 18, part B).

Each test reproduces one row of the issue's table on a few generated pages and checks
the behaviour the README promises: an error record with a reason, a one-line message
and a documented exit status, or the input tried again by the next run.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from corpus_helpers import EPOCH, article, corpus_view, run_cli, small_config, store_rows, write_articles
from pipeline.cli import main


def set_option(config: Path, key: str, value: str) -> None:
    """Replace `  key: ...` in a small_config copy (the first occurrence)."""
    text, n = re.subn(rf"(?m)^(\s+{key}:)[^\n#]*", rf"\g<1> {value}  ", config.read_text(encoding="utf-8"), count=1)
    assert n == 1, key
    config.write_text(text, encoding="utf-8")


def rejects_of(output: Path) -> list[dict]:
    from pipeline.corpus import finished_runs, read_jsonl

    return [record for run in finished_runs(output) for shard in run.manifest["rejects"]
            for record in read_jsonl(run.dir / shard["file"])]


# --- D4 / K3: numeric options validated with their range before any work -----------------

@pytest.mark.parametrize("key,value,shown", [
    ("task_size", "-5", "run.task_size: must be >= 1"),
    ("compresslevel", "10", "run.compresslevel: must be in [1, 9]"),
    ("shard_size", "0", "run.shard_size: must be >= 1"),
    ("workers", "-1", "run.workers: must be >= 0"),
    ("max_bytes", "-1", "read.max_bytes: must be >= 1"),
    ("threshold", "2.0", "near_dedup.threshold: must be in (0, 1]"),
    ("threshold", "0", "near_dedup.threshold: must be in (0, 1]"),
])
def test_numeric_option_out_of_range_is_refused_before_any_work(tmp_path, capsys, key, value, shown):
    config = small_config(tmp_path)
    set_option(config, key, value)
    write_articles(tmp_path / "in", [1, 2])
    out = tmp_path / "out"
    assert main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert shown in err and re.search(r"config\.yaml:\d+: ", err), err
    assert len(err.splitlines()) == 1
    assert not out.exists()  # refused before anything was touched


def test_workers_option_on_the_command_line_is_checked(tmp_path, capsys):
    write_articles(tmp_path / "in", [1])
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(tmp_path / "in"),
                 "-o", str(tmp_path / "out"), "-w", "-3", "-q"]) == 2
    assert "run.workers: must be >= 0" in capsys.readouterr().err
