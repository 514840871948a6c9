"""Sharded exact dedup and id check (run.dedup: sharded, pipeline/s6_dedup/exact_sharded.py) keep
exactly what the driver path keeps, and survive kills at their commit points.

A JSONL corpus made to hit every rule over two runs: exact copies inside a run and of an
earlier run's documents, dated copies that win over earlier undated ones, ids reused with
another text (duplicate_id) and with the same text (the same document again: a chain onto
itself), near copies of exact originals (dup_of chains), and a changed input whose earlier
records are retired. Compared: kept ids, rejects (id, stage, reason, dup_of, detail), counts,
and the state (exact index rows and digest, id registry, copies in the inputs store).
"""

from __future__ import annotations

import gzip
import json
import random
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from corpus_helpers import ROOT, article, run_cli, small_config

from pipeline import ids
from pipeline.config import load_config
from pipeline.engine.local import LocalEngine
from pipeline.plan import list_inputs, plan_tasks, task_size_for
from pipeline.plan_count import count_records, plan
from pipeline.s6_dedup import exact_sharded as xs
from pipeline.s6_dedup.exact import _SCHEMA, ExactDedup
from pipeline.step import DocRef

# --- step level: the reduce tasks against the in-process reduce, for many cuts ------------------


def step_documents() -> list[tuple[DocRef, str]]:
    """Texts drawn from a few (whitespace variants: the same key), dates that tie and differ."""
    rng = random.Random(9)
    texts = [f"Văn bản số {i} về thời sự. " * 5 for i in range(40)]
    dates = [None, None, "2024-03-01", "2024-02-10", "2024-03-01T08:00:00+07:00"]
    return [
        (DocRef(i, f"d{i}", rng.choice(dates)), rng.choice(texts) + rng.choice(["", "  ", "\n"]))
        for i in range(300)
    ]


def write_cut(work: Path, items: list, n_tasks: int) -> list[int]:
    """The map side for `n_tasks` consecutive tasks of the items (one step, exact_dedup)."""
    work.mkdir()
    pipeline, size = SimpleNamespace(global_steps=[ExactDedup({}, {})]), -(-len(items) // n_tasks)
    for t in range(n_tasks):
        part = items[t * size : (t + 1) * size]
        refs, keys = [r for r, _k in part], [(k,) for _r, k in part]
        assert xs.write_map_parts(pipeline, work, t, refs, keys, [ids.text_hash(str(k)) for k in keys]) == [
            (None,)
        ] * len(part)
    return list(range(n_tasks))


def test_exact_reduce_tasks_equal_the_in_process_reduce_for_any_cut(tmp_path: Path):
    docs = step_documents()
    step = ExactDedup({}, {})
    items = [(ref, step.key(SimpleNamespace(text=text, metadata={}))) for ref, text in docs]
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "exact_dedup.sqlite") as db:  # an earlier run kept two of the texts
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO kept VALUES (?, ?)", [(items[0][1], "old-a"), (items[1][1], "old-b")])
    step.retired = frozenset({"old-b"})  # this run replaces old-b: its copies compete again
    expected = list(step.reduce(items, state))
    assert any("(an earlier run)" in d.detail for d in expected) and not any(
        "old-b" in d.detail for d in expected
    )
    assert len(expected) > 200
    none, retired = tmp_path / "none.npy", tmp_path / "retired.json"
    xs._save(none, np.zeros(0, np.int64))
    retired.write_text(json.dumps(["old-b"]))
    for n_tasks, n_ranges in ((1, 1), (7, 3), (300, 5)):
        work = tmp_path / f"w-{n_tasks}-{n_ranges}"
        tasks = write_cut(work, items, n_tasks)
        got = []
        for r in range(n_ranges):
            job = xs.ExactJob(r, n_ranges, str(work), tasks, str(state), str(none), str(retired))
            xs.exact_task(job)
            got += [drop for _o, (_s, drop) in xs.read_drops(str(job.stem), 0, 1 << 40, "exact_dedup")]
        assert sorted(got, key=lambda d: d.order) == expected, (n_tasks, n_ranges)


