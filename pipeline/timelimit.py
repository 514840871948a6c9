"""A per-document time limit, so that one pathological page cannot hang a run.

Extraction of some pages is quadratic (an element with 300k attributes took over 300 s in
trafilatura/lxml/htmldate), and a user regex can backtrack for ever. `run.doc_timeout`
bounds the time one document may spend in the per-document steps: a SIGALRM timer
(`setitimer`) is armed around each step's work on the document with what is left of its
budget (`Document.time_left`, charged with each step's own time, so that waiting while the
other documents of its batch go through a step does not count); when it fires, the document becomes an error record `timeout` and the run goes on.
The timer interrupts Python code at once and C code (lxml) when it next returns to Python.
Where signals cannot be used (not the main thread, no SIGALRM) there is no limit.

Cost: the handler is installed once per document (at its first step), not around every
step, and stays installed; between steps only the timer is re-armed (one `setitimer`
call each way, ~1 µs against ~5.5 µs for swapping the handler at every step of every
document). The timer is always disarmed when a step's work ends, so an installed
handler with no timer running never fires.
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


def arm(doc) -> bool:
    """Start the timer with what is left of `doc`'s budget (a full one at its first step); False
    when there is no limit here. Raises DocTimeout when the budget is already spent."""
    if _limit <= 0 or not _usable():
        return False
    if doc.time_left is None:  # the document's first step: (re)install the handler for its steps
        doc.time_left = _limit
        signal.signal(signal.SIGALRM, _expired)
    if doc.time_left <= 0:
        raise DocTimeout()
    signal.setitimer(signal.ITIMER_REAL, doc.time_left)
    return True


def disarm(doc, seconds: float) -> None:
    """Stop the timer; the document's budget is charged the `seconds` its step took."""
    signal.setitimer(signal.ITIMER_REAL, 0)
    doc.time_left -= seconds


@contextmanager
def time_limit(doc) -> Iterator[None]:
    """Run the body within what is left of `doc`'s budget (see `arm`)."""
    armed = arm(doc)
    start = time.monotonic()
    try:
        yield
    finally:
        if armed:
            disarm(doc, time.monotonic() - start)
