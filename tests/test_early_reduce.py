"""The reduce's reading done while the map runs (pipeline/early_reduce.py): a run with workers
feeds and holds the keys as the map tasks end, and decides the same drops as the reduce after the
map (one worker), byte for byte, also when part of the keys is read back and after a kill."""

from __future__ import annotations

import gzip
import json
import random
import sqlite3
from pathlib import Path

import pytest
from corpus_helpers import EPOCH, article, run_cli, small_config
from test_near_dedup import WORDS

from pipeline import early_reduce
from pipeline.config import load_config
from pipeline.document import Document
from pipeline.runner import run_pipeline
from pipeline.s6_dedup.near import NearDedup
from pipeline.step import DocRef

# --- near_dedup fed before its exclusions are known ---------------------------------------


def _near_docs() -> list[tuple[DocRef, tuple]]:
    """(ref, key) of 40 documents: 4 originals, each with 9 copies edited a little (dated so
    that copies rank before and after their original)."""
    step, rng, out = NearDedup(), random.Random(7), []
    for _original in range(4):
        words = [rng.choice(WORDS) for _ in range(120)]
        for copy in range(10):
            edited = list(words)
            for _ in range(copy):  # a word changed per copy: Jaccard to the original ~0.9 and below
                edited[rng.randrange(len(edited))] = rng.choice(WORDS)
            order = len(out)
            created = None if copy % 3 == 0 else f"2025-01-{10 + (order * 7) % 19:02d}"
            key = step.key(Document(f"d{order}", " ".join(edited)))
            out.append((DocRef(order, f"d{order}", created), key))
    return out


def _decided(step: NearDedup, drops) -> tuple:
    scratch, kept = step._scratch, step._kept_ranks
    assert scratch is not None and kept is not None
    return (
        [(d.order, d.reason, d.detail, d.dup_of) for d in drops],
        [scratch.id(i) for i in kept],  # what `stage` writes, in keep order
        dict(step.stats.counters),
    )


@pytest.mark.parametrize("max_bucket", [1000, 2])  # 2: a bucket's first candidates only
def test_fed_near_dedup_decides_as_the_reduce_over_the_candidates_not_excluded(tmp_path, max_bucket):
    items = _near_docs()
    excluded = {0, 3, 10, 11, 25, 37}  # originals and copies dropped by earlier steps
    before = NearDedup({"max_bucket": max_bucket, "scratch_dir": str(tmp_path)})
    expected = _decided(before, list(before.reduce([(r, k) for r, k in items if r.order not in excluded])))
    fed = NearDedup({"max_bucket": max_bucket, "scratch_dir": str(tmp_path)})
    fed.begin_feed()
    for at in range(0, len(items), 7):  # in pieces, as the map tasks end
        fed.feed(items[at : at + 7])
    assert _decided(fed, list(fed.reduce_fed(excluded))) == expected
    assert expected[0] and any(d[3] is not None for d in expected[0])  # the copies are found


# --- a run with workers against a run with one --------------------------------------------


