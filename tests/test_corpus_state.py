"""The dedup state always matches the corpus (issue 18: C1, D1, C2, K2).

The exact and near indexes hold exactly the kept documents of applied runs: a
changed input, `--reprocess`, a removed record or a damaged index give the
corpus one fresh run over the final input folder gives.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_helpers import ROOT
from state_helpers import dedup_config, dup_of, run, text, view, write_jsonl

MODES = ["driver", "sharded"]


pytestmark = pytest.mark.usefixtures("no_report")  # tests/conftest.py


def fresh(config: Path, inputs: Path, tmp: Path, dedup: str) -> Path:
    out = tmp / "fresh"
    shutil.rmtree(out, ignore_errors=True)
    run(config, inputs, out, dedup)
    return out


def assert_same_corpus(output: Path, reference: Path) -> None:
    assert view(output) == view(reference)
    assert dup_of(output) == dup_of(reference)


@pytest.mark.parametrize("dedup", MODES)
def test_changed_input_and_reprocess_do_not_readmit_near_duplicates(tmp_path: Path, dedup: str):
    """C1: near_dedup's drops of the first run stay dropped when the file grows or is reprocessed."""
    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    records = [
        (f"a{b}v{v}", text(b, v)) for b in range(6) for v in range(3)
    ]  # 6 articles, 3 near-copies each
    write_jsonl(inputs / "g.jsonl", records)
    first = run(config, inputs, out, dedup)
    assert first["counts"]["by_reason"] == {"near_dedup:near_duplicate": 12}
    assert len(view(out)) == 6

    write_jsonl(inputs / "g.jsonl", records + [(f"a{b}v0", text(b)) for b in (6, 7)] + [("late", text(0, 5))])
    grown = run(config, inputs, out, dedup)
    assert_same_corpus(out, fresh(config, inputs, tmp_path, dedup))
    assert len(view(out)) == 8 and dup_of(out)["late"] == "a0v0"
    assert grown["supersedes"] and grown["corpus_change"]["after"]["documents"] == 8

    again = run(config, inputs, out, dedup, reprocess=True)
    assert again["counts"]["kept"] == 8
    assert_same_corpus(out, fresh(config, inputs, tmp_path, dedup))


@pytest.mark.parametrize("dedup", MODES)
def test_removed_record_leaves_the_indexes(tmp_path: Path, dedup: str):
    """D1: a record removed from a changed file no longer makes copies of it duplicates: a new
    exact copy, a new near copy and an old copy in an unchanged file are kept, as in a fresh run."""
    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    write_jsonl(inputs / "g.jsonl", [(f"g{b}", text(b)) for b in range(6)])
    write_jsonl(inputs / "old.jsonl", [("old5", text(5, 1))])  # a near copy of g5, dropped
    run(config, inputs, out, dedup)
    assert set(view(out)) == {f"g{b}" for b in range(6)}

    write_jsonl(inputs / "g.jsonl", [(f"g{b}", text(b)) for b in (0, 1, 2)])  # g3, g4, g5 removed
    write_jsonl(inputs / "h.jsonl", [("copy3", text(3)), ("near4", text(4, 2))])
    changed = run(config, inputs, out, dedup)
    assert set(view(out)) == {"g0", "g1", "g2", "copy3", "near4", "old5"}
    assert_same_corpus(out, fresh(config, inputs, tmp_path, dedup))
    assert changed["reconsidered_inputs"] == ["old.jsonl"]  # it held a copy of g5


def _index_paths(out: Path, dedup: str) -> dict[str, Path]:
    near = out / "state" / "near_dedup" / ("bands" if dedup == "sharded" else "index.sqlite")
    return {"exact_dedup": out / "state" / "exact_dedup.sqlite", "near_dedup": near}


def _remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


