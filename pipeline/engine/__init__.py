"""Engines run the same task functions (pipeline/tasks.py, pipeline/s6_dedup/sharded.py)
in different places: `local` inline or on a process pool, `ray` as Ray tasks on a
laptop or a cluster. An engine only schedules file-to-file tasks and hands back
their small summaries in submission order; no documents flow through it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from pipeline.engine.local import LocalEngine
from pipeline.engine.ray_engine import RayEngine  # imports ray (optional) only when one is made

ENGINES = ("local", "ray")


class Engine(Protocol):
    """What the run path needs of an engine."""

    name: str
    workers: int

    def map_ordered(
        self, fn: Callable, items: Iterable, initializer: Callable | None = None, initargs: tuple = ()
    ) -> Iterator: ...

    def close(self) -> None: ...


def make_engine(name: str, workers: int | None = None, address: str | None = None) -> Engine:
    """The engine called `name`; Ray is imported only when it is asked for (RayEngine())."""
    if name == "local":
        return LocalEngine(workers)
    if name == "ray":
        return RayEngine(address or None, workers)
    raise ValueError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
