"""A per-document time limit, so that one pathological page cannot hang a run.

Extraction of some pages is quadratic (an element with 300k attributes took over 300 s in
trafilatura/lxml/htmldate), and a user regex can backtrack for ever. `run.doc_timeout`
bounds the time one document may spend in the per-document steps: a SIGALRM timer
(`setitimer`) is armed around each step's work on the document with what is left of its
budget; when it fires, the document becomes an error record `timeout` and the run goes on.
The timer interrupts Python code at once and C code (lxml) when it next returns to Python.
Where signals cannot be used (not the main thread, no SIGALRM) there is no limit.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_limit = 0.0  # seconds per document in this process; 0 = no limit


class DocTimeout(BaseException):
    """The document's time is up. A BaseException, so the `except Exception` of a library that
    keeps going after an error (trafilatura does) cannot swallow it."""


def set_doc_timeout(seconds: float) -> None:
    global _limit
    _limit = float(seconds or 0)


def doc_timeout() -> float:
    return _limit


def _usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _expired(signum, frame) -> None:
    raise DocTimeout()


@contextmanager
def time_limit(doc) -> Iterator[None]:
    """Run the body within what is left of `doc`'s budget (its deadline is set on first use)."""
    if _limit <= 0 or not _usable():
        yield
        return
    now = time.monotonic()
    if doc.deadline is None:
        doc.deadline = now + _limit
    remaining = doc.deadline - now
    if remaining <= 0:
        raise DocTimeout()
    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, remaining)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
