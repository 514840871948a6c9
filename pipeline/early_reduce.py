"""The reduce's reading done while the map runs, in a run with a pool of workers (driver dedup).

With workers, the driver only waits during the map; after it, the reduce read every map task's
keys back from the work files, step by step, while the other core was idle. Here, as each map
task's result arrives (in task order: the engine yields them in order), the driver reads that
task's keys file once: a step that can be fed (`reduce_fed`, near_dedup: its scratch files, a few
numbers a document in memory) gets the keys of every candidate, and steps with small keys
(`hold_keys`) keep them decoded in memory, up to HOLD_LIMIT documents (past it they are read back
after the map, as before). After the map only the resolution is left, over the same items in the
same order: the same drops for any number of workers. The id check stays after the map (0.03 s
per 30k documents; its table of ids would otherwise grow the driver while the models are loaded).
A run with one worker (the driver maps) keeps the whole reduce after the map (`runner.reduce_phase`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.keysfile import read_columns, read_keys, read_refs
from pipeline.step import DocRef
from pipeline.tasks import task_paths

# candidates whose small keys are held in memory, ~0.9 KB each with their refs: the driver's peak RSS
# is reached during the map, with the steps' models loaded (the 200k-document run's process tree is
# within ~50 MB of issue 16's 600 MB); past it a task's keys are read back after the map, so that the
# driver's peak does not grow with the run
HOLD_LIMIT = 10_000


def feeds(step) -> bool:
    """Whether the step takes its keys before the exclusions are known (near_dedup)."""
    return hasattr(step, "reduce_fed")


class EarlyReduce:
    """`add_task(index)` for each map task in turn; then the reduce takes, per step, each task's `keys`
    (held or read back) or, for a fed step, `docs_in` and the step's own `reduce_fed`."""

    def __init__(self, work_dir: Path, state_dir: Path, steps):
        self.work_dir, self.state_dir, self.steps = work_dir, state_dir, steps
        self.begun = False
        self.orders: list[np.ndarray] = []  # per task, its candidates' orders
        self.held: dict[int, tuple[list[DocRef], dict[int, list]]] = {}  # task -> (refs, position -> keys)
        self.n_held = 0

    @property
    def n_tasks(self) -> int:
        return len(self.orders)

    def begin(self) -> None:
        """The fed steps' scratch opened (once; also for a run without map tasks)."""
        if not self.begun:
            self.begun = True
            for step in self.steps:
                if feeds(step):
                    step.begin_feed(self.state_dir)

    def add_task(self, index: int, n_docs: int) -> None:
        """Map task `index` is done (tasks come in order; `n_docs` of its documents were read): its keys
        fed or held."""
        assert index == self.n_tasks, f"map task {index} came out of order (expected {self.n_tasks})"
        self.begin()
        hold = self.n_held + n_docs <= HOLD_LIMIT
        positions = [p for p, step in enumerate(self.steps) if feeds(step) or (hold and step.hold_keys)]
        refs, columns = read_columns(task_paths(self.work_dir, index), positions)
        held: dict[int, list] = {}
        for position, column in zip(positions, columns):
            step = self.steps[position]
            if feeds(step):
                step.feed(zip(refs, column))
            else:
                held[position] = column
        if held:
            self.held[index] = (refs, held)
            self.n_held += len(refs)
        self.orders.append(np.fromiter((ref.order for ref in refs), dtype=np.int64, count=len(refs)))

    def docs_in(self, excluded) -> int:
        """Candidates whose order is not in `excluded` (what a step's reduce takes in)."""
        orders = np.concatenate(self.orders) if self.orders else np.zeros(0, np.int64)
        if not excluded:
            return int(orders.size)
        gone = np.fromiter(excluded, dtype=np.int64, count=len(excluded))
        return int(np.count_nonzero(~np.isin(orders, gone)))

    def keys(self, index: int, position: int) -> tuple[list[DocRef], list]:
        """Map task `index`'s refs and the keys of the step at `position`: held (released as they are
        taken), else read back from the work files."""
        refs, columns = self.held.get(index, (None, {}))
        if refs is not None and position in columns:
            return refs, columns.pop(position)
        return read_keys(task_paths(self.work_dir, index), position)

    def refs(self, index: int) -> list[DocRef]:
        """Map task `index`'s candidates: held, or read back."""
        held = self.held.get(index)
        return held[0] if held is not None else read_refs(task_paths(self.work_dir, index))

    def close(self) -> None:
        self.held.clear()
