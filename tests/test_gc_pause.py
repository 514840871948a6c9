"""The collector pause around work-file decoding: no collection inside, the collector's state
restored after (a leak here would leave a whole run without cycle collection)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from pipeline import gcpause, workfile


@pytest.fixture
def collections():
    """Count the collections that start while the test runs, with a threshold that makes every
    few allocations collect."""
    seen: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    old = gc.get_threshold()
    gc.set_threshold(10, 1, 1)
    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*old)


def test_paused_restores_the_collector_state():
    assert gc.isenabled()
    with gcpause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()  # disabled before: stays disabled
    finally:
        gc.enable()


def test_paused_reenables_after_an_exception():
    with pytest.raises(KeyError), gcpause.paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_decoding_a_work_file_runs_no_collection(collections):
    value = {"refs": [{"a": [i, str(i)], "b": (i,)} for i in range(2000)], "x": np.arange(5)}
    data = workfile.dumps(value)
    collections.clear()
    decoded = workfile.loads(data)
    n = len(collections)  # (read before the assertion allocates)
    assert n <= 1  # at most the one deferred to the end of the pause; ~1,300 without it
    assert gc.isenabled()
    assert decoded["refs"] == value["refs"] and decoded["x"].tolist() == [0, 1, 2, 3, 4]
    [x] = [{"k": i} for i in range(200)][:1]  # outside the decoding the collector runs again
    assert x == {"k": 0} and collections