def _write_inputs(folder: Path, day: int) -> None:
    """JSONL records in two files: ids both files use (collisions), exact and near copies, dates,
    a footer line every page of the site carries (template_lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    footer = "Mời bạn đọc xem thêm các tin khác tại chuyên mục thời sự của báo."
    for part in ("a", "b"):
        lines = []
        for i in range(14):
            n = day * 100 + i
            body = article(n if i % 5 else day * 100)  # every fifth page copies the day's first
            if i % 4 == 1:  # a near copy: the last sentence cut
                body = article(n - 1).rsplit(" ", 6)[0]
            if day == 2 and i == 3:  # a near copy of a page the first run kept (its index)
                body = article(103).rsplit(" ", 6)[0]
            record = {
                "id": f"day{day}-{i}" if part == "a" or i % 6 else f"day{day}-{i + 1}",  # (b: collisions)
                "url": f"https://tin.example.vn/{part}/{n}.html",
                "text": f"{body}\n\n{footer}" if day == 1 or i % 2 else body,
                "date": f"2025-0{day}-{(i * 5) % 27 + 1:02d}" if i % 3 else "",
            }
            lines.append(json.dumps(record, ensure_ascii=False))
        (folder / f"{part}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _corpus(out: Path) -> dict:
    """The shards' and the state's bytes (SQLite files as their rows, not their pages; not the
    manifests' copies: they name the workers and the time)."""
    [*_, run_dir] = sorted((out / "runs").iterdir())
    files = {p.name: p.read_bytes() for p in sorted(run_dir.glob("*.jsonl.gz"))}
    for path in sorted((out / "state").rglob("*")):
        if path.parent.name == "manifests":
            continue
        if path.suffix == ".sqlite":
            with sqlite3.connect(path) as db:
                tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                files[str(path.relative_to(out))] = {
                    t: sorted(db.execute(f"SELECT * FROM {t}"))
                    for t in tables
                    if t not in ("applied", "runs")
                }
        elif path.is_file() and path.name != "run.lock":
            files[str(path.relative_to(out))] = path.read_bytes()
    return files


def _two_days(tmp_path: Path, name: str, workers: int) -> list[dict]:
    config = load_config(small_config(tmp_path / name, task_size=3, shard_size=50))
    out, corpora = tmp_path / name / "out", []
    for day in (1, 2):
        inputs = tmp_path / f"day{day}"  # the same paths for every corpus (the state holds them)
        if not inputs.exists():
            _write_inputs(inputs, day)
        run_pipeline(config, [inputs], out, workers=workers)
        corpora.append(_corpus(out))
    return corpora


def test_a_run_with_workers_keeps_and_drops_what_a_run_with_one_does(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    tasks_seen: list[int] = []
    add_task = early_reduce.EarlyReduce.add_task

    def counted(self, index, n_docs):
        tasks_seen.append(index)
        add_task(self, index, n_docs)

    monkeypatch.setattr(early_reduce.EarlyReduce, "add_task", counted)
    one = _two_days(tmp_path, "one", workers=1)
    assert tasks_seen == []  # one worker: the reduce after the map, as before
    two = _two_days(tmp_path, "two", workers=2)
    assert tasks_seen == list(range(10)) * 2  # 28 records a day in tasks of 3
    monkeypatch.setattr(early_reduce, "HOLD_LIMIT", 7)  # most tasks' small keys read back after the map
    part_held = _two_days(tmp_path, "part", workers=2)
    assert one == two == part_held
    rejects = b"".join(v for k, v in one[1].items() if k.startswith("rejects"))
    day2 = [json.loads(line) for line in gzip.decompress(rejects).splitlines()]
    reasons = {r["reason"] for r in day2}
    assert {"duplicate_id", "exact_duplicate", "near_duplicate"} <= reasons  # every step dropped some
    assert any("was dropped as a copy of" in r["detail"] for r in day2)  # a chain followed
    assert any(r["reason"] == "near_duplicate" and r["dup_of"].startswith("day1-") for r in day2)
    kept = b"".join(v for k, v in one[0].items() if k.startswith("part"))
    assert b"template_line" in gzip.decompress(kept)


def test_a_run_with_workers_killed_after_its_map_is_resumed_with_the_same_output(tmp_path):
    inputs = tmp_path / "in"
    _write_inputs(inputs, 1)
    config = small_config(tmp_path, task_size=3, shard_size=50, workers=2)
    whole = run_cli(config, inputs, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    for point in ("task:9", "reduced"):  # the last map task's result in; the reduce done
        out = tmp_path / point.replace(":", "-")
        killed = run_cli(config, inputs, out, env={"NEWSCLEAN_TEST_KILL_AT": point})
        assert killed.returncode == -9, killed.stderr
        resumed = run_cli(config, inputs, out)
        assert resumed.returncode == 0, resumed.stderr
        assert _corpus(out) == _corpus(tmp_path / "whole")
