"""The run's dedup and filter phases as tasks (`run.dedup: sharded`), for any engine.

The runner (`pipeline/runner.py`) calls these at its dispatch points when the
run is sharded: near_dedup's reduce becomes merge tasks per (band, key range)
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline import ids, workfile
from pipeline.faults import checkpoint
from pipeline.s6_dedup.corpus_state import Digest
from pipeline.s7_write.atomic import write_atomic
from pipeline.s7_write.jsonl import ShardWriter

MODES = ("auto", "driver", "sharded")


def dedup_mode(setting: str, engine_name: str, steps: list, state_dir: Path) -> str:
    """`driver` or `sharded`; refuse a mode other than the one the corpus's near-dup index was built with."""
    from pipeline.config import ConfigError
    from pipeline.s6_dedup.index import INDEX_FILE
    from pipeline.s6_dedup.sharded import handles, index_root

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
    from pipeline.plan import ORDER_BITS

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
class FilterSummary:
    index: int
    digest: str  # of the remove list it applied: a resumed run reuses it only for the same list
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # "stage:reason" -> documents
    kept_ids: object = None  # Digest of the kept documents' ids (s6_dedup/corpus_state.py)
    shards: list = field(default_factory=list)
    rejects: list = field(default_factory=list)


def filter_paths(work_dir: Path, index: int) -> dict[str, Path]:
    stem = Path(work_dir) / f"task-{index:06d}"
    return {"remove": Path(f"{stem}.remove.pkl"), "done": Path(f"{stem}.filter-done.pkl")}


def filter_task(job: FilterJob) -> FilterSummary:
    """Copy the task's candidates to its shards minus its remove list; its rejects with the dedup ones."""
    from pipeline.runner import _dedup_reject
    from pipeline.tasks import candidates_with_drops, task_paths

    work_dir = Path(job.work_dir)
    paths, mine = task_paths(work_dir, job.index), filter_paths(work_dir, job.index)
    remove_bytes = mine["remove"].read_bytes()
    digest = hashlib.sha256(remove_bytes).hexdigest()
    if mine["done"].exists():
        done = workfile.load(mine["done"])
        out_dir = Path(job.out_dir)
        if done.digest == digest and all((out_dir / s["file"]).exists() for s in done.shards + done.rejects):
            return done  # finished, and its shards not yet moved into the run directory
    remove = dict(workfile.loads(remove_bytes))  # order -> (stage, Drop)
    summary = FilterSummary(job.index, digest)
    options = (job.shard_size, job.compression, job.compresslevel)
    kept = ShardWriter(Path(job.out_dir), f"part-{job.index:06d}", *options)
    rejects = ShardWriter(Path(job.out_dir), f"rejects-{job.index:06d}", *options)
    kept_ids = []
    try:
        with open(paths["rejects"], "rb") as fh:
            for line in fh:
                rejects.write_line(line)
        for line, hit, doc_id in candidates_with_drops(paths, remove):
            if hit is None:
                kept.write_line(line)
                kept_ids.append(doc_id)
                summary.kept += 1
            else:
                stage, drop = hit
                rejects.write(_dedup_reject(orjson.loads(line), stage, drop))
                summary.dropped[f"{stage}:{drop.reason}"] += 1
        summary.shards, summary.rejects = kept.close(), rejects.close()
        summary.kept_ids = Digest.of(kept_ids)
    except BaseException:
        kept.abort()
        rejects.abort()
        raise
    write_atomic(mine["done"], workfile.dumps(summary))
    return summary


def filter_sharded(
    engine, tasks: list, work_dir: Path, run_dir: Path, drops: dict, run_options: dict, exact=None
) -> list[FilterSummary]:
    """Write each task's remove list, run the filter tasks, move their shards into the run directory."""
    work_dir, run_dir = Path(work_dir), Path(run_dir)
    out_dir = work_dir / "out"
    out_dir.mkdir(exist_ok=True)
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
    jobs = (
        FilterJob(
            task.index,
            str(work_dir),
            str(out_dir),
            run_options["shard_size"],
            run_options["compression"],
            run_options["compresslevel"],
        )
        for task in tasks
    )
    task_fn = filter_task
    if exact is not None:  # scale: the sharded exact dedup's drop files are joined in the tasks
        from pipeline.s6_dedup import exact_sharded

        task_fn, jobs = exact_sharded.filter_jobs(exact, jobs, tasks)
    summaries = []
    for summary in engine.map_ordered(task_fn, jobs):
        summaries.append(summary)
        checkpoint("filter")
    for summary in summaries:
        for shard in summary.shards + summary.rejects:
            os.replace(out_dir / shard["file"], run_dir / shard["file"])
    if exact is not None:
        exact.collect(out_dir, run_dir / "delta", tasks)
    return summaries


def commit(state_dir: Path, delta_root: Path) -> None:
    """Apply the staged sharded index segments of a finished run (idempotent)."""
    from pipeline.s6_dedup.sharded import commit_segments

    commit_segments(Path(state_dir), Path(delta_root))


def count_filtered(summaries: list[FilterSummary], outcome: Counter, reasons: Counter):
    """Add the filter tasks' figures to the run's counters, as the in-process filter counts them;
    returns the Digest of the kept documents."""
    kept = Digest()
    for summary in summaries:
        outcome["kept"] += summary.kept
        kept = kept + summary.kept_ids
        for reason, n in summary.dropped.items():
            outcome["errors" if reason == f"read:{ids.REASON}" else "dropped"] += n
            reasons[reason] += n
    return kept


def shard_lists(summaries: list[FilterSummary]) -> tuple[list[dict], list[dict]]:
    return [s for f in summaries for s in f.shards], [s for f in summaries for s in f.rejects]


def handles(step) -> bool:
    from pipeline.s6_dedup.sharded import handles as sharded_step

    return sharded_step(step)


def reduce_sharded(step, engine, work_dir: Path, n_tasks: int, drops, state_dir, n_ranges: int, stats):
    """The step's drops; its counters and the merge/resolve times go to the run's `stats` of the step."""
    from pipeline.s6_dedup.sharded import reduce_sharded as reduce

    found = reduce(step, engine, work_dir, n_tasks, drops, state_dir, n_ranges)
    stats.counters.update(step.stats.counters)
    for name, seconds in step.sharded_plan["timing"].items():
        stats.counters[name] = seconds
    return found


def stage(step, engine, work_dir: Path, delta_dir: Path, run_id: str) -> None:
    from pipeline.s6_dedup.sharded import stage_sharded

    stage_sharded(step, engine, work_dir, delta_dir, run_id)
