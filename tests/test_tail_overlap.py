"""The run's tail beside the filter: the stage in a forked child (`runner.filter_and_stage`,
`pipeline/forked.py`) stages what the run stages in one process; its errors are the run's."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from report_helpers import SEEDS, make_inputs

from pipeline import forked
from pipeline.config import load_config
from pipeline.corpus import MANIFEST
from pipeline.runner import run_pipeline
from pipeline.s6_dedup.exact import ExactDedup

REAL_START = forked.start


@pytest.fixture(autouse=True)
def _reproducible(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # the same run ids in every output


def _run(inputs: Path, out: Path):
    config = load_config(None, {"run.workers": (1, "-w"), "run.progress": ("off", "--progress")})
    return run_pipeline(config, [inputs], out)


def _two_days(tmp: Path) -> list[Path]:
    """Day 1: make_inputs; day 2: other seeds, a copy of a day-1 page (an exact copy of an earlier
    run's document), the same page with a line changed (a near copy). The input folders."""
    day1 = make_inputs(tmp / "day1")
    day2 = tmp / "day2"
    day2.mkdir()
    for seed in SEEDS[3:6]:
        shutil.copy(seed, day2 / seed.name)
    shutil.copy(SEEDS[0], day2 / "again.txt")
    lines = SEEDS[1].read_text(encoding="utf-8").splitlines()
    (day2 / "edited.txt").write_text("\n".join(lines[:-1] + ["Một dòng khác ở cuối."]), encoding="utf-8")
    return [day1, day2]


def _run_days(days: list[Path], out: Path) -> list[Path]:
    for day in days:
        _run(day, out)
    return sorted((out / "runs").iterdir())


def _staged(run_dir: Path) -> dict[str, object]:
    """Every file of the run's delta; the near index's delta by its rows (its `applied` row is a
    fresh uuid each time)."""
    files: dict[str, object] = {}
    for path in sorted((run_dir / "delta").rglob("*")):
        if path.is_dir():
            continue
        name = str(path.relative_to(run_dir))
        if path.suffix == ".sqlite":
            with sqlite3.connect(path) as db:
                tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                files[name] = {
                    t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables if t != "applied"
                }
            db.close()
        else:
            files[name] = path.read_bytes()
    return files


def _starts(monkeypatch, fork_staging: bool) -> list:
    """Record the children `forked.start` gives; without `fork_staging`, the stage is refused one."""
    started: list = []

    def start(name, fn, *args):
        child = None if name == "staging" and not fork_staging else REAL_START(name, fn, *args)
        started.append((name, child))
        return child

    monkeypatch.setattr(forked, "start", start)
    return started


def test_the_stage_beside_the_filter_stages_what_one_process_stages(tmp_path, monkeypatch):
    """Two days (the second against the first's state): every delta file, the shards and the
    state are those of the stage run after the filter in the run process."""
    days = _two_days(tmp_path)
    started = _starts(monkeypatch, fork_staging=True)
    beside = _run_days(days, tmp_path / "a")
    assert [name for name, child in started if child is not None].count("staging") == 2
    _starts(monkeypatch, fork_staging=False)
    alone = _run_days(days, tmp_path / "b")
    assert [d.name for d in beside] == [d.name for d in alone]
    for one, other in zip(beside, alone):
        staged = _staged(one)
        assert {"delta/copies.json", "delta/corpus.json", "delta/exact_dedup/hashes.tsv"} <= set(staged)
        assert staged == _staged(other)
        assert (one / "part-00000.jsonl.gz").read_bytes() == (other / "part-00000.jsonl.gz").read_bytes()
    state = tmp_path / "a" / "state"
    indexes = [p for p in sorted(state.rglob("*.sqlite")) if p.name != "inputs.sqlite"]  # (its times differ)
    assert len(indexes) >= 3  # the id registry, exact and near dedup's indexes
    for path in indexes:
        twin = tmp_path / "b" / "state" / path.relative_to(state)
        with sqlite3.connect(path) as db, sqlite3.connect(twin) as db2:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                if table != "applied":
                    query = f"SELECT * FROM {table}"
                    assert sorted(db.execute(query)) == sorted(db2.execute(query)), (path, table)
        db.close()
        db2.close()


def _open_scratch_files() -> list[str]:
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the listing's own descriptor, closed already
            pass
    return [p for p in paths if "newsclean-near-dedup-" in p]


def test_the_run_process_keeps_no_scratch_of_a_stage_done_in_the_child(tmp_path, monkeypatch):
    """near_dedup's scratch files are staged from the child's copy; the run process lets its own
    go (staged_elsewhere) before it writes the manifest, as the stage in it does."""
    import pipeline.runner as runner

    seen: list[list[str]] = []
    real = runner.build_manifest

    def build_manifest(*args):
        seen.append(_open_scratch_files())
        return real(*args)

    monkeypatch.setattr(runner, "build_manifest", build_manifest)
    _run(make_inputs(tmp_path / "in"), tmp_path / "out")
    assert seen == [[]]
    assert list((tmp_path / "out" / "state" / "tmp").glob("*")) == []


def test_an_error_in_the_staging_child_is_the_runs_error(tmp_path, monkeypatch):
    """The child's exception is raised by the run, its type kept (a full disk stays an OSError:
    exit status 74), with the child's traceback; no manifest; the next run finishes the day."""

    def disk_full(self, delta_dir, dropped=frozenset()):
        raise OSError(errno.ENOSPC, "No space left on device", str(delta_dir))

    monkeypatch.setattr(ExactDedup, "stage", disk_full)  # in the child: forked after this
    inputs, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    with pytest.raises(OSError) as raised:
        _run(inputs, out)
    assert raised.value.errno == errno.ENOSPC and "exact_dedup" in raised.value.filename
    if sys.version_info >= (3, 11):
        notes = "".join(getattr(raised.value, "__notes__", []))
        assert "in a child process of the run" in notes and "disk_full" in notes
    (run_dir,) = (out / "runs").iterdir()
    assert not (run_dir / MANIFEST).exists()
    monkeypatch.undo()
    result = _run(inputs, out)
    assert result.manifest["recovery"]["resumed"] == run_dir.name
    assert (result.run_dir / "delta" / "exact_dedup" / "hashes.tsv").exists()


def test_a_staging_child_that_dies_fails_the_run_with_its_exit_code(tmp_path, monkeypatch):
    def dies(self, delta_dir, dropped=frozenset()):
        os._exit(3)

    monkeypatch.setattr(ExactDedup, "stage", dies)
    inputs, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    with pytest.raises(forked.ChildDied, match="staging process ended without a result .exit code 3"):
        _run(inputs, out)
    (run_dir,) = (out / "runs").iterdir()
    assert not (run_dir / MANIFEST).exists()


def test_a_refused_fork_stages_and_reports_in_the_run_process(tmp_path, monkeypatch):
    """No fork (no memory, process limit): the same run, every part of it in the run process."""
    import multiprocessing.process

    inputs = make_inputs(tmp_path / "in")
    normal = _run(inputs, tmp_path / "a")

    def refused(self):
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refused)
    alone = _run(inputs, tmp_path / "b")
    assert alone.manifest["shards"] == normal.manifest["shards"]
    assert _staged(alone.run_dir) == _staged(normal.run_dir)
    assert (alone.run_dir / "report.html").exists()


