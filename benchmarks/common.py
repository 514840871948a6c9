"""What the benchmark scripts share: where the shared benchmark data is, JSONL records, CPU time.

Scripts run as `python benchmarks/NAME.py` have benchmarks/ on sys.path (`import common`), and
newsclean is installed editable (`pip install -e .`), so `import pipeline` needs no path edit.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from types import ModuleType

from pipeline.corpus import read_jsonl

ROOT = Path(__file__).resolve().parents[1]  # the repository
# the shared benchmark data (corpora, gold, scorers) sits beside the repository; NEWSCLEAN_SHARED moves it
SHARED = Path(os.environ.get("NEWSCLEAN_SHARED") or ROOT.parent / "shared")


def shared_path(*parts: str) -> Path:
    """A path under the shared benchmark data, not checked (for defaults of options)."""
    return SHARED.joinpath(*parts)


def require(path: Path, what: str = "the shared benchmark data") -> Path:
    """`path` when it exists; else stop the script with one line saying what is missing and where."""
    if not Path(path).exists():
        sys.exit(
            f"{path}: not found ({what}: it sits beside the repository in {ROOT.parent / 'shared'}, "
            "or set NEWSCLEAN_SHARED to its folder)"
        )
    return Path(path)


def shared_module(*parts: str) -> ModuleType:
    """A module of the shared benchmark data (e.g. bench/dedup/shingling.py), loaded from its file."""
    path = require(shared_path(*parts))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # so that its own dataclasses and pickles find it
    spec.loader.exec_module(module)
    return module


def jsonl_records(path: Path, limit: int | None = None) -> Iterator[dict]:
    """The JSON objects of a .jsonl file (.gz and .zst too), blank lines skipped; the first `limit`."""
    return islice(read_jsonl(require(Path(path), "input")), limit)


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its children that have finished: on a
    shared machine the steadier figure, where wall time depends on the other jobs."""
    children = os.times()  # 10 ms ticks: process_time is the finer clock for this process
    return time.process_time() + children.children_user + children.children_system


class Timer:
    """Wall and CPU seconds of a block: `with Timer() as t: ...; t.wall, t.cpu`."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        self.wall = self.cpu = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = cpu_seconds() - self._cpu
