"""Record counting for the plan, spread over the engine's workers instead of serial in the driver.

Files of many records (JSONL, WARC) are counted (and, where the reader can seek, indexed
every `task_size` records) before they are cut into tasks. One file is one counting job,
so a run over many large files plans in about (total / workers) of the serial time; the
counts are the same as the serial ones (`plan._count_and_index`), so the plan is too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.plan import (
    InputFile,
    TaskSpec,
    _count,
    _count_and_index,
    index_every,
    plan_tasks,
    task_size_for,
)
from pipeline.s1_read.inputs import reader_class
from pipeline.s1_read.jsonl import forget_resume_points
from pipeline.s1_read.reader import Progress


def to_count(files: list[InputFile]) -> list[InputFile]:
    """The files of many records that planning counts."""
    return [f for f in files if not f.error and _many_records(Path(f.path))]


def _many_records(path: Path) -> bool:
    cls = reader_class(path)
    return cls is not None and cls.many_records


def count_job(job: tuple) -> tuple:
    f, read_options, every = job
    return _count_and_index(f, read_options, every)


def count_records(files: list[InputFile], every: int, read_options: dict, engine) -> dict[int, tuple]:
    """{file index: (records, seek marks every `every` records)} of the files to count, counted by
    the engine's workers."""
    todo = to_count(files)
    jobs = ((f, read_options, every) for f in todo)
    return dict(zip((f.index for f in todo), _all_results(engine.map_ordered(count_job, jobs))))


def _all_results(results: Iterator) -> list:
    """The engine's results read to their end, so that its pool ends as a finished one (its workers
    exit, its thread is joined). zip would stop one short: the pool was then stopped as a failed
    one, its thread left running while the run forks its map workers."""
    return list(results)


def size_job(job: tuple) -> int | None:
    f, read_options = job
    return _count(f, read_options)


def plan(
    todo: list[InputFile], config, workers: int, split_tail: bool = False, progress: Progress | None = None
) -> tuple[int, list[TaskSpec], Any]:
    """(task size, tasks, the engine made to count or None): with two or more files to count, every
    count (for `--partitions`, then with the seek index) is a job on the engine; else serial, here.
    `split_tail`: the run's last tasks cut into pieces; `progress`: told the documents planned so
    far, the last time their total (plan.plan_tasks)."""
    from pipeline.engine import make_engine

    forget_resume_points()  # only this plan's counts are resumed from (s1_read/jsonl.py)
    engine, counted, sizes = None, {}, None
    if len(to_count(todo)) > 1:
        engine = make_engine(config.run["engine"], workers, config.run["address"])
    task_size = config.run["task_size"]
    if config.run["partitions"]:
        if engine is not None:
            files = to_count(todo)
            jobs = ((f, config.read) for f in files)
            sizes = dict(zip((f.index for f in files), _all_results(engine.map_ordered(size_job, jobs))))
        task_size = task_size_for(todo, config.run["partitions"], config.read, sizes)
    if engine is not None:
        counted = count_records(todo, index_every(task_size, split_tail), config.read, engine)
    return task_size, plan_tasks(todo, task_size, config.read, counted, split_tail, progress), engine
