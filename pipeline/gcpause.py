"""Pausing Python's cyclic garbage collector while building large acyclic structures.

Decoding a work file or staging a run's ids allocates tens of thousands of containers
(lists, dicts, tuples) that live on; each allocation counts toward the collector's
thresholds, so it runs its full passes over the whole heap (every object of the run) again
and again, and finds nothing: the new values hold no cycles, and refcounting frees them.
Measured on a 1-worker run of 30k documents: ~0.4 s CPU of full collections in the reduce
phase, all inside the keys files' decoding.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside the block (refcounting still frees what it drops); the
    collector's previous state is restored after it, even on an exception."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
