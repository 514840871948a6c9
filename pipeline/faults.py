"""Test-only fault injection at named points of the run (kill-and-rerun tests).

    NEWSCLEAN_TEST_KILL_AT=point[:n]   SIGKILL this process the n-th time (default: first)
                                       `point` is reached
    NEWSCLEAN_TEST_WAIT_AT=point       at `point`, create NEWSCLEAN_TEST_WAIT_FILE and wait
                                       until it is removed (a run held open, e.g. for the lock test)

Without these variables a checkpoint costs one environment lookup. SIGKILL is
used, not an exception, because nothing may run after it: no `finally`, no
atexit, no flush, exactly as when the machine loses power or the OOM killer strikes.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

KILL_AT = "NEWSCLEAN_TEST_KILL_AT"
WAIT_AT = "NEWSCLEAN_TEST_WAIT_AT"
WAIT_FILE = "NEWSCLEAN_TEST_WAIT_FILE"

_reached: Counter = Counter()


def armed() -> bool:
    """Whether a test asked to kill or pause at a point (a loop may then skip its checkpoints)."""
    return bool(os.environ.get(KILL_AT) or os.environ.get(WAIT_AT))


def checkpoint(point: str) -> None:
    """A named point of the run where a test may kill or pause the process."""
    kill, wait = os.environ.get(KILL_AT), os.environ.get(WAIT_AT)
    if not kill and not wait:
        return
    _reached[point] += 1
    if kill:
        name, _, nth = kill.partition(":")
        if name == point and _reached[point] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)
    if wait == point and _reached[point] == 1:
        flag = Path(os.environ[WAIT_FILE])
        flag.write_text(str(os.getpid()))
        deadline = time.monotonic() + 120  # never hang a test suite for good
        while flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