# --- pipeline/forked.py ------------------------------------------------------------------


def _double(x):
    return 2 * x


def _raise_oserror(path):
    raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)


class _Unpicklable(Exception):
    def __init__(self, a, b):  # pickle re-creates it with one argument: unpickling fails
        super().__init__(f"{a}/{b}")


def _raise_unpicklable():
    raise _Unpicklable(1, 2)


def _exit_4():
    os._exit(4)


@pytest.mark.unit
def test_forked_gives_the_childs_value_or_raises_its_error():
    assert forked.start("double", _double, 21).result() == 42
    with pytest.raises(FileNotFoundError) as raised:
        forked.start("open", _raise_oserror, "/no/such/file").result()
    assert raised.value.errno == errno.ENOENT and raised.value.filename == "/no/such/file"
    with pytest.raises(forked.ChildDied, match="exit code 4"):
        forked.start("exit", _exit_4).result()
    with pytest.raises(forked.ChildDied, match="could not be read"):
        forked.start("odd", _raise_unpicklable).result()


@pytest.mark.unit
def test_forked_is_none_where_the_fork_is_refused(monkeypatch):
    import multiprocessing.process

    def refused(self):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refused)
    assert forked.start("double", _double, 1) is None


@pytest.mark.unit
def test_a_forked_child_closed_unread_is_stopped_and_reaped():
    import time

    child = forked.start("sleep", time.sleep, 60)
    child.close()
    assert not child._process.is_alive() and child._process.exitcode is not None
