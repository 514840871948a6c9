"""The steps' preload (language model, compiled kernels) started while the plan still counts records.

A run loads its steps' large read-only data (`Step.preload`) in the parent before its workers fork, so
that they share the pages (runner._preload_shared). That loading (~0.5-0.8 s: numba's import and its
cached kernels, the language model) used to wait for the plan, whose count of a single large gzipped
input is one full inflate of it (~0.3 s per 100 MB), and both ran one after the other before the first
task. The inflate runs without the GIL, the loading mostly with it, so the two overlap in two threads.

The plan tells `counted` the documents it has counted so far (a lower bound of the run's). Once each
process is sure to handle `kernels.MIN_DOCS` of them, past which the shipped steps preload all they
have, the preload starts in a thread with that bound. Before the fork, `finish` waits for the thread
and calls each step's preload once more with the whole count: what is loaded is not loaded twice, and
a step deciding by a larger threshold decides as it would have with the whole count alone. Nothing
forks while the thread runs: the plan counts in this process when it starts it (a plan that counts
on the workers has closed their pool before it reports), and the map's pool starts after `finish`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from pipeline.kernels import MIN_DOCS


class Preload:
    """The preload of `steps` for `workers` processes, fed by the plan's progress (`counted`)."""

    def __init__(self, steps: Sequence, workers: int):
        self.steps = steps
        self.workers = max(1, workers)
        self.documents = 0  # counted so far by the plan; once it is done, the run's documents
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def counted(self, documents: int) -> None:
        """The plan's progress (`plan.plan_tasks`): `documents` counted so far."""
        self.documents = documents
        per_process = documents // self.workers
        if self._thread is None and per_process >= MIN_DOCS:
            self._thread = threading.Thread(
                target=self._load, args=(per_process,), name="newsclean-preload", daemon=True
            )
            self._thread.start()

    def _load(self, per_process: int) -> None:
        try:
            for step in self.steps:
                step.preload(per_process)
        except BaseException as exc:  # raised in the run's thread, by `finish`
            self._error = exc

    def finish(self) -> None:
        """Wait for the early preload (its error raised here), then preload for the whole count."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        for step in self.steps:
            step.preload(self.documents // self.workers)

    def close(self) -> None:
        """Wait for the early preload's thread to end (a run that fails before its map: the error
        that stops it is the one raised, not the preload's). `finish` already waited."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
