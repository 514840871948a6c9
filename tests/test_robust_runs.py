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


# --- S1: the lock is never followed through a symlink -----------------------------------

def test_symlinked_lock_is_refused_and_its_target_untouched(tmp_path, capsys):
    write_articles(tmp_path / "in", [1])
    out = tmp_path / "out"
    (out / "state").mkdir(parents=True)
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (out / "state" / "run.lock").symlink_to(target)
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(tmp_path / "in"), "-o", str(out), "-q"]) == 65
    err = capsys.readouterr().err
    assert "run.lock is a symbolic link" in err and len(err.strip().splitlines()) == 1
    assert target.read_text() == "keep me\n"
    assert not (out / "runs").exists()


# --- K3: operating errors are one line and a documented exit status; the next run recovers --

def test_corrupt_state_sqlite_is_one_line_and_exit_65(tmp_path, capsys):
    write_articles(tmp_path / "in", [1, 2])
    config, out = small_config(tmp_path), tmp_path / "out"
    assert main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(out), "-q"]) == 0
    (out / "state" / "inputs.sqlite").write_bytes(b"this is not a database" * 100)
    capsys.readouterr()
    assert main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(out), "-q"]) == 65
    err = capsys.readouterr().err
    assert err.startswith("newsclean: damaged corpus state: ") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_disk_full_is_one_line_exit_74_and_the_next_run_recovers(tmp_path, capsys, monkeypatch):
    import errno

    from pipeline.s7_write import jsonl

    write_articles(tmp_path / "in", range(1, 6))
    config, out = small_config(tmp_path), tmp_path / "out"
    real_open = jsonl.ShardWriter.write_line

    def full(self, line):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jsonl.ShardWriter, "write_line", full)
    assert main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(out), "-q"]) == 74
    err = capsys.readouterr().err
    assert err.startswith("newsclean: disk full, nothing committed: ") and len(err.strip().splitlines()) == 1
    monkeypatch.setattr(jsonl.ShardWriter, "write_line", real_open)
    assert main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(out), "-q"]) == 0
    assert len(corpus_view(out)) == 5


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_is_one_line_and_exit_73(tmp_path, capsys):
    write_articles(tmp_path / "in", [1])
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(tmp_path / "in"), "-o", str(out),
                     "-q"]) == 73
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert err.startswith("newsclean: cannot write the output") and len(err.strip().splitlines()) == 1


def test_read_only_file_system_is_one_line_and_exit_73(tmp_path, capsys, monkeypatch):
    import errno

    from pipeline import runner

    def read_only(path, data):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    write_articles(tmp_path / "in", [1])
    monkeypatch.setattr(runner, "write_atomic", read_only)
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 "-q"]) == 73
    err = capsys.readouterr().err
    assert err.startswith("newsclean: cannot write the output, nothing committed: ")
    assert len(err.strip().splitlines()) == 1
