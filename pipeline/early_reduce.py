"""The reduce's reading done while the map runs, in a run with a pool of workers (driver dedup).

With workers, the driver only waits during the map; after it, the reduce read every map task's
keys back from the work files, step by step, while the other core was idle. Here, as each map
task's result arrives (in task order: the engine yields them in order), the driver reads that
task's files once: the id check runs over its candidates (in input order, as after the map), a
step that can be fed (`reduce_fed`, near_dedup: its scratch files) gets the keys of every
candidate, and steps with small keys (`hold_keys`) keep them decoded in memory, up to
HOLD_LIMIT documents (past it they are read back after the map, as before). After the map only
the resolution is left, over the same items in the same order: the same drops for any number
of workers. A run with one worker (the driver maps) keeps the reduce after the map
(`runner.reduce_phase`); this does not shorten it, only moves its work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipeline.ids import IdCheck
from pipeline.keysfile import read_columns, read_keys, read_refs, read_refs_and_text_hashes
from pipeline.plan import ORDER_BITS, InputFile
from pipeline.state import input_key
from pipeline.step import DocRef, Drop, StepStats
from pipeline.tasks import task_paths

# candidates whose small keys are held in memory (exact_dedup's and template_lines': a few hundred
# bytes each with their refs); beyond, a task's keys are read back after the map
HOLD_LIMIT = 200_000


def feeds(step) -> bool:
    """Whether the step takes its keys before the exclusions are known (near_dedup)."""
    return hasattr(step, "reduce_fed")


class EarlyReduce:
    """`add_task(index)` for each map task in turn; then the reduce takes `id_drops`, and per step
    `items` (held or read back) or, for a fed step, `docs_in` and its own `reduce_fed`."""

    def __init__(self, work_dir: Path, todo: list[InputFile], input_keys: list[str], state_dir: Path, steps):
        self.work_dir, self.state_dir, self.steps = work_dir, state_dir, steps
        self.key_of = {f.index: input_key(f.path) for f in todo}
        self.input_keys = input_keys
        self.id_check: IdCheck | None = None
        self.id_drops: list[Drop] = []
        self.orders: list[np.ndarray] = []  # per task, its candidates' orders
        self.held: dict[int, tuple[list[DocRef], dict[int, list]]] = {}  # task -> (refs, position -> keys)
        self.n_held = 0

    @property
    def n_tasks(self) -> int:
        return len(self.orders)

    def _begin(self) -> None:
        # here, not before the map: the pool's workers are forked by then (no SQLite handle to inherit)
        self.id_check = IdCheck(self.state_dir, self.input_keys)
        for step in self.steps:
            if feeds(step):
                step.begin_feed(self.state_dir)

    def add_task(self, index: int) -> None:
        """Map task `index` is done (tasks come in order): its candidates through the id check, its
        keys fed or held."""
        assert index == self.n_tasks, f"map task {index} came out of order (expected {self.n_tasks})"
        if self.id_check is None:
            self._begin()
        assert self.id_check is not None
        paths = task_paths(self.work_dir, index)
        refs, text_hashes = read_refs_and_text_hashes(paths)
        keys = (self.key_of[ref.order >> ORDER_BITS] for ref in refs)
        self.id_drops += self.id_check.check(zip(refs, keys, text_hashes))
        hold = self.n_held + len(refs) <= HOLD_LIMIT
        positions = [p for p, step in enumerate(self.steps) if feeds(step) or (hold and step.hold_keys)]
        held: dict[int, list] = {}
        columns = read_columns(paths, positions) if positions else []  # (no such step: no keys read)
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

    def finish_ids(self) -> tuple[IdCheck, list[Drop]]:
        """The id check (its registry closed) and its drops, in input order."""
        if self.id_check is None:  # no map task (a run that only retires records)
            self._begin()
        assert self.id_check is not None
        self.id_check.close()
        return self.id_check, self.id_drops

    def docs_in(self, excluded) -> int:
        """Candidates whose order is not in `excluded` (what a step's reduce takes in)."""
        orders = np.concatenate(self.orders) if self.orders else np.zeros(0, np.int64)
        if not excluded:
            return int(orders.size)
        gone = np.fromiter(excluded, dtype=np.int64, count=len(excluded))
        return int(np.count_nonzero(~np.isin(orders, gone)))

    def items(self, position: int, excluded, stats: StepStats) -> Iterator[tuple[DocRef, object]]:
        """(DocRef, key) of every candidate not excluded, in input order: held keys (released as
        they are taken), else read from the work files (`runner._global_items`)."""
        for index in range(self.n_tasks):
            refs, columns = self.held.get(index, (None, {}))
            if refs is not None and position in columns:
                keys = columns.pop(position)
            else:
                refs, keys = read_keys(task_paths(self.work_dir, index), position)
            for ref, key in zip(refs, keys):
                if ref.order not in excluded:
                    stats.docs_in += 1
                    yield ref, key

    def refs(self, index: int) -> list[DocRef]:
        """Map task `index`'s candidates: held, or read back."""
        held = self.held.get(index)
        return held[0] if held is not None else read_refs(task_paths(self.work_dir, index))

    def close(self) -> None:
        if self.id_check is not None:
            self.id_check.close()
        self.held.clear()