@pytest.mark.parametrize("dedup", MODES)
@pytest.mark.parametrize("damage", ["deleted", "stale"])
def test_missing_or_stale_index_is_rebuilt_before_the_map_phase(tmp_path: Path, dedup: str, damage: str):
    """C2: an index deleted, or restored from an older state, is rebuilt from the corpus; the
    copies of earlier runs' documents are still dropped."""
    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    write_jsonl(inputs / "a.jsonl", [(f"a{b}", text(b)) for b in range(4)])
    run(config, inputs, out, dedup)
    saved = tmp_path / "saved"
    shutil.copytree(out / "state", saved)
    write_jsonl(inputs / "b.jsonl", [(f"b{b}", text(b)) for b in range(4, 8)])
    run(config, inputs, out, dedup)
    for path in _index_paths(out, dedup).values():
        _remove(path)
        if damage == "stale":  # the state of before the second run
            copy = shutil.copytree if path.name == "bands" else shutil.copyfile
            copy(saved / path.relative_to(out / "state"), path)
    write_jsonl(inputs / "c.jsonl", [("c-exact", text(5)), ("c-near", text(6, 1)), ("c-new", text(9))])
    third = run(config, inputs, out, dedup)
    assert third["counts"]["by_reason"] == {"exact_dedup:exact_duplicate": 1, "near_dedup:near_duplicate": 1}
    assert_same_corpus(out, fresh(config, inputs, tmp_path, dedup))
    rebuilt = third["recovery"]["rebuilt"]
    assert [line.split(":")[0] for line in rebuilt] == ["exact_dedup", "near_dedup"]
    assert all(
        ("missing" if damage == "deleted" else "another state of the corpus") in line for line in rebuilt
    )
    assert run(config, inputs, out, dedup)["recovery"].get("rebuilt") is None  # and it matches from then on


def _cli(config: Path, inputs: Path, out: Path) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"},
    )


def test_corrupt_state_is_rebuilt_or_refused_in_one_line(tmp_path: Path):
    """K2: a corrupt index is rebuilt (exit 0); an index that cannot be rebuilt (a shard of the
    corpus is gone) is refused with one line and exit 65, before any run directory is made; never
    a traceback."""
    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    write_jsonl(inputs / "a.jsonl", [(f"a{b}", text(b)) for b in range(4)])
    run(config, inputs, out)
    (out / "state" / "exact_dedup.sqlite").write_bytes(b"this is not a database" * 100)
    write_jsonl(inputs / "b.jsonl", [("b-copy", text(1))])
    done = _cli(config, inputs, out)
    assert done.returncode == 0, done.stderr
    assert "rebuilt from the corpus: exact_dedup:" in done.stderr and "unreadable" in done.stderr
    last = json.loads(sorted((out / "runs").glob("*/manifest.json"))[-1].read_text())
    assert last["counts"]["by_reason"] == {"exact_dedup:exact_duplicate": 1}

    runs_before = sorted(p.name for p in (out / "runs").iterdir())
    first_run = out / "runs" / runs_before[0]
    for shard in first_run.glob("part-*"):
        shard.unlink()
    (out / "state" / "exact_dedup.sqlite").unlink()
    write_jsonl(inputs / "c.jsonl", [("c", text(7))])
    refused = _cli(config, inputs, out)
    assert refused.returncode == 65 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "exact_dedup" in refused.stderr
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs_before  # refused before the map phase


def test_corrupt_inputs_store_is_rebuilt_from_the_manifests(tmp_path: Path):
    """K2: a corrupt inputs.sqlite is set aside and rebuilt from the manifests: nothing is processed
    twice, nothing is skipped, and the corpus verifies."""
    from pipeline.commands.verify import verify

    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    write_jsonl(inputs / "a.jsonl", [(f"a{b}", text(b)) for b in range(4)])
    run(config, inputs, out)
    write_jsonl(inputs / "a.jsonl", [(f"a{b}", text(b)) for b in range(3)])  # changed: a3 removed
    run(config, inputs, out)
    (out / "state" / "inputs.sqlite").write_bytes(b"garbage" * 1000)
    write_jsonl(inputs / "b.jsonl", [("b-copy", text(1)), ("b-new", text(8))])
    third = run(config, inputs, out)
    assert [e["input_path"] for e in third["inputs"]] == ["b.jsonl"] and third["skipped_inputs"] == 1
    assert third["counts"]["by_reason"] == {"exact_dedup:exact_duplicate": 1}
    assert third["recovery"]["rebuilt"][0].startswith("inputs: ")
    assert list((out / "state").glob("inputs.sqlite.corrupt-*"))
    assert set(view(out)) == {"a0", "a1", "a2", "b-new"}
    assert verify(out).problems == []


