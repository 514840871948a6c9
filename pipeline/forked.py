"""One function run in a forked child process beside the run process, its result or error back.

The run's serial tail (filter, stage, report) runs in the driver while the other core is idle
(the workers are done); parts of it that need only what the driver holds already (the
stage needs the reduce's drops, not the filter's output) run in a child forked from it, which
shares its memory (copy-on-write), so nothing is pickled on the way in. `start` gives None where
the run cannot fork (no fork on the platform, Ray's threads in this process, fork refused for
lack of memory or processes): the caller then does the work in-process, the same work.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import traceback
from collections.abc import Callable
from typing import Any


class ChildDied(RuntimeError):
    """The child process ended without a result (killed: a signal, the OOM killer)."""


class Forked:
    """`fn(*args)` running in a forked child; `result()` waits for it."""

    def __init__(self, name: str, fn: Callable, args: tuple):
        context = mp.get_context("fork")
        self.name = name
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_in_child, args=(send, fn, args), name=name, daemon=True)
        try:
            self._process.start()
        except BaseException:  # no child: no pipe left open either
            self._receive.close()
            raise
        finally:
            send.close()  # the child's copy is the only one: its end (or death) is our EOF

    def result(self) -> Any:
        """fn's return value; the exception it raised, raised here (its type kept, so that the run
        exits with the same status as without the child); ChildDied when the child ended without
        either. The child is reaped in every case."""
        try:
            ok, value = self._receive.recv()
        except (EOFError, OSError):
            self._process.join()
            raise ChildDied(
                f"the {self.name} process ended without a result (exit code {self._process.exitcode})"
            ) from None
        except Exception as exc:  # its error did not unpickle (an exception class with other arguments)
            raise ChildDied(f"the {self.name} process failed; its error could not be read: {exc!r}") from None
        finally:
            self.close()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Stop and reap the child (finished or not)."""
        self._receive.close()
        if self._process.is_alive():
            self._process.kill()
        self._process.join()


def start(name: str, fn: Callable, *args) -> Forked | None:
    """`fn(*args)` in a forked child; None where the run cannot fork (the caller runs it itself)."""
    from pipeline.engine.local import forks_workers

    if not forks_workers():
        return None
    try:
        return Forked(name, fn, args)
    except OSError:  # fork refused (memory, process limit): the work is done in-process instead
        return None


def _in_child(send, fn: Callable, args: tuple) -> None:
    import signal

    from pipeline.engine.local import _init_child

    _init_child(None)  # dies with the run (even by SIGKILL), and on SIGTERM without a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the run stops it (Forked.close)
    try:
        outcome = (True, fn(*args))
    except BaseException as exc:
        outcome = (False, _with_child_traceback(exc))
    try:
        send.send(outcome)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:  # a value or error pickle refuses
        send.send((False, RuntimeError(f"{outcome[1]!r} (not picklable: {exc})")))
    finally:
        send.close()


def _with_child_traceback(exc: BaseException) -> BaseException:
    """The child's traceback does not travel with a pickled exception: kept as a note (3.11+)."""
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note("in a child process of the run:\n" + "".join(traceback.format_exception(exc)).rstrip())
    return exc
