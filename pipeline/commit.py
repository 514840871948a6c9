"""The shared state's side of the commit protocol (`pipeline/runner.py` tells the whole of it).

At start-up, under the lock: the processed-inputs store is opened (a damaged one is rebuilt
from the manifests), applied runs are checked to be still there, finished runs that a kill
left unapplied are rolled forward, and every global step's index is made to describe the
corpus (`ensure_state`), or the run is refused. After a run's manifest: `apply_run`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline import gcpause, ids, sharded_run
from pipeline.corpus import MANIFEST, finished_runs, run_dirs
from pipeline.faults import checkpoint
from pipeline.registry import STEPS, step_class
from pipeline.s6_dedup import exact_sharded
from pipeline.s6_dedup.corpus_state import Digest, expected_digest
from pipeline.s7_write.atomic import write_atomic
from pipeline.state import STORE_FILE, InputStore, StateError, input_key
from pipeline.step import Drop

WORK_DIR = "_work"  # <run>/_work/: the map's and reduce's work files (pipeline/runner.py)
COPIES_FILE = "copies.json"  # in <run>/delta/: (dup_of, input key) of the duplicates the run dropped


@dataclass
class Recovery:
    """What a run found and repaired at startup (reported in its manifest)."""

    stale_lock: dict | None = None  # the lock record of a run that died
    rolled_forward: list[str] = field(default_factory=list)  # finished runs applied to the state now
    discarded: list[str] = field(default_factory=list)  # unfinished runs deleted
    resumed: str | None = None  # the unfinished run this run completes
    earlier_attempts_seconds: float = 0.0  # time the resumed run's killed attempts had spent (in `seconds`)
    rebuilt: list[str] = field(default_factory=list)  # state indexes rebuilt from the corpus, and why

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


def open_store(output: Path, recovery: Recovery) -> InputStore:
    """The processed-inputs store; a corrupt one is set aside (`inputs.sqlite.corrupt-<time>`) and
    rebuilt from the manifests of the finished runs, which list the inputs each one processed."""
    state_dir = output / "state"
    path = state_dir / STORE_FILE
    try:
        store = InputStore(state_dir)
        if store.check() == "ok":
            return store
        problem = f"{path} fails its integrity check"
        store.close()
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):  # in use, not damaged
            raise
        problem = f"{path} is unreadable ({exc})"
    aside = path.with_name(f"{STORE_FILE}.corrupt-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}")
    os.replace(path, aside)
    for suffix in ("-journal", "-wal", "-shm"):
        path.with_name(STORE_FILE + suffix).unlink(missing_ok=True)
    store = InputStore(state_dir)
    for run in finished_runs(output):  # in run order, as the runs' commits applied them
        apply_run_to_store(run.dir, run.manifest, store)
    recovery.rebuilt.append(f"inputs: {problem}; set aside as {aside.name}")
    return store


MANIFEST_COPIES = "manifests"  # OUTPUT/state/manifests/<run-id>.json: what an applied run committed


def apply_run(run_dir: Path, manifest: dict, state_dir: Path, store: InputStore, global_steps: list) -> None:
    """Apply a finished run to the state: global steps' deltas, then the processed inputs
    and the run's 'applied' mark in one transaction. Idempotent, so it can be redone."""
    with gcpause.paused():  # reads and writes plain rows: a full collection would walk the whole run's heap
        _apply_run(run_dir, manifest, state_dir, store, global_steps)


def _apply_run(run_dir: Path, manifest: dict, state_dir: Path, store: InputStore, global_steps: list) -> None:
    delta = run_dir / "delta"
    sharded_run.commit(state_dir, delta)
    # the id registry and each built-in step's index are files of their own, each committed in its own
    # idempotent transaction: side by side, in threads (SQLite and the fsyncs release the GIL), which
    # changes no state but the time (~0.28 s one after the other). A kill between them leaves some
    # applied and some not, as it did between two of them before; the run is marked applied (below)
    # only once all are, and the next start redoes the rest (`roll_forward`).
    built_in = [step for step in global_steps if _is_built_in(step)]
    with ThreadPoolExecutor(max_workers=2 + len(built_in), thread_name_prefix="newsclean-commit") as pool:
        # the run's work files (~200 MB per 30k documents, 0.1-0.3 s of I/O to unlink) are not needed
        # once the manifest exists: removed beside the commits (a kill leaves them to the next start)
        pool.submit(shutil.rmtree, run_dir / WORK_DIR, ignore_errors=True)
        jobs = [pool.submit(ids.commit, state_dir, delta)]
        for step in built_in:
            checkpoint("commit")
            jobs.append(pool.submit(step.commit, state_dir, delta / step.name))
        for job in jobs:  # the first error in this order; the pool waits for every transaction to end
            job.result()
    for step in global_steps:  # a step of one's own: one after the other, in this thread, as before
        if not _is_built_in(step):
            checkpoint("commit")
            step.commit(state_dir, delta / step.name)
    checkpoint("committed")
    copies = state_dir / MANIFEST_COPIES
    copies.mkdir(exist_ok=True)
    write_atomic(copies / f"{manifest['run_id']}.json", (run_dir / MANIFEST).read_bytes())
    apply_run_to_store(run_dir, manifest, store)


def _is_built_in(step) -> bool:
    """A step of this package, whose commit touches only its own state (a custom step's may not)."""
    return type(step).__module__.startswith("pipeline.")


