"""The run's dedup and filter phases as tasks (`run.dedup: sharded`), for any engine.

The run path (`pipeline/runner.py`) calls these at its reduce, filter and stage
points when the run is sharded: near_dedup's reduce becomes merge tasks per (band, key range)
plus a resolution over the edge files (`pipeline/s6_dedup/sharded.py`); the
filter becomes one task per map task that reads the task's candidates and its
sorted remove list and writes the task's own kept and reject shards
(`part-<task>-NNNNN.jsonl.gz`, `rejects-<task>-NNNNN.jsonl.gz`). The id check and
exact dedup run as reduce tasks per hash range (`pipeline/s6_dedup/exact_sharded.py`),
whose drop files the filter tasks join.

`auto` picks the mode: the one a corpus's near-dup index was built with, else
sharded under the Ray engine and in-process under the local engine. Both modes
keep the same documents and give the same rejects; the two indexes differ on
disk, so a corpus stays with the mode that built its index.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from pipeline import workfile
from pipeline.config import ConfigError
from pipeline.engine import Engine
from pipeline.faults import checkpoint
from pipeline.keysfile import read_refs
from pipeline.plan import ORDER_BITS
from pipeline.s6_dedup import exact_sharded
from pipeline.s6_dedup.index import INDEX_FILE
from pipeline.s6_dedup.sharded import (
    ShardedReduce,
    ShardedWork,
    commit_segments,
    handles,
    index_root,
    reduce_sharded,
)
from pipeline.s6_dedup.sharded import stage_sharded as stage_segment
from pipeline.s7_write.atomic import write_atomic
from pipeline.s7_write.jsonl import ShardWriter
from pipeline.step import StepStats
from pipeline.tasks import Filtered, copy_rejects, filter_candidates, task_paths


def dedup_mode(setting: str, engine_name: str, steps: list, state_dir: Path) -> str:
    """`driver` or `sharded`; refuse a mode other than the one the corpus's near-dup index was built with."""
    near = [s for s in steps if handles(s) and s.options["persist"]]
    built = {}
    for step in near:
        if index_root(step, state_dir).is_dir():
            built[step.name] = "sharded"
        elif (step.index_dir(state_dir) / INDEX_FILE).exists():
            built[step.name] = "driver"
    if setting in ("driver", "sharded"):
        mode = setting
    else:
        mode = next(iter(built.values()), "sharded" if engine_name == "ray" else "driver")
    for name, kind in built.items():
        if kind != mode:
            raise ConfigError(
                f"run.dedup: this corpus's {name} index was built with dedup: {kind}; use "
                f"run.dedup: {kind} (or auto), or a new {name}.index_dir for dedup: {mode}"
            )
    return mode


def task_order_range(task) -> tuple[int, int]:
    """The task's [first, last] order keys (tasks cover disjoint, increasing stretches of the order)."""
    first, last = task.files[0], task.files[-1]
    start, stop = task.records if task.records else (0, 1 << ORDER_BITS)
    return (first.index << ORDER_BITS) | start, (last.index << ORDER_BITS) | (stop - 1)


# --- the filter: one task per map task ---------------------------------------------------


@dataclass
class FilterJob:
    index: int
    work_dir: str
    out_dir: str
    shard_size: int
    compression: str
    compresslevel: int


@workfile.plain
@dataclass
class FilterSummary(Filtered):
    index: int = 0
    digest: str = ""  # of the remove list it applied: a resumed run reuses it only for the same list
    shards: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)


def filter_paths(work_dir: Path, index: int) -> dict[str, Path]:
    stem = Path(work_dir) / f"task-{index:06d}"
    return {"remove": Path(f"{stem}.remove.pkl"), "done": Path(f"{stem}.filter-done.pkl")}


def filter_task(job: FilterJob) -> FilterSummary:
    """Copy the task's candidates to its shards minus its remove list; its rejects with the dedup ones."""
    work_dir = Path(job.work_dir)
    paths, mine = task_paths(work_dir, job.index), filter_paths(work_dir, job.index)
    remove_bytes = mine["remove"].read_bytes()
    digest = hashlib.sha256(remove_bytes).hexdigest()
    done = _finished_filter(mine["done"], digest, Path(job.out_dir))
    if done is not None:
        return done  # finished, and its shards not yet moved into the run directory
    remove = dict(workfile.loads(remove_bytes))  # order -> (stage, Drop)
    options = (job.shard_size, job.compression, job.compresslevel)
    kept = ShardWriter(Path(job.out_dir), f"part-{job.index:06d}", *options)
    rejects = ShardWriter(Path(job.out_dir), f"rejects-{job.index:06d}", *options)
    summary = FilterSummary(index=job.index, digest=digest)
    try:
        copy_rejects(paths, rejects)
        summary.add(filter_candidates(paths, remove, kept, rejects))
        summary.shards, summary.rejects = kept.close(), rejects.close()
    except BaseException:
        kept.abort()
        rejects.abort()
        raise
    write_atomic(mine["done"], workfile.dumps(summary))
    return summary


def _finished_filter(done_file: Path, digest: str, out_dir: Path) -> FilterSummary | None:
    """The summary of this filter task done before (a resumed run), for the same remove list."""
    if not done_file.exists():
        return None
    done = workfile.load(done_file)
    if done.digest == digest and all((out_dir / s["file"]).exists() for s in done.shards + done.rejects):
        return done
    return None


def write_remove_lists(tasks: list, work_dir: Path, drops: dict) -> None:
    """Each task's slice of the drops, sorted by order, for its filter task."""
    ordered = sorted(drops.items())
    position = 0
    for task in tasks:  # tasks are in input order, so the sorted drops split into consecutive slices
        first, last = task_order_range(task)
        while position < len(ordered) and ordered[position][0] < first:
            position += 1
        start = position
        while position < len(ordered) and ordered[position][0] <= last:
            position += 1
        write_atomic(filter_paths(work_dir, task.index)["remove"], workfile.dumps(ordered[start:position]))