def test_id_reduce_tasks_equal_the_in_process_id_check_for_any_cut(tmp_path: Path):
    """Ids reused inside a file, across two files and against the registry (one id from an input
    this run reads again, which it owns), with the same or another text."""
    rng = random.Random(4)
    keys = {0: "in-0.jsonl", 1: "in-1.jsonl"}
    refs = []
    for i in range(240):
        f = i * 2 // 240
        doc_id = rng.choice([f"id{rng.randrange(60)}", "r-old", "r-owned"])
        refs.append((DocRef((f << 32) | i, doc_id), keys[f], rng.choice([1, 2, 3])))
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / ids.REGISTRY) as db:
        db.executescript(ids._SCHEMA)
        db.executemany(
            "INSERT INTO keys VALUES (?, ?)", [(ids._h("old.jsonl"), "old.jsonl"), (ids._h(keys[1]), keys[1])]
        )
        db.executemany(
            "INSERT INTO ids VALUES (?, ?, ?)",
            [(ids._h("r-old"), ids._h("old.jsonl"), 1), (ids._h("r-owned"), ids._h(keys[1]), 2)],
        )
    check = ids.IdCheck(state, list(keys.values()))
    expected = check.check(refs)
    check.close()
    assert len(expected) > 100 and {"an earlier run" in d.detail for d in expected} == {True, False}
    inputs = tmp_path / "inputs.json"
    inputs.write_text(
        json.dumps({"owned": list(keys.values()), "key_of": {str(k): v for k, v in keys.items()}})
    )
    for n_tasks, n_ranges in ((1, 1), (9, 4)):
        work = tmp_path / f"w-{n_tasks}-{n_ranges}"
        work.mkdir()
        size = -(-len(refs) // n_tasks)
        for t in range(n_tasks):
            part = refs[t * size : (t + 1) * size]
            xs.write_map_parts(
                SimpleNamespace(global_steps=[]),
                work,
                t,
                [r for r, _k, _t in part],
                [()] * len(part),
                [x for _r, _k, x in part],
            )
        got, rows = [], []
        for r in range(n_ranges):
            job = xs.IdJob(r, n_ranges, str(work), list(range(n_tasks)), str(state), str(inputs))
            xs.id_task(job)
            got += [drop for _o, (_s, drop) in xs.read_drops(str(job.stem), 0, 1 << 40, "exact_dedup")]
            rows += np.load(work / xs.IDS_PART.format(r)).tolist()
        assert sorted(got, key=lambda d: d.order) == expected, (n_tasks, n_ranges)
        assert sorted(rows) == sorted([i, k, t] for i, (k, t) in check.seen.items())  # the registry delta


def outcome(output: Path) -> list[dict]:
    result = []
    for run in sorted((output / "runs").iterdir()):
        manifest = json.loads((run / "manifest.json").read_text())
        kept = sorted(
            json.loads(line)["id"] for s in manifest["shards"] for line in gzip.open(run / s["file"])
        )
        rejects = sorted(
            (r["id"], r["stage"], r["reason"], r.get("dup_of"), re.sub(r"/\S*/in-\w+/", "IN/", r["detail"]))
            for s in manifest["rejects"]
            for r in map(json.loads, gzip.open(run / s["file"]))
        )
        result.append({"kept": kept, "rejects": rejects, "counts": manifest["counts"]})
    return result


def state(output: Path) -> dict:
    s = output / "state"
    with sqlite3.connect(s / "exact_dedup.sqlite") as db:
        exact = sorted(db.execute("SELECT hex(hash), id FROM kept")), list(db.execute("SELECT * FROM corpus"))
    with sqlite3.connect(s / "ids.sqlite") as db:  # input keys are paths: the folder's name left out
        rows = db.execute("SELECT ids.id, keys.path, ids.text FROM ids JOIN keys ON keys.key = ids.key")
        registry = sorted((i, Path(path).name, t) for i, path, t in rows)
    with sqlite3.connect(s / "inputs.sqlite") as db:
        copies = sorted({(dup_of, Path(key).name) for dup_of, key in db.execute("SELECT * FROM copies")})
    return {"exact": exact, "ids": registry, "copies": copies}


def record(doc_id: str, text: str, created: str | None = None) -> str:
    return json.dumps(
        {"id": doc_id, "text": text, **({"created": created} if created else {})}, ensure_ascii=False
    )


def day1(folder: Path) -> list[dict]:
    """Two files of articles, exact copies (some dated, which then win) and near copies."""
    rng = random.Random(5)
    folder.mkdir(parents=True, exist_ok=True)
    docs = []
    for f in range(2):
        lines = []
        for i in range(60):
            roll = rng.random()
            if docs and roll < 0.25:
                text = rng.choice(docs)["text"]
            elif docs and roll < 0.35:
                words = rng.choice(docs)["text"].split(" ")
                words[rng.randrange(len(words))] = "sửa"
                text = " ".join(words)
            else:
                text = article(f * 100 + i)
            created = rng.choice([None, None, "2024-03-01", "2024-02-10"])
            docs.append({"id": f"a{f}-{i}", "text": text})
            lines.append(record(f"a{f}-{i}", text, created))
        (folder / f"crawl-{f}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return docs


def day2(folder: Path, docs: list[dict]) -> None:
    """A new file with copies of day 1 (under new ids, reused ids with other/same text), and a
    near copy of an exact original; crawl-1 shortened (its records are retired)."""
    rng = random.Random(6)
    lines = []
    for i in range(40):
        old = rng.choice(docs)
        kind = i % 5
        if kind == 0:
            lines.append(record(f"b-{i}", old["text"]))  # copy of an earlier run's document
        elif kind == 1:
            lines.append(record(old["id"], old["text"] + " Thêm."))  # reused id, other text: collision
        elif kind == 2:
            lines.append(record(old["id"], old["text"]))  # the same document again
        elif kind == 3:
            lines.append(record(f"b-{i}", article(500 + i), "2023-01-01"))
        else:
            lines.append(record(f"b-{i}", article(500 + i - 1)))  # exact copy of the previous line, later
    base = article(900)
    lines += [
        record("c-orig", base),
        record("c-copy", base),
        record("c-near", base.replace("Mã tin", "Mã số tin"), "2020-01-01"),
    ]
    (folder / "crawl-9-day2.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    crawl1 = (folder / "crawl-1.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "crawl-1.jsonl").write_text("\n".join(crawl1[:45]) + "\n", encoding="utf-8")


def dedup_config(tmp: Path, **run_options) -> Path:
    config = small_config(tmp, task_size=17, shard_size=1000, **run_options)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    keep = ("decode", "normalize", "exact_dedup", "near_dedup")
    data["steps"] = [s for s in data["steps"] if s["step"] in keep]
    data["run"]["dedup_ranges"] = 3  # several reduce tasks of each kind, so kills land between them
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


def two_days(tmp: Path, config: Path, output: Path, *extra: str, env2: dict | None = None, between=None):
    """Run day 1 then day 2 into `output`; with env2, day 2 is first run with it (a kill), then
    `between(result)` is called, then day 2 runs again."""
    inputs = tmp / f"in-{output.name}"
    docs = day1(inputs)
    assert run_cli(config, inputs, output, *extra).returncode == 0
    day2(inputs, docs)
    if env2:
        between(run_cli(config, inputs, output, *extra, env=env2))
    done = run_cli(config, inputs, output, *extra)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def driver_corpus(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("driver")
    config = dedup_config(tmp)
    two_days(tmp, config, tmp / "driver", "--dedup", "driver", "--workers", "1")
    return tmp / "driver", config


def test_sharded_exact_equals_the_driver_path_over_two_runs(tmp_path: Path, driver_corpus):
    expected, _ = driver_corpus
    config = dedup_config(tmp_path, workers=2)
    two_days(tmp_path, config, tmp_path / "sharded", "--dedup", "sharded")
    got = outcome(tmp_path / "sharded")
    assert got == outcome(expected)
    assert state(tmp_path / "sharded") == state(expected)
    # every rule was exercised, so equality means something
    rejects = got[1]["rejects"]
    details = " | ".join(r[4] for r in rejects)
    assert {r[2] for r in rejects} == {"exact_duplicate", "near_duplicate", "duplicate_id"}
    assert "(an earlier run)" in details and "was dropped as a copy of" in details
    assert any(r[1] == "exact_dedup" and "earlier run" not in r[4] for r in rejects)
    manifests = [
        json.loads(p.read_text()) for p in sorted((tmp_path / "sharded" / "runs").glob("*/manifest.json"))
    ]
    assert manifests[1]["corpus_change"]["retired"]["documents"] > 0
    assert manifests[1]["stages"]["exact_dedup"]["counters"]["reduce_tasks"] == 3


def test_seeds_with_copies_same_corpus_both_paths(tmp_path: Path):
    """The seeds (default config) plus a folder holding copies of two of them: the same corpus."""
    inputs = tmp_path / "in"
    (inputs / "seeds").mkdir(parents=True)
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    for seed in seeds:
        (inputs / "seeds" / seed.name).write_bytes(seed.read_bytes())
    (inputs / "copies").mkdir()
    for seed in seeds[:2]:
        (inputs / "copies" / seed.name).write_bytes(seed.read_bytes())
    config = small_config(tmp_path, task_size=2, workers=2)
    runs = {}
    for mode in ("driver", "sharded"):
        assert run_cli(config, inputs, tmp_path / mode, "--dedup", mode).returncode == 0
        runs[mode] = outcome(tmp_path / mode)
    assert runs["driver"] == runs["sharded"]
    assert state(tmp_path / "driver") == state(tmp_path / "sharded")
    manifest = json.loads(next((tmp_path / "sharded" / "runs").glob("*/manifest.json")).read_text())
    assert manifest["stages"]["exact_dedup"]["counters"]["reduce_tasks"] == 1  # the sharded path ran
    assert sum(r[2] == "exact_duplicate" for r in runs["driver"][0]["rejects"]) == 2


def verify(output: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipeline", "verify", str(output)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("point", ["id_reduce:2", "exact_reduce:2", "filter:3", "index_commit"])
def test_kill_at_a_sharded_exact_commit_point_then_rerun(tmp_path: Path, driver_corpus, point: str):
    """Killed on day 2 at `point`: the state still matches the corpus (verify), and the rerun
    gives the corpus and the state of an uninterrupted run."""
    expected, _ = driver_corpus
    config = dedup_config(tmp_path, workers=2)
    out = tmp_path / "sharded"

    def killed(result) -> None:
        assert result.returncode == -9, result.stderr  # SIGKILL at the point: it was reached
        if point != "index_commit":  # before the manifest: the corpus and its state are day 1's
            assert verify(out).returncode == 0, verify(out).stdout

    two_days(
        tmp_path, config, out, "--dedup", "sharded", env2={"NEWSCLEAN_TEST_KILL_AT": point}, between=killed
    )
    assert verify(out).returncode == 0, verify(out).stdout
    assert outcome(out) == outcome(expected)
    assert state(out) == state(expected)


def test_the_plan_s_counting_pool_ends_as_a_finished_one(tmp_path: Path, monkeypatch):
    """The counts read to their end: the pool shuts down and waits for its thread. A pool left
    unfinished (zip stops one result short of the end) was stopped as a failed one: its workers
    killed, its manager thread still running while the run forks the map's workers."""
    from pipeline.engine import local

    inputs = tmp_path / "in"
    day1(inputs)
    stops = []
    real_stop = local._stop
    monkeypatch.setattr(
        local, "_stop", lambda pool, finished: (stops.append(finished), real_stop(pool, finished))
    )
    for partitions in (0, 4):  # the sizes (for --partitions), then the counts: each pool finished
        config = load_config(None, {"run.partitions": partitions, "run.task_size": 25})
        stops.clear()
        plan(list_inputs([inputs]), config, 2)
        assert stops == [True] * (2 if partitions else 1)


def test_parallel_record_counting_gives_the_serial_plan(tmp_path: Path):
    inputs = tmp_path / "in"
    docs = day1(inputs)
    (inputs / "more.jsonl").write_text(
        "\n".join(record(f"m{i}", d["text"]) for i, d in enumerate(docs)) + "\n"
    )
    files, read = list_inputs([inputs]), dict(load_config(None).read)
    counted = count_records(files, 25, read, LocalEngine(2))
    assert sorted(n for n, _marks in counted.values()) == [60, 60, 120]
    assert all(len(marks) == -(-n // 25) for n, marks in counted.values())  # seek marks every 25 records
    assert plan_tasks(files, 25, read, counted) == plan_tasks(files, 25, read)
    assert len(plan_tasks(files, 25, read, counted)) == 3 + 3 + 5
    for partitions in (0, 4):  # the runner's plan: counted by 2 workers, the serial one's tasks
        config = load_config(None, {"run.partitions": partitions, "run.task_size": 25})
        size, tasks, engine = plan(files, config, 2)
        serial = task_size_for(files, 4, read) if partitions else 25
        assert engine is not None and (size, tasks) == (serial, plan_tasks(files, serial, read))
