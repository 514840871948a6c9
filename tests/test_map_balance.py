"""The run's tail in pieces that shrink toward the end (pipeline/plan.py, `split_tail`): two workers
finish within a smallest piece of each other, with the same number of tasks as equal quarters, and
an unfinished run cut otherwise is not resumed."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from corpus_helpers import run_cli, small_config

from pipeline import plan
from pipeline.plan import cut_digest, list_inputs, plan_tasks, read_task

FIELDS = {"id": "id", "url": "url", "html": "html", "text": "text", "title": "title", "created": "created"}
OPTIONS = {"max_bytes": 1000, "jsonl_fields": FIELDS}


def _jsonl(path: Path, n: int) -> Path:
    path.write_bytes(b"".join(b'{"id": "d%d", "text": "w %d"}\n' % (i, i) for i in range(n)))
    return path


def _sizes(tasks) -> list[int]:
    return [b - a for a, b in (t.records for t in tasks)]


def test_the_tail_of_two_whole_tasks_shrinks_to_four_smallest_pieces(tmp_path):
    files = list_inputs([_jsonl(tmp_path / "in.jsonl", 12_000)])
    uncut = plan_tasks(files, 2000, OPTIONS)
    cut = plan_tasks(files, 2000, OPTIONS, split_tail=True)
    assert cut[:4] == uncut[:4]
    # as many tasks as quarters gave (8 pieces of two tasks): no more work files, a smaller last piece
    assert _sizes(cut[4:]) == [1000, 1000, 500, 500, 250, 250, 250, 250]
    assert [t.records[0] for t in cut[4:]] == [8000, 9000, 10000, 10500, 11000, 11250, 11500, 11750]
    assert [t.index for t in cut] == list(range(len(cut)))
    # every piece seeks to its own start (marks every 250 records) and reads the uncut plan's documents
    assert all(t.seek is not None for t in cut)
    ids = [d.id for t in cut for d in read_task(t, OPTIONS)]
    assert ids == [d.id for t in uncut for d in read_task(t, OPTIONS)]


def test_a_short_last_task_ends_the_tail_with_a_shorter_piece(tmp_path):
    files = list_inputs([_jsonl(tmp_path / "in.jsonl", 9300)])
    cut = plan_tasks(files, 2000, OPTIONS, split_tail=True)
    # uncut: ..., (6000, 8000), (8000, 9300); the sizes go on across the two tasks
    assert [t.records for t in cut[3:]] == [
        (6000, 7000),
        (7000, 8000),
        (8000, 8500),
        (8500, 9000),
        (9000, 9250),
        (9250, 9300),
    ]


def test_a_task_size_eight_does_not_divide_falls_back_to_quarters(tmp_path):
    files = list_inputs([_jsonl(tmp_path / "in.jsonl", 6000)])
    assert plan.tail_piece(1000) == 250 and plan.tail_piece(2000) == 250 and plan.tail_piece(4000) == 500
    cut = plan_tasks(files, 1000, OPTIONS, split_tail=True)
    assert _sizes(cut[4:]) == [500, 500, 250, 250, 250, 250]


def test_groups_of_small_files_shrink_the_same_way(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "MIN_PIECE", 2)  # 40 one-page files, tasks of 16: smallest piece 2 files
    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(40):
        (pages / f"p{i:02d}.html").write_text(f"<html><body><p>page {i}</p></body></html>")
    files = list_inputs([pages])
    uncut = plan_tasks(files, 16, OPTIONS)
    cut = plan_tasks(files, 16, OPTIONS, split_tail=True)
    assert [len(t.files) for t in uncut] == [16, 16, 8]
    assert [len(t.files) for t in cut] == [16, 8, 8, 4, 4]
    assert [f for t in cut for f in t.files] == [f for t in uncut for f in t.files]


def test_the_cut_digest_tells_two_cuts_of_one_task_count_apart(tmp_path, monkeypatch):
    files = list_inputs([_jsonl(tmp_path / "in.jsonl", 12_000)])
    shrinking = plan_tasks(files, 2000, OPTIONS, split_tail=True)
    assert cut_digest(shrinking) == cut_digest(plan_tasks(files, 2000, OPTIONS, split_tail=True))
    monkeypatch.setattr(plan, "_tail_sizes", lambda task_size, piece: iter(lambda: 500, None))
    quarters = plan_tasks(files, 2000, OPTIONS, split_tail=True)  # the cut of the version before
    assert len(quarters) == len(shrinking) and quarters != shrinking
    assert cut_digest(quarters) != cut_digest(shrinking)


def test_an_unfinished_run_cut_otherwise_is_discarded_not_resumed(tmp_path):
    config = small_config(tmp_path)
    inputs = tmp_path / "in"
    inputs.mkdir()
    _jsonl(inputs / "a.jsonl", 12)
    out = tmp_path / "out"
    killed = run_cli(config, inputs, out, env={"NEWSCLEAN_TEST_KILL_AT": "task:2"})
    assert killed.returncode == -signal.SIGKILL
    (run_dir,) = (out / "runs").iterdir()
    saved = json.loads((run_dir / "_work" / "run.json").read_text())
    assert saved["plan"]["cut"] == cut_digest(plan_tasks(list_inputs([inputs]), 2, OPTIONS))
    saved["plan"]["cut"] = "another cut"  # the same task count, cut by another version
    (run_dir / "_work" / "run.json").write_text(json.dumps(saved))
    rerun = run_cli(config, inputs, out)
    assert rerun.returncode == 0, rerun.stderr
    assert "discarded unfinished run" in rerun.stderr