def commit(state_dir: Path, delta_root: Path) -> None:
    """Apply the staged sharded index segments of a finished run (idempotent)."""
    commit_segments(Path(state_dir), Path(delta_root))


@dataclass
class ShardedPhases:
    """A sharded run's reduce (of the steps that `handles`), filter and stage, as tasks on its engine."""

    engine: Engine
    tasks: list  # the run's map tasks (pipeline/plan.py)
    work_dir: Path
    state_dir: Path
    n_ranges: int = 0  # run.dedup_ranges: key ranges of the merge tasks (0 = from the input size)

    def reduce(self, step, drops: dict | np.ndarray, stats: StepStats) -> ShardedReduce:
        """The step's reduce; the merge and resolve times go to the run's `stats` of it (its counters
        are in `step.stats`, as an in-process reduce's)."""
        work = ShardedWork(self.engine, self.work_dir, len(self.tasks), self.state_dir, self.n_ranges)
        found = reduce_sharded(step, work, drops)
        stats.counters.update(found.timing)  # seconds (the step's counters start without these)
        return found

    def filter(
        self, drops: dict, run_dir: Path, writer: tuple, exact=None
    ) -> tuple[Filtered, list[dict], list[dict]]:
        """Run the filter tasks (`writer`: shard size, compression, level), move their shards into
        the run directory; what they kept and dropped, and the kept and reject shards in task order.
        `exact`: the run's sharded id check and exact dedup (exact_sharded.ShardedExact), whose drop
        files the filter tasks join."""
        out_dir = self.work_dir / "out"
        out_dir.mkdir(exist_ok=True)
        write_remove_lists(self.tasks, self.work_dir, drops)
        jobs = (FilterJob(task.index, str(self.work_dir), str(out_dir), *writer) for task in self.tasks)
        task_fn = filter_task
        if exact is not None:  # scale: the sharded exact dedup's drops are joined in the tasks
            task_fn, jobs = exact_filter_jobs(exact, jobs, self.tasks)
        total, shards, rejects = Filtered(), [], []
        for summary in self.engine.map_ordered(task_fn, jobs):
            total.add(summary)
            shards += summary.shards
            rejects += summary.rejects
            checkpoint("filter")
        for shard in shards + rejects:
            os.replace(out_dir / shard["file"], Path(run_dir) / shard["file"])
        if exact is not None:
            exact.collect(out_dir, Path(run_dir) / "delta", self.tasks)
        return total, shards, rejects

    def stage(self, step, reduced: ShardedReduce, delta_dir: Path, run_id: str) -> None:
        """The run's segment of the step's cross-run index, staged in `delta_dir`."""
        stage_segment(step, reduced, self.engine, self.work_dir, delta_dir, run_id)


# --- the sharded exact dedup's filter side (pipeline/s6_dedup/exact_sharded.py holds its reduce) ---------------------------------------------------------------------


@dataclass
class ExactFilterJob:
    job: FilterJob
    first: int
    last: int
    stems: list
    exact_name: str
    chains: str
    inputs: str


def exact_filter_task(xjob: ExactFilterJob) -> FilterSummary:
    """Join the range drops of this task's stretch into its remove list, run the filter, then write
    the kept documents' content hashes and the (dup_of, input) pairs of the range drops."""
    job, work_dir = xjob.job, Path(xjob.job.work_dir)
    remove_path = filter_paths(work_dir, job.index)["remove"]
    remove = dict(workfile.load(remove_path))  # the driver's drops of this task (near dedup)
    chains = orjson.loads(Path(xjob.chains).read_bytes()) if xjob.chains else {}
    joined = {}
    for stem in xjob.stems:
        for order, (stage, drop) in exact_sharded.read_drops(stem, xjob.first, xjob.last, xjob.exact_name):
            joined[order] = (stage, exact_sharded._follow(drop, chains))
    remove.update(joined)
    write_atomic(remove_path, workfile.dumps(sorted(remove.items())))
    summary = filter_task(job)
    key_of = {int(k): v for k, v in orjson.loads(Path(xjob.inputs).read_bytes())["key_of"].items()}
    pairs = sorted(
        {(d.dup_of, key_of[o >> ORDER_BITS]) for o, (_s, d) in joined.items() if d.dup_of is not None}
    )
    write_atomic(Path(job.out_dir) / f"copies-{job.index:06d}.json", orjson.dumps(pairs))
    exact = np.load(exact_sharded.map_paths(work_dir, job.index)["exact.npy"])
    digest_of = {int(o): (int(h), int(lo)) for o, h, lo in zip(exact["order"], exact["hi"], exact["lo"])}
    refs = read_refs(task_paths(work_dir, job.index))
    lines = []
    for ref in refs:
        if ref.order not in remove and ref.order in digest_of:
            h, lo = digest_of[ref.order]
            lines.append(f"{h:016x}{lo:016x}\t{exact_sharded._escape(ref.id)}\n")
    write_atomic(
        Path(job.out_dir) / exact_sharded.HASHES_PART.format(job.index),
        "".join(sorted(lines)).encode("ascii"),
    )
    return summary


def exact_filter_jobs(xs: exact_sharded.ShardedExact, jobs, tasks):
    """Wrap the runner's filter jobs: (task function, jobs)."""
    by_index = {t.index: t for t in tasks}

    def wrapped():
        for job in jobs:
            first, last = task_order_range(by_index[job.index])
            yield ExactFilterJob(job, first, last, xs.stems, xs.exact_name, xs.chains, str(xs.inputs))

    return exact_filter_task, wrapped()
