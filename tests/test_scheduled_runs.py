"""Scheduled batch runs: kill at any point and rerun, incremental inputs, one writer, accounting.

A real `python -m pipeline run` is SIGKILLed at named points (pipeline/faults.py)
while it processes a second batch of pages into a corpus that already holds a
first one; the corpus and the state must then be as before that run (or, after
the manifest, as after it), and a rerun must give exactly the kept documents of
an uninterrupted run.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from corpus_helpers import EPOCH, ROOT, corpus_view, run_cli, small_config, store_rows, write_articles

from pipeline.commands.verify import verify


def manifests(output: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((output / "runs").glob("*/manifest.json"))]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """Batch A processed into `after_a`; batch B added to the inputs; `reference` = after_a + an
    uninterrupted run over B."""
    base = tmp_path_factory.mktemp("scheduled")
    config = small_config(base)
    inputs = base / "in"
    write_articles(inputs, range(0, 5), dup_of={3: 0})
    after_a = base / "after_a"
    assert run_cli(config, inputs, after_a).returncode == 0
    write_articles(inputs, range(5, 12), dup_of={9: 6, 11: 1})  # 11 repeats a page of the first batch
    reference = base / "reference"
    shutil.copytree(after_a, reference)
    done = run_cli(config, inputs, reference)
    assert done.returncode == 0, done.stderr
    return {
        "base": base,
        "config": config,
        "inputs": inputs,
        "after_a": after_a,
        "reference": reference,
        "view_a": corpus_view(after_a),
        "rows_a": store_rows(after_a),
        "view_ref": corpus_view(reference),
        "rows_ref": store_rows(reference),
    }


def test_reference_scenario_is_meaningful(scenario):
    assert len(scenario["view_a"]) == 4  # 5 pages, one exact duplicate
    assert (
        len(scenario["view_ref"]) == 9
    )  # + 7 pages, one duplicate inside the batch (the other is cross-run: see below)
    last = manifests(scenario["reference"])[-1]
    assert last["skipped_inputs"] == 5 and len(last["inputs"]) == 7
    assert last["tasks"] >= 3 and len(last["shards"]) >= 2  # several tasks and shards: kills land inside them


# (point, n-th time reached, killed after the manifest was written?)
KILL_POINTS = [
    ("task", 2, False),  # after two map tasks
    ("reduced", 1, False),  # after the dedup reduce
    ("kept", 2, False),  # while writing the first shard (temp file half written)
    ("kept", 4, False),  # first shard renamed into place, second half written
    ("staged", 1, False),  # global steps' deltas written, no manifest yet
    ("manifest", 1, True),  # manifest written, nothing committed to the state
    ("commit", 1, True),  # before the first dedup index commit
    ("index_commit", 1, True),  # inside the exact-dedup index transaction
    ("commit", 2, True),  # during the dedup index commits (side by side in threads: some applied, some not)
    ("state_apply", 1, True),  # inside the processed-inputs transaction
    ("committed", 1, True),  # global steps committed, processed inputs not yet
]


@pytest.mark.parametrize(
    "point, nth, after_manifest", KILL_POINTS, ids=[f"{p}:{n}" for p, n, _ in KILL_POINTS]
)
def test_kill_then_rerun_equals_uninterrupted_run(scenario, tmp_path, point, nth, after_manifest):
    out = tmp_path / "out"
    shutil.copytree(scenario["after_a"], out)
    killed = run_cli(
        scenario["config"], scenario["inputs"], out, env={"NEWSCLEAN_TEST_KILL_AT": f"{point}:{nth}"}
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    # right after the kill: the corpus is as before the run, or (once the manifest exists) as after it;
    # the processed-inputs store is unchanged either way (a finished run is applied by the next start)
    assert corpus_view(out) == (scenario["view_ref"] if after_manifest else scenario["view_a"])
    assert store_rows(out) == scenario["rows_a"]
    assert (out / "state" / "run.lock").exists()  # left behind by the killed run: stale

    rerun = run_cli(scenario["config"], scenario["inputs"], out)
    assert rerun.returncode == 0, rerun.stderr
    assert "stale lock" in rerun.stderr
    recovery = manifests(out)[-1]["recovery"]
    if after_manifest:  # the killed run is completed; nothing is new after it, so no run of its own
        assert f"completed the commit of run {manifests(out)[-1]['run_id']}" in rerun.stderr
        assert "nothing new" in rerun.stdout or rerun.stdout == ""
    else:
        assert recovery.get("resumed") or recovery.get("discarded")
    view = corpus_view(out)
    assert view == scenario["view_ref"]
    assert len({r["id"] for r in view}) == len(view)
    assert store_rows(out) == scenario["rows_ref"]
    assert not list((out / "runs").glob(".trash-*"))
    result = verify(out)
    assert result.problems == []
    if (point, nth) == ("manifest", 1):  # once is enough: a further run finds nothing left to do
        runs_before = len(manifests(out))
        again = run_cli(scenario["config"], scenario["inputs"], out)
        assert again.returncode == 0 and len(manifests(out)) == runs_before  # nothing new: no run
        assert corpus_view(out) == scenario["view_ref"]


@pytest.mark.slow
def test_killed_twice_then_completed(scenario, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(scenario["after_a"], out)
    for kill in ("task:1", "kept:1"):
        assert (
            run_cli(
                scenario["config"], scenario["inputs"], out, env={"NEWSCLEAN_TEST_KILL_AT": kill}
            ).returncode
            == -signal.SIGKILL
        )
    assert run_cli(scenario["config"], scenario["inputs"], out).returncode == 0
    assert corpus_view(out) == scenario["view_ref"]
    assert len([d for d in (out / "runs").iterdir()]) == len(list((scenario["reference"] / "runs").iterdir()))


def test_resumed_run_reuses_finished_map_tasks(scenario, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(scenario["after_a"], out)
    assert (
        run_cli(
            scenario["config"], scenario["inputs"], out, env={"NEWSCLEAN_TEST_KILL_AT": "task:2"}
        ).returncode
        == -signal.SIGKILL
    )
    unfinished = [d for d in (out / "runs").iterdir() if not (d / "manifest.json").exists()]
    assert len(unfinished) == 1 and len(list((unfinished[0] / "_work").glob("*.done"))) == 2
    assert run_cli(scenario["config"], scenario["inputs"], out).returncode == 0
    last = manifests(out)[-1]
    assert last["recovery"]["resumed"] == last["run_id"] == unfinished[0].name
    assert not (unfinished[0] / "_work").exists()


def test_unfinished_run_with_another_plan_is_discarded(scenario, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(scenario["after_a"], out)
    assert (
        run_cli(
            scenario["config"], scenario["inputs"], out, env={"NEWSCLEAN_TEST_KILL_AT": "task:1"}
        ).returncode
        == -signal.SIGKILL
    )
    rerun = run_cli(scenario["config"], scenario["inputs"], out, "--reprocess")  # another input selection
    assert rerun.returncode == 0, rerun.stderr
    assert "discarded unfinished run" in rerun.stderr
    assert all((d / "manifest.json").exists() for d in (out / "runs").iterdir())


# --- incremental runs -------------------------------------------------------------------


@pytest.mark.slow
def test_changed_input_is_processed_again_and_supersedes_its_old_records(tmp_path):
    config = small_config(tmp_path)
    inputs = tmp_path / "in"
    write_articles(inputs, range(4))
    out = tmp_path / "out"
    assert run_cli(config, inputs, out).returncode == 0
    assert run_cli(config, inputs, out).returncode == 0
    assert len(manifests(out)) == 1  # nothing new: no (empty) second run

    changed = inputs / "page-002.txt"
    changed.write_text(
        changed.read_text(encoding="utf-8").replace("Mã tin", "Mã tin đã sửa"), encoding="utf-8"
    )
    done = run_cli(config, inputs, out)
    assert done.returncode == 0
    last = manifests(out)[-1]
    assert [e["input_path"] for e in last["inputs"]] == ["page-002.txt"]
    assert last["skipped_inputs"] == 3
    first_run = manifests(out)[0]["run_id"]
    assert last["supersedes"] == [{"path": str(changed), "input_path": "page-002.txt", "run_id": first_run}]
    view = corpus_view(out)
    assert len(view) == 4 and len({r["id"] for r in view}) == 4
    assert "Mã tin đã sửa" in next(r["text"] for r in view if r["id"].startswith("page-002"))
    assert verify(out).problems == []


@pytest.mark.slow
def test_reprocess_processes_everything_and_doubles_nothing(tmp_path):
    config = small_config(tmp_path)
    inputs = tmp_path / "in"
    write_articles(inputs, range(4), dup_of={3: 0})
    out = tmp_path / "out"
    assert run_cli(config, inputs, out).returncode == 0
    before = corpus_view(out)
    assert run_cli(config, inputs, out, "--reprocess").returncode == 0
    last = manifests(out)[-1]
    assert last["reprocess"] is True and len(last["inputs"]) == 4 and len(last["supersedes"]) == 4
    assert corpus_view(out) == before  # the same records, now from the newer run only
    assert verify(out).problems == []


# --- one writer at a time --------------------------------------------------------------


def test_second_run_exits_at_once_while_one_is_running(tmp_path):
    config = small_config(tmp_path)
    inputs = tmp_path / "in"
    write_articles(inputs, range(4))
    out = tmp_path / "out"
    flag = tmp_path / "first-run-is-waiting"
    env = {
        "SOURCE_DATE_EPOCH": EPOCH,
        "NEWSCLEAN_TEST_WAIT_AT": "task",
        "NEWSCLEAN_TEST_WAIT_FILE": str(flag),
    }
    first = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"],
        cwd=ROOT,
        env={**__import__("os").environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline, "first run never reached the wait point"
            time.sleep(0.05)
        start = time.monotonic()
        second = run_cli(config, inputs, out)
        assert time.monotonic() - start < 15  # at once: no waiting for the lock
        assert second.returncode == 75
        message = second.stderr.strip()
        assert message.count("\n") == 0, message
        assert "cannot run" in message and f"pid {first.pid}" in message and "run.lock" in message
    finally:
        flag.unlink(missing_ok=True)
        first.wait(timeout=120)
    assert first.returncode == 0, first.stderr.read()
    assert len(manifests(out)) == 1 and not (out / "state" / "run.lock").exists()


def test_lock_held_in_process_is_refused(tmp_path, capsys):
    from pipeline.cli import main
    from pipeline.state import RunLock

    config = small_config(tmp_path)
    inputs = tmp_path / "in"
    write_articles(inputs, range(2))
    out = tmp_path / "out"
    (out / "state").mkdir(parents=True)
    with RunLock(out / "state" / "run.lock"):
        assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 75
    assert "held by pid" in capsys.readouterr().err
    assert not (out / "runs").exists() or not list((out / "runs").iterdir())
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0  # released


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    config = small_config(tmp_path)
    inputs = tmp_path / "in"
    write_articles(inputs, range(2))
    out = tmp_path / "out"
    (out / "state").mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    (out / "state" / "run.lock").write_text(json.dumps({"pid": pid, "host": "here", "started": "then"}))
    done = run_cli(config, inputs, out)
    assert done.returncode == 0, done.stderr
    assert f"took over a stale lock (pid {pid}" in done.stderr
    assert manifests(out)[-1]["recovery"]["stale_lock"]["pid"] == pid
    assert not (out / "state" / "run.lock").exists()


# --- accounting ----------------------------------------------------------------------------

from pipeline.step import Step  # noqa: E402


class LoseEverySecond(Step):
    """A broken step: it lets every second document of a task vanish, counted nowhere."""

    name = "lose_every_second"

    def run(self, docs):
        for n, doc in enumerate(docs):
            if n % 2 == 0:
                yield doc


def test_accounting_is_in_the_manifest(tmp_path):
    config = small_config(tmp_path)
    inputs = tmp_path / "in"
    write_articles(inputs, range(5), dup_of={4: 1})
    (inputs / "short.txt").write_text("Quá ngắn.\n", encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli(config, inputs, out).returncode == 0
    m = manifests(out)[-1]
    acc = m["accounting"]
    assert acc["documents"] == 6 == acc["kept"] + acc["dropped"] + acc["errors"]
    assert acc["kept"] == 4 and acc["dropped"] == 2
    assert acc["records_written"] == {"kept": 4, "rejects": 2}
    assert sum(m["counts"]["by_reason"].values()) == 2


def test_accounting_mismatch_fails_the_run_loudly_and_commits_nothing(tmp_path, monkeypatch, capsys):
    from pipeline import registry
    from pipeline.cli import main
    from pipeline.config import load_config
    from pipeline.runner import AccountingError, run_pipeline

    monkeypatch.setitem(registry.STEPS, "lose_every_second", f"{__name__}:LoseEverySecond")
    config_path = small_config(tmp_path)
    text = config_path.read_text(encoding="utf-8").replace(
        "  - step: normalize", "  - step: lose_every_second\n  - step: normalize"
    )
    config_path.write_text(text, encoding="utf-8")
    inputs = tmp_path / "in"
    write_articles(inputs, range(6))
    out = tmp_path / "out"
    with pytest.raises(AccountingError, match="accounting mismatch"):
        run_pipeline(load_config(config_path), [inputs], out, workers=1)
    assert manifests(out) == [] and store_rows(out) == []
    assert main(["run", "-c", str(config_path), "-i", str(inputs), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "run failed, nothing committed" in err and "documents read but" in err
    assert manifests(out) == [] and store_rows(out) == []