# --- verify checks the state ------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A sound corpus of two runs (the second changes a file), and the state saved after the first."""
    import pipeline.report

    write_report = pipeline.report.write_report
    pipeline.report.write_report = lambda *args, **kwargs: None
    try:
        tmp = tmp_path_factory.mktemp("verify-state")
        config, inputs, out = dedup_config(tmp), tmp / "in", tmp / "out"
        write_jsonl(inputs / "a.jsonl", [(f"a{b}", text(b)) for b in range(5)] + [("a-near", text(1, 1))])
        run(config, inputs, out)
        shutil.copytree(out / "state", tmp / "state-after-first")
        write_jsonl(inputs / "a.jsonl", [(f"a{b}", text(b)) for b in range(4)])
        write_jsonl(inputs / "b.jsonl", [(f"b{b}", text(b)) for b in range(6, 9)])
        run(config, inputs, out)
    finally:
        pipeline.report.write_report = write_report
    return tmp


def _damaged(two_runs: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(two_runs / "out", out)
    return out


def _problems(out: Path) -> list[str]:
    from pipeline.commands.verify import verify

    return verify(out).problems


def test_verify_passes_a_sound_corpus_with_changed_inputs(two_runs):
    assert _problems(two_runs / "out") == []


@pytest.mark.parametrize(
    "fault, expected",
    [
        ("near index deleted", "near_dedup/index.sqlite: missing"),
        ("exact index of an older state", "exact_dedup.sqlite: describes another state of the corpus"),
        ("retired id left in the exact index", "holds 1 documents the corpus does not keep"),
        ("manifest of an applied run lost", "is applied but its directory or manifest.json is gone"),
        ("store input not in its run's manifest", "whose manifest does not list it"),
        ("near index corrupt", "near_dedup/index.sqlite: unreadable"),
    ],
)
def test_verify_fails_on_each_state_fault(two_runs, tmp_path: Path, fault: str, expected: str):
    import sqlite3

    out = _damaged(two_runs, tmp_path)
    state = out / "state"
    if fault == "near index deleted":
        (state / "near_dedup" / "index.sqlite").unlink()
    elif fault == "exact index of an older state":
        shutil.copyfile(two_runs / "state-after-first" / "exact_dedup.sqlite", state / "exact_dedup.sqlite")
    elif fault == "retired id left in the exact index":
        with sqlite3.connect(state / "exact_dedup.sqlite") as db:
            db.execute("INSERT INTO kept VALUES (?, ?)", (b"\x01" * 16, "a4"))  # a4 left the corpus
    elif fault == "near index corrupt":
        (state / "near_dedup" / "index.sqlite").write_bytes(b"not a database" * 500)
    elif fault == "manifest of an applied run lost":
        first = sorted((out / "runs").iterdir())[0]
        (first / "manifest.json").unlink()
    else:
        with sqlite3.connect(state / "inputs.sqlite") as db:
            run_id = db.execute("SELECT run_id FROM runs").fetchone()[0]
            db.execute("INSERT INTO inputs VALUES ('/nowhere/x.jsonl', 1, 'ab', ?, 'x.jsonl')", (run_id,))
    problems = _problems(out)
    assert any(expected in line for line in problems), problems


def test_verify_finds_near_duplicates_among_kept_documents(tmp_path: Path):
    """A corpus whose first run had no near_dedup keeps near-copies; once near_dedup is on (its index
    rebuilt from the corpus), verify names the pairs."""
    import yaml

    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    loaded["steps"] = [step for step in loaded["steps"] if step["step"] != "near_dedup"]
    without_near = config.with_name("no-near.yaml")
    without_near.write_text(yaml.safe_dump(loaded), encoding="utf-8")
    write_jsonl(inputs / "a.jsonl", [("x", text(3)), ("x-near", text(3, 2)), ("y", text(4))])
    run(without_near, inputs, out)
    write_jsonl(inputs / "b.jsonl", [("z", text(5))])
    assert run(config, inputs, out)["recovery"]["rebuilt"]
    problems = _problems(out)
    assert any(
        "'x-near' and 'x' are near-duplicates" in line or "'x' and 'x-near' are near-duplicates" in line
        for line in problems
    ), problems


@pytest.mark.parametrize("dedup", MODES)
def test_vanished_input_is_kept_or_retired_as_configured(tmp_path: Path, dedup: str):
    """run.vanished_inputs: keep (default) leaves a deleted file's documents in the corpus; retire takes
    them out of the corpus and the indexes, so a copy of one of them elsewhere is kept, as in a fresh run."""
    from pipeline.commands.verify import verify
    from pipeline.config import ConfigError, load_config

    inputs = tmp_path / "in"
    write_jsonl(inputs / "a.jsonl", [("a1", text(1)), ("a2", text(2))])
    write_jsonl(inputs / "b.jsonl", [("b3", text(3))])
    for policy in ("keep", "retire"):
        config, out = dedup_config(tmp_path, vanished_inputs=policy), tmp_path / f"out-{policy}"
        shutil.copytree(inputs, tmp_path / "crawl", dirs_exist_ok=True)
        (tmp_path / "crawl" / "b.jsonl").write_text((inputs / "b.jsonl").read_text())
        run(config, tmp_path / "crawl", out, dedup)
        (tmp_path / "crawl" / "a.jsonl").unlink()
        write_jsonl(tmp_path / "crawl" / "c.jsonl", [("c-copy1", text(1))])
        manifest = run(config, tmp_path / "crawl", out, dedup)
        if policy == "keep":
            assert set(view(out)) == {"a1", "a2", "b3"} and manifest["vanished_inputs"] == []
        else:
            assert set(view(out)) == {"b3", "c-copy1"}
            assert [e["input_path"] for e in manifest["vanished_inputs"]] == ["a.jsonl"]
        assert verify(out).problems == []
        shutil.rmtree(tmp_path / "crawl")
    with pytest.raises(ConfigError, match="vanished_inputs must be keep or retire"):
        load_config(dedup_config(tmp_path, vanished_inputs="forget"))


@pytest.mark.parametrize(
    "dedup, kill_at",
    [
        ("driver", "index_commit:1"),
        ("driver", "commit:2"),
        ("sharded", "segments_commit:1"),
        ("sharded", "commit:1"),
    ],
)
def test_killed_commit_of_a_changed_input_is_completed_by_the_next_run(
    tmp_path: Path, dedup: str, kill_at: str
):
    """A run that retires records, SIGKILLed inside its commit (some indexes updated, some not), is
    completed by the next run: the same corpus and state as an uninterrupted run, verify ok."""
    import os
    import signal

    from pipeline.commands.verify import verify

    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    write_jsonl(inputs / "g.jsonl", [(f"g{b}", text(b)) for b in range(5)] + [("g-near", text(2, 1))])
    run(config, inputs, out, dedup)
    write_jsonl(inputs / "g.jsonl", [(f"g{b}", text(b)) for b in (0, 1, 3, 4)] + [("g-near", text(2, 1))])
    write_jsonl(inputs / "h.jsonl", [("h-copy4", text(4))])

    def cli(*extra: str, env: dict | None = None):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline",
                "run",
                "-c",
                str(config),
                "-i",
                str(inputs),
                "-o",
                str(out),
                "-q",
                "--dedup",
                dedup,
                *extra,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **(env or {})},
        )

    killed = cli(env={"NEWSCLEAN_TEST_KILL_AT": kill_at})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = cli()
    assert done.returncode == 0, done.stderr
    assert "completed the commit of" in done.stderr and "rebuilt" not in done.stderr
    assert set(view(out)) == {"g0", "g1", "g-near", "g3", "g4"}  # g-near kept now that g2 is gone
    assert_same_corpus(out, fresh(config, inputs, tmp_path, dedup))
    assert verify(out).problems == []


