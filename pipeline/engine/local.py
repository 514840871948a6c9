"""The local engine: the task function inline (1 worker) or on a process pool.

Results come back in submission order, with a bounded number of tasks in flight,
so memory does not grow with the input and the output does not depend on the
number of workers.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def forks_workers() -> bool:
    """Whether the workers are forked from this process (and share its loaded pages): where the
    platform can fork, unless this process runs Ray. Ray's threads hold locks, and a child forked
    while one is held waits on it forever (seen in the test suite: a pool worker stuck in
    futex_wait after the Ray tests); then a fresh server process forks the workers."""
    ray = sys.modules.get("ray")
    ray_running = ray is not None and bool(getattr(ray, "is_initialized", lambda: False)())
    return "fork" in mp.get_all_start_methods() and not ray_running


def start_method() -> str:
    if forks_workers():
        return "fork"
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def map_ordered(
    fn: Callable,
    items: Iterable,
    workers: int,
    initializer: Callable | None = None,
    initargs: tuple = (),
    in_flight_per_worker: int = 2,
) -> Iterator:
    """Yield fn(item) for every item, in order."""
    if workers <= 1:
        if initializer:
            initializer(*initargs)
        for item in items:
            yield fn(item)
        return
    # concurrent.futures, not multiprocessing.Pool: a worker that dies (killed, out of memory) makes
    # its result raise BrokenProcessPool, where Pool waited forever for the lost task
    ctx = mp.get_context(start_method())
    gc.freeze()  # the parent's objects: a worker's garbage collector does not write into their pages
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_child, initargs=(initializer, *initargs)
    )
    finished = False
    try:
        pending: deque = deque()
        limit = workers * in_flight_per_worker
        for item in items:
            pending.append(pool.submit(fn, item))
            while len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        finished = True
    finally:
        _stop(pool, finished)
        gc.unfreeze()  # collectable again in this process


def _stop(pool: ProcessPoolExecutor, finished: bool) -> None:
    """Every task done: the workers exit. Stopped early (a task failed, the caller stopped reading):
    the queued tasks are dropped and the running ones killed, as Pool's terminate did, instead of
    waiting for them to finish (the executor has no public way to kill its workers before 3.14)."""
    if finished:
        pool.shutdown(wait=True)
        return
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        if process.is_alive():
            process.terminate()
    for process in workers:
        process.join(timeout=5)


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the run process dies (even by SIGKILL), instead of
    living on as an orphan that writes into a run being discarded."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        pass


def _init_child(initializer: Callable | None, *initargs) -> None:
    _die_with_parent()
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool stops its workers with SIGTERM: just die
    if initializer:
        initializer(*initargs)


class LocalEngine:
    """This machine: `workers` processes (inline for 1)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()

    def map_ordered(
        self, fn: Callable, items: Iterable, initializer: Callable | None = None, initargs: tuple = ()
    ) -> Iterator:
        return map_ordered(fn, items, self.workers, initializer, initargs)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
