"""The held-out benchmarks between rounds: `benchmarks/heldout/` may hold no page (its pages move to the dev
set once their errors are looked at), and both scoring commands must then say so instead of failing with a
StopIteration deep inside; with pages, only those with gold and a saved page are scored."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import devpages  # noqa: E402


def _gold(folder: Path, stem: str) -> None:
    (folder / "gold").mkdir(parents=True, exist_ok=True)
    gold = {"title": "", "body_lines": [], "text": "", "site": "example.vn", "page_type": "home"}
    (folder / "gold" / f"{stem}.gold.json").write_text(json.dumps(gold), encoding="utf-8")


def test_html_path_on_a_folder_without_pages_says_so(tmp_path, capsys):
    (tmp_path / "heldout").mkdir()
    with pytest.raises(SystemExit) as stop:
        devpages.main(["--pages", str(tmp_path / "heldout"), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    assert "no page with gold and html under" in capsys.readouterr().err


def test_link_pages_takes_only_gold_with_a_saved_page_and_the_first_copy(tmp_path):
    first, second, inputs = tmp_path / "a", tmp_path / "b", tmp_path / "inputs"
    inputs.mkdir()
    for folder in (first, second):
        _gold(folder, "001_aa")
        (folder / "html").mkdir()
        (folder / "html" / "001_aa.html.gz").write_bytes(gzip.compress(folder.name.encode()))
    _gold(first, "002_bb")  # gold without its page: not scored
    pages, gold = devpages.link_pages([first, second], inputs)
    assert [p.name for p in pages] == ["001_aa.html.gz"]
    assert list(gold) == ["001_aa"]
    assert gzip.decompress(pages[0].read_bytes()) == b"a"  # the earlier folder's copy


def test_text_path_score_on_a_folder_without_pages_says_so(tmp_path):
    (tmp_path / "heldout").mkdir()
    _gold(tmp_path / "heldout", "001_aa")  # gold but no dump: no page
    script = ROOT / "benchmarks" / "line_model" / "train.py"
    done = subprocess.run(
        [sys.executable, str(script), "score", "--pages", str(tmp_path / "heldout"), "--no-seeds"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 1
    assert "no page with gold and dump under" in done.stderr
    assert "StopIteration" not in done.stderr
