"""Sharded near-dup removal (run.dedup: sharded) keeps exactly what the in-process reduce keeps.

Step level: the same documents through `NearDedup.reduce` and through the map files,
merge tasks per (band, key range) and the resolution over edge files, for several
ways of cutting the documents into tasks and the key space into ranges, with dates
(the keep rule), tight bucket caps and a cross-run index. Run level: `--dedup
sharded` gives the same kept ids, rejects and counts as the default, over two runs,
and a run killed between merge tasks resumes with the finished ones.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from clean_helpers import SHARED
from corpus_helpers import article, run_cli, small_config

from pipeline.engine.local import LocalEngine
from pipeline.s6_dedup import sharded
from pipeline.s6_dedup.near import NearDedup
from pipeline.step import DocRef


def mutate(text: str, rng: random.Random, edits: int) -> str:
    words = text.split(" ")
    for _ in range(edits):
        words[rng.randrange(len(words))] = f"sửa{rng.randrange(1000)}"
    return " ".join(words)


def documents(seed: int, n_bases: int, first_order: int) -> list[tuple[DocRef, str]]:
    """Articles, near copies (1-6 edited words), copies of copies (chains) and unrelated pages,
    some dated (several on the same day), in a shuffled input order."""
    rng = random.Random(seed)
    texts = []
    for b in range(n_bases):
        base = article(seed * 1000 + b)
        texts.append(base)
        for _ in range(rng.randrange(4)):
            texts.append(mutate(rng.choice(texts[-3:]), rng, rng.randrange(1, 7)))
    rng.shuffle(texts)
    docs = []
    for i, text in enumerate(texts):
        created = rng.choice(
            [
                None,
                None,
                "2024-03-01T08:00:00+07:00",
                "2024-03-02T09:30:00+07:00",
                f"2024-02-{rng.randrange(10, 28)}T10:00:00+07:00",
            ]
        )
        docs.append((DocRef(first_order + i, f"doc-{seed}-{i}", created), text))
    return docs


def make_step(**options) -> NearDedup:
    return NearDedup({"scratch_dir": "", **options}, {})


def driver_drops(step: NearDedup, docs, state_dir: Path, delta_dir: Path) -> list:
    items = [(ref, step.key(SimpleNamespace(text=text, metadata={}))) for ref, text in docs]
    drops = list(step.reduce(items, state_dir))
    delta_dir.mkdir(parents=True)
    step.stage(delta_dir)
    step.commit(state_dir, delta_dir)
    return drops


def sharded_drops(
    step: NearDedup, docs, n_tasks: int, n_ranges: int, work_dir: Path, state_dir: Path, run_dir: Path
) -> list:
    pipeline = SimpleNamespace(global_steps=[step])
    work_dir.mkdir(parents=True)
    size = -(-len(docs) // n_tasks)
    for t in range(n_tasks):
        part = docs[t * size : (t + 1) * size]
        keys = [(step.key(SimpleNamespace(text=text, metadata={})),) for _ref, text in part]
        assert all(
            k == (None,) for k in sharded.write_map_files(pipeline, work_dir, t, [r for r, _ in part], keys)
        )
    engine = LocalEngine(1)
    reduced = sharded.reduce_sharded(
        step, sharded.ShardedWork(engine, work_dir, n_tasks, state_dir, n_ranges), {}
    )
    delta_dir = run_dir / "delta" / step.name
    delta_dir.mkdir(parents=True)
    sharded.stage_sharded(step, reduced, engine, work_dir, delta_dir, run_dir.name)
    sharded.commit_segments(state_dir, run_dir / "delta")
    return reduced.drops


@pytest.mark.parametrize("options", [{}, {"max_bucket": 1}, {"verify": "signature", "threshold": 0.7}])
def test_sharded_equals_in_process_over_two_runs(tmp_path: Path, options: dict):
    day1, day2 = documents(1, 24, 0), documents(2, 16, 1 << 32)
    day2 += [
        (DocRef((1 << 32) + 500 + i, f"again-{i}", ref.created), mutate(text, random.Random(i), 1))
        for i, (ref, text) in enumerate(day1[:25])
    ]  # copies of day 1's pages: matched in the index
    expected = []
    for day, docs in enumerate((day1, day2)):
        expected.append(
            driver_drops(
                make_step(**options), docs, tmp_path / "driver-state", tmp_path / f"driver-delta-{day}"
            )
        )
    assert sum(1 for d in expected[0]) > 10, "the corpus must have near copies"
    assert any("earlier run" in d.detail for d in expected[1]), "day 2 must match day 1's index"
    for n_tasks, n_ranges in ((1, 1), (5, 3)):
        state = tmp_path / f"state-{n_tasks}"
        got = [
            sharded_drops(
                make_step(**options),
                docs,
                n_tasks,
                n_ranges,
                tmp_path / f"w-{n_tasks}-{day}",
                state,
                tmp_path / f"runs-{n_tasks}" / f"run-{day}",
            )
            for day, docs in enumerate((day1, day2))
        ]
        assert got == expected, (n_tasks, n_ranges)
        segments = sorted(p.name for p in (state / "near_dedup" / "bands" / "segments").iterdir())
        assert segments == ["run-0", "run-1"]


def test_merge_reads_many_map_tasks_with_few_file_descriptors(tmp_path: Path):
    """A merge task reads from every map task: it must not keep each one's files open (memory maps
    hold descriptors; 3 per map task hit EMFILE at ~340 map tasks under `ulimit -n 1024`)."""
    resource = pytest.importorskip("resource", reason="POSIX only")
    docs = documents(6, 40, 0)  # one map task per document: 3 descriptors each would need > 250
    expected = driver_drops(make_step(), docs, tmp_path / "driver-state", tmp_path / "driver-delta")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(200, hard), hard))
    try:
        got = sharded_drops(
            make_step(), docs, len(docs), 2, tmp_path / "w", tmp_path / "state", tmp_path / "run-0"
        )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(docs) > 85 and got == expected


def test_commit_is_idempotent(tmp_path: Path):
    step = make_step()
    docs = documents(3, 10, 0)
    sharded_drops(step, docs, 2, 1, tmp_path / "w", tmp_path / "state", tmp_path / "runs" / "run-0")
    segment = tmp_path / "state" / "near_dedup" / "bands" / "segments" / "run-0"
    before = sorted(p.relative_to(segment) for p in segment.rglob("*"))
    sharded.commit_segments(tmp_path / "state", tmp_path / "runs" / "run-0" / "delta")  # applied again
    assert sorted(p.relative_to(segment) for p in segment.rglob("*")) == before


# --- run level ---------------------------------------------------------------------------


def write_pages(directory: Path, seed: int, n_bases: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, (_ref, text) in enumerate(documents(seed, n_bases, 0)):
        (directory / f"p{seed}-{i:03d}.txt").write_text(text, encoding="utf-8")


def outcome(output: Path) -> dict:
    """Kept ids, rejects (id, stage, reason, dup_of, detail) and counts of every finished run."""
    result = []
    for run in sorted((output / "runs").iterdir()):
        manifest = json.loads((run / "manifest.json").read_text())
        kept = sorted(
            json.loads(line)["id"] for s in manifest["shards"] for line in gzip.open(run / s["file"])
        )
        rejects = sorted(
            (r["id"], r["stage"], r["reason"], r.get("dup_of"), r["detail"])
            for s in manifest["rejects"]
            for r in map(json.loads, gzip.open(run / s["file"]))
        )
        result.append({"kept": kept, "rejects": rejects, "counts": manifest["counts"]})
    return result


@pytest.mark.slow
def test_run_sharded_equals_driver_and_resumes_merge_tasks(tmp_path: Path):
    day1, day2 = tmp_path / "day1", tmp_path / "day2"
    write_pages(day1, 4, 12)
    write_pages(day2, 5, 8)
    (day2 / "copy.txt").write_text(
        mutate((day1 / "p4-000.txt").read_text(encoding="utf-8"), random.Random(1), 1), encoding="utf-8"
    )
    config = small_config(tmp_path, task_size=7, workers=2)
    expected = tmp_path / "driver"
    for inputs in (day1, day2):
        assert run_cli(config, inputs, expected, "--dedup", "driver").returncode == 0
    near = [r for run in outcome(expected) for r in run["rejects"] if r[2] == "near_duplicate"]
    assert len(near) > 5 and any("earlier run" in r[4] for r in near)

    got = tmp_path / "sharded"
    assert run_cli(config, day1, got, "--dedup", "sharded", "--partitions", "3").returncode == 0
    killed = run_cli(config, day2, got, "--dedup", "sharded", env={"NEWSCLEAN_TEST_KILL_AT": "merge:4"})
    assert killed.returncode != 0
    resumed = run_cli(config, day2, got, "--dedup", "sharded")
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(got) == outcome(expected)
    last = json.loads((sorted((got / "runs").iterdir())[-1] / "manifest.json").read_text())
    assert last["recovery"]["resumed"] and last["dedup"] == "sharded"
    assert last["stages"]["near_dedup"]["counters"]["merge_tasks_resumed"] >= 4
    # the corpus keeps the mode its index was built with
    refused = run_cli(config, day2, got, "--dedup", "driver", "--reprocess")
    assert refused.returncode == 2 and "dedup: sharded" in refused.stderr


DEDUP_BENCH = SHARED / "bench" / "dedup" / "visible-10k.jsonl.gz"


@pytest.mark.slow
def test_jsonl_slice_same_corpus_for_any_dedup_path_partitions_and_workers(tmp_path: Path):
    """A 1,000-line JSONL cut of the dedup benchmark, read natively: `--dedup driver` in one task and
    one process gives the corpus `--dedup sharded` gives in 4 record-range tasks on 2 processes."""
    if not DEDUP_BENCH.exists():
        pytest.skip(f"{DEDUP_BENCH} not found (the shared benchmark data sits beside the repository)")
    inputs = tmp_path / "visible-1000.jsonl.gz"
    with gzip.open(DEDUP_BENCH, "rb") as src, gzip.open(inputs, "wb") as dst:
        for _, line in zip(range(1000), src):
            dst.write(line)
    config = small_config(tmp_path, task_size=2000, shard_size=50000)
    text = config.read_text(
        encoding="utf-8"
    )  # only the steps this corpus exercises: fast, engine-independent
    keep = ("decode", "normalize", "length_filter", "exact_dedup", "near_dedup")
    data = yaml.safe_load(text)
    data["steps"] = [s for s in data["steps"] if s["step"] in keep]
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    runs = {}
    for name, extra in (
        ("driver-1x1", ("--dedup", "driver", "--partitions", "1", "--workers", "1")),
        ("sharded-4x2", ("--dedup", "sharded", "--partitions", "4", "--workers", "2")),
    ):
        done = run_cli(config, inputs, tmp_path / name, *extra)
        assert done.returncode == 0, done.stderr
        runs[name] = outcome(tmp_path / name)
        manifest = json.loads(next((tmp_path / name / "runs").glob("*/manifest.json")).read_text())
        assert (
            manifest["tasks"] == (1 if name.startswith("driver") else 4)
            and manifest["dedup"] == name.split("-")[0]
        )
    assert runs["driver-1x1"] == runs["sharded-4x2"]
    (only,) = runs["driver-1x1"]
    assert only["counts"]["documents"] == 1000
    near = [r for r in only["rejects"] if r[2] == "near_duplicate"]
    assert len(near) > 20 and all(r[3].startswith("d") for r in near)