@pytest.mark.parametrize("dedup", MODES)
def test_index_with_other_parameters_is_refused_before_the_map_phase(tmp_path: Path, dedup: str):
    import yaml

    from pipeline.config import ConfigError

    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    write_jsonl(inputs / "a.jsonl", [("a", text(1))])
    run(config, inputs, out, dedup)
    loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    for step in loaded["steps"]:
        if step["step"] == "near_dedup":
            step["num_perm"] = 64
    other = config.with_name("num-perm-64.yaml")
    other.write_text(yaml.safe_dump(loaded), encoding="utf-8")
    write_jsonl(inputs / "b.jsonl", [("b", text(2))])
    runs_before = sorted((out / "runs").iterdir())
    with pytest.raises(ConfigError, match="built with other parameters"):
        run(other, inputs, out, dedup)
    assert sorted((out / "runs").iterdir()) == runs_before


def test_refilter_leaves_the_dedup_state_describing_the_corpus(tmp_path: Path):
    """refilter drops documents from the corpus view; the indexes follow (rebuilt), so verify passes
    and a copy of a refiltered document is kept by the next run, as in the corpus it describes."""
    from pipeline.commands.refilter import refilter
    from pipeline.commands.verify import verify
    from pipeline.config import load_config

    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    long_one = text(3) + " " + text(53)  # 400 words: the refilter below drops it
    write_jsonl(inputs / "a.jsonl", [("a1", text(1)), ("a2", text(2)), ("a3-long", long_one)])
    run(config, inputs, out)
    strict = config.parent
    (strict / "short.yaml").write_text(
        f"stop_words: []\ncommon_bigrams: {ROOT}/config/quality/vi-bigrams.txt\n"
        "thresholds:\n  n_words: {max: 300}\n",
        encoding="utf-8",
    )
    (strict / "refilter.yaml").write_text(
        "steps:\n  - step: quality_filter\n    fallback: short.yaml\n"
        "  - step: exact_dedup\n  - step: near_dedup\n",
        encoding="utf-8",
    )
    manifest = refilter(load_config(strict / "refilter.yaml"), out)
    assert manifest["counts"]["dropped"] == 1 and set(view(out)) == {"a1", "a2"}
    assert verify(out).problems == []
    write_jsonl(inputs / "b.jsonl", [("b-copy", long_one), ("b-copy1", text(1))])
    after = run(config, inputs, out)
    assert after["recovery"].get("rebuilt") is None
    assert set(view(out)) == {"a1", "a2", "b-copy"}


