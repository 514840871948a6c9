"""A per-document time limit, so that one pathological page cannot hang a run.

Extraction of some pages is quadratic (an element with 300k attributes took over 300 s in
trafilatura/lxml/htmldate), and a user regex can backtrack for ever. `run.doc_timeout`
bounds the time one document may spend in the per-document steps: each document's budget
(`Document.time_left`) is charged with each step's own time, so that waiting while the other
documents of its batch go through a step does not count; when a step runs past what is left,
the document becomes an error record `timeout` and the run goes on. A SIGALRM timer
(`setitimer`) interrupts Python code at once and C code (lxml) when it next returns to Python.
Where signals cannot be used (not the main thread, no SIGALRM) there is no limit.

Cost: the timer is armed lazily. Setting it around every step of every document took two
`setitimer` calls, ~3 µs per document per step. Instead `begin` notes which document runs and
since when, and touches the timer only when it would fire after that document's deadline (so
about once per batch: the first document's full budget covers the next ones'). A timer that
fires early, for a document still within its budget, re-arms itself for what that document has
left and lets it run on; one that fires between documents does nothing. `stop` cancels the
timer when a step's batch is done, so no alarm is left running outside the steps.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_limit = 0.0  # seconds per document in this process; 0 = no limit
_HAS_TIMER = hasattr(signal, "setitimer")
_clock = time.perf_counter  # the clock the budgets are charged with (the steps' own)
_RETRY = 0.05  # seconds between alarms once a document's time is up (see `_expired`)

# the document running under the limit (None between documents), when its step began, and when the
# timer fires (perf_counter time; inf when it is not running)
_running = None
_began = 0.0
_fires_at = math.inf


class DocTimeout(BaseException):
    """The document's time is up. A BaseException, so the `except Exception` of a library that
    keeps going after an error (trafilatura does) cannot swallow it."""


def set_doc_timeout(seconds: float) -> None:
    global _limit
    _limit = float(seconds or 0)


def doc_timeout() -> float:
    return _limit


def _usable() -> bool:
    return _HAS_TIMER and threading.current_thread() is threading.main_thread()


def _set_timer(seconds: float) -> None:
    global _fires_at
    signal.signal(signal.SIGALRM, _expired)  # ours whenever our timer runs
    signal.setitimer(signal.ITIMER_REAL, seconds)
    _fires_at = _clock() + seconds


def _expired(signum, frame) -> None:
    """The timer fired: stop the running document if its budget is spent, else re-arm for it."""
    global _fires_at, _running
    _fires_at = math.inf
    doc = _running
    if doc is None:  # between documents: the next `begin` arms the timer again
        return
    left = doc.time_left - (_clock() - _began)
    if left <= 1e-6:
        # Python swallows an exception raised where it cannot propagate (a gc callback, a __del__,
        # a library's bare `except BaseException`): fire again shortly until the step has taken the
        # document off (`end` clears `_running`, `stop` cancels the timer)
        _set_timer(_RETRY)
        raise DocTimeout()
    _set_timer(left)  # fired for an earlier document's deadline: this one has time left


def limited() -> bool:
    """Whether documents run under a time limit here (one set, and a timer this thread can use)."""
    return _limit > 0 and _usable()


def begin(doc, now: float) -> bool:
    """`doc` starts a step at `now` (perf_counter): make sure the timer fires by the end of its
    budget (a full one at its first step). False when there is no limit here. Raises DocTimeout
    when the budget is already spent."""
    if not limited():
        return False
    arm(doc, now)
    return True


def arm(doc, now: float) -> None:
    """`begin` where `limited()` is known to hold (asked once for a batch of documents)."""
    global _running, _began
    if doc.time_left is None:  # the document's first step
        doc.time_left = _limit
    if doc.time_left <= 0:
        raise DocTimeout()
    _running, _began = doc, now
    if now + doc.time_left < _fires_at:
        _set_timer(doc.time_left)


def end(doc, seconds: float) -> None:
    """`doc`'s step is over; its budget is charged the `seconds` the step took. The timer runs on
    (an alarm between documents does nothing; `stop` cancels it)."""
    global _running
    _running = None
    doc.time_left -= seconds


def stop() -> None:
    """Cancel the timer (a step's batch is done)."""
    global _running, _fires_at
    _running = None
    if _fires_at != math.inf:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _fires_at = math.inf


def _forgotten() -> None:
    """A forked child has no timer running (timers are not inherited) and no document yet."""
    global _running, _fires_at
    _running, _fires_at = None, math.inf


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forgotten)


@contextmanager
def time_limit(doc) -> Iterator[None]:
    """Run the body within what is left of `doc`'s budget (see `begin`)."""
    start = _clock()
    armed = begin(doc, start)
    try:
        yield
    finally:
        if armed:
            end(doc, _clock() - start)
            stop()