def apply_run_to_store(run_dir: Path, manifest: dict, store: InputStore) -> None:
    """The processed-inputs part of a run's commit (also what rebuilds a lost store)."""
    entries = [
        {
            **entry,
            "key": entry.get("key") or input_key(entry["path"]),
            "input_path": entry.get("input_path") or Path(entry["path"]).name,
        }
        for entry in manifest.get("inputs", [])
    ]
    for entry in entries:  # recorded with an empty hash: the next run reads it again and supersedes this one
        if entry.get("changed_during_run") and entry.get("xxh3_128") is not None:
            entry["xxh3_128"] = ""
    copies_file = run_dir / "delta" / COPIES_FILE
    copies = [tuple(pair) for pair in orjson.loads(copies_file.read_bytes())] if copies_file.exists() else []
    parts = exact_sharded.iter_copies(run_dir / "delta")  # scale: the sharded exact dedup's copies
    store.apply_run(
        manifest["run_id"],
        entries,
        itertools.chain(copies, parts),
        [e["key"] for e in manifest.get("vanished_inputs", [])],
    )


def check_applied_runs(output: Path, store: InputStore) -> None:
    """Refuse to run over a corpus that lost an applied run: its inputs are recorded as processed
    and the dedup indexes hold its documents, so a run directory without its manifest must not be
    deleted as "unfinished", and a deleted one must not go unnoticed (its documents would be lost)."""
    for run_id in store.applied_runs():
        run_dir = output / "runs" / run_id
        copy = output / "state" / MANIFEST_COPIES / f"{run_id}.json"
        restore = f"; a copy is in {copy}" if copy.is_file() else ""
        if not run_dir.is_dir():
            raise StateError(
                f"applied run {run_id} is missing: {run_dir} is gone (restore it from a backup, "
                "or start a new corpus)"
            )
        if not (run_dir / MANIFEST).is_file():
            raise StateError(
                f"applied run {run_id} lost its manifest: {run_dir / MANIFEST} is missing "
                f"(restore it{restore}; `newsclean verify` then checks the run)"
            )


def roll_forward(output: Path, store: InputStore) -> list[str]:
    """Apply the finished runs that a kill stopped between their manifest and their commit."""
    applied = []
    for run_dir in run_dirs(output):
        if store.is_applied(run_dir.name) or not (run_dir / MANIFEST).exists():
            continue
        manifest = orjson.loads((run_dir / MANIFEST).read_bytes())
        if store.is_applied(manifest["run_id"]):
            continue
        apply_run(run_dir, manifest, output / "state", store, _global_steps_of(run_dir, manifest))
        applied.append(manifest["run_id"])
    return applied


def _global_steps_of(run_dir: Path, manifest: dict) -> list:
    """The global steps of a finished run, built from its own config, that staged a delta."""
    context = {"config_dir": str(Path(manifest.get("config_file", ".")).parent)}
    steps = []
    for item in manifest.get("config", {}).get("steps", []):
        name = item["step"]
        staged = name if name in STEPS else step_class(name).name  # a custom step (import path) stages
        if (run_dir / "delta" / staged).is_dir():  # under its own `name`
            steps.append(step_class(name)({k: v for k, v in item.items() if k != "step"}, context))
    return steps


# --- the state describes the corpus ------------------------------------------------------


def ensure_state(output: Path, global_steps: list, recovery: Recovery) -> Digest:
    """Before the map phase: every global step's index must describe the corpus (its digest, from
    the manifests); one that does not (missing, stale, corrupt) is rebuilt from the corpus, or
    the run is refused (StateError). Returns the corpus digest."""
    state_dir = output / "state"
    expected = expected_digest(output)
    for step in global_steps:
        problem = step.state_problem(state_dir, expected)
        if problem is None:
            continue
        try:
            step.rebuild(state_dir, output)
        except Exception as exc:  # e.g. unreadable shards: refuse rather than run on a wrong index
            raise StateError(
                f"{step.name}: {problem}; rebuilding it from the corpus failed: {type(exc).__name__}: {exc}"
            ) from None
        still = step.state_problem(state_dir, expected)
        if still is not None:
            raise StateError(
                f"{step.name}: {problem}; rebuilt from the corpus, it still does not match "
                f"({still}); run `newsclean verify {output}`"
            )
        recovery.rebuilt.append(f"{step.name}: {problem}")
    return expected


def ensure_id_registry(output: Path, recovery: Recovery) -> None:
    """Before the map phase: the id registry (pipeline/ids.py) missing or damaged while the corpus
    has runs is rebuilt from the corpus, so that collisions with earlier runs are still found."""
    state_dir = output / "state"
    problem = ids.registry_problem(state_dir, any((d / MANIFEST).is_file() for d in run_dirs(output)))
    if problem is None:
        return
    try:
        ids.rebuild(output, state_dir)
    except Exception as exc:  # e.g. an unreadable shard: refuse rather than miss collisions
        raise StateError(
            f"ids: {problem}; rebuilding it from the corpus failed: {type(exc).__name__}: {exc}"
        ) from None
    recovery.rebuilt.append(f"ids: {problem}")


def damage_checked(step, state_dir: Path, drops: Iterator[Drop]) -> Iterator[Drop]:
    """The step's drops; a damaged index found while reading it (too large for the start-up
    check) is set aside, and the run stops with a StateError: the next run rebuilds it."""
    try:
        yield from drops
    except sqlite3.DatabaseError as exc:
        path = step.state_file(state_dir)
        if path is None or not Path(path).exists():
            raise
        aside = Path(path).with_name(
            f"{Path(path).name}.corrupt-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}"
        )
        os.replace(path, aside)
        raise StateError(
            f"{step.name}: {path} is damaged ({exc}); set aside as {aside.name}, the next run "
            "rebuilds it from the corpus"
        ) from None
