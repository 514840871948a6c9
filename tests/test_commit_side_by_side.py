"""The commit applies the id registry and the built-in steps' indexes side by side, in threads
(`commit._apply_run`): each in its own idempotent transaction, the run marked applied only once
all are. A step's failure leaves the run unapplied with the others' transactions ended, and the next
start completes it into the state an uninterrupted run leaves."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest
from corpus_helpers import run_cli, small_config, write_articles

from pipeline import commit, ids
from pipeline.s3_clean.template_lines import TemplateLines
from pipeline.s6_dedup.exact import ExactDedup
from pipeline.s6_dedup.near import NearDedup
from pipeline.state import InputStore

pytestmark = pytest.mark.e2e


def _state_rows(out: Path) -> dict:
    """Every table of every SQLite file under state/ (less the values that differ between two runs)."""
    rows = {}
    for path in sorted((out / "state").rglob("*.sqlite")):
        with closing(sqlite3.connect(path)) as db:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                if (path.name, table) in {("index.sqlite", "applied"), ("inputs.sqlite", "runs")}:
                    continue  # near's delta uuid; the time a run was applied
                rows[f"{path.relative_to(out)}:{table}"] = db.execute(f"SELECT * FROM {table}").fetchall()
    counts = out / "state" / "template_lines" / "counts.bin"
    rows["counts.bin"] = counts.read_bytes() if counts.exists() else None
    return rows


@pytest.fixture(scope="module")
def killed_at_manifest(tmp_path_factory) -> dict:
    """A corpus whose second run was killed after its manifest (nothing applied), and the state the
    same two runs leave uninterrupted."""
    tmp = tmp_path_factory.mktemp("commit")
    config, inputs = small_config(tmp), tmp / "in"
    write_articles(inputs, range(4))
    base = tmp / "base"
    assert run_cli(config, inputs, base).returncode == 0
    write_articles(inputs, range(4, 9), dup_of={8: 1})
    reference = tmp / "reference"
    shutil.copytree(base, reference)
    assert run_cli(config, inputs, reference).returncode == 0
    killed = tmp / "killed"
    shutil.copytree(base, killed)
    assert run_cli(config, inputs, killed, env={"NEWSCLEAN_TEST_KILL_AT": "manifest"}).returncode == -9
    (killed / "state" / "run.lock").unlink()
    return {"killed": killed, "reference": _state_rows(reference)}


def _roll_forward(out: Path) -> list[str]:
    with InputStore(out / "state") as store:
        return commit.roll_forward(out, store)


def test_the_indexes_are_committed_side_by_side(killed_at_manifest, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(killed_at_manifest["killed"], out)
    commits = {"ids": ids.commit, "exact": ExactDedup.commit, "near": NearDedup.commit}
    together = threading.Barrier(len(commits), timeout=5)  # broken unless all three are in it at once

    def waiting(fn):
        def wrapped(*args):
            together.wait()
            return fn(*args)

        return wrapped

    monkeypatch.setattr(ids, "commit", waiting(commits["ids"]))
    monkeypatch.setattr(ExactDedup, "commit", waiting(commits["exact"]))
    monkeypatch.setattr(NearDedup, "commit", waiting(commits["near"]))
    (work,) = (out / "runs").glob("*/_work")  # the kill came before the run removed its work files
    assert len(_roll_forward(out)) == 1
    assert _state_rows(out) == killed_at_manifest["reference"]
    assert not work.exists()  # removed beside the commits


def test_a_failed_index_commit_leaves_the_run_unapplied_and_the_next_start_completes_it(
    killed_at_manifest, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    shutil.copytree(killed_at_manifest["killed"], out)
    ended = []

    def full_disk(self, state_dir, delta_dir):
        raise OSError(28, "No space left on device")

    def slow_template(self, state_dir, delta_dir, commit_table=TemplateLines.commit):
        threading.Event().wait(0.3)  # still running when the exact index's commit has failed
        commit_table(self, state_dir, delta_dir)
        ended.append("template_lines")

    with InputStore(out / "state") as store:
        before = store.applied_runs()  # the first run's
    monkeypatch.setattr(ExactDedup, "commit", full_disk)
    monkeypatch.setattr(TemplateLines, "commit", slow_template)
    with pytest.raises(OSError, match="No space left"):
        _roll_forward(out)
    assert ended == ["template_lines"]  # the error went up once the other commits had ended
    with InputStore(out / "state") as store:
        assert store.applied_runs() == before  # not marked applied
    monkeypatch.undo()
    applied = _roll_forward(out)
    assert len(before) == 1 and len(applied) == 1 and applied[0] not in before
    assert _state_rows(out) == killed_at_manifest["reference"]