def _damage_deep_inside(index: Path) -> None:
    """Grow the index past one page of rows and overwrite pages in its middle: its header and its
    corpus digest still read fine, lookups fail."""
    import random
    import sqlite3

    rng = random.Random(18)
    with sqlite3.connect(index) as db:
        db.executemany(
            "INSERT INTO kept VALUES (?, ?)", ((rng.randbytes(16), f"filler-{i}") for i in range(20000))
        )
    size = index.stat().st_size
    with open(index, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(rng.randbytes(size // 4))


@pytest.mark.parametrize("found", ["at start", "in reduce"])
def test_index_damaged_deep_inside_is_rebuilt_or_set_aside(tmp_path: Path, monkeypatch, found: str):
    """K2: damage past the header is found by the start-up integrity check (rebuilt, the run goes on),
    or, for an index too large for that check, in reduce: set aside, the run stops with a one-line
    StateError, and the next run rebuilds it and resumes the run's map tasks."""
    import pipeline.s6_dedup.exact as exact
    from pipeline.runner import StateError

    config, inputs, out = dedup_config(tmp_path), tmp_path / "in", tmp_path / "out"
    write_jsonl(inputs / "a.jsonl", [(f"a{b}", text(b)) for b in range(4)])
    run(config, inputs, out)
    _damage_deep_inside(out / "state" / "exact_dedup.sqlite")
    write_jsonl(inputs / "b.jsonl", [("b-copy", text(1)), ("b-new", text(7))])
    if found == "at start":
        manifest = run(config, inputs, out)
        assert "fails its integrity check" in manifest["recovery"]["rebuilt"][0]
    else:
        monkeypatch.setattr(exact, "QUICK_CHECK_BYTES", 0)
        with pytest.raises(StateError, match="is damaged .*set aside as exact_dedup.sqlite.corrupt-"):
            run(config, inputs, out)
        manifest = run(config, inputs, out)
        assert "missing" in manifest["recovery"]["rebuilt"][0] and manifest["recovery"]["resumed"]
    assert manifest["counts"]["by_reason"] == {"exact_dedup:exact_duplicate": 1}
    assert set(view(out)) == {"a0", "a1", "a2", "a3", "b-new"}
