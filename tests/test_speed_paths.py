"""The fast paths of issue 16 give the same results as the plain ones."""

from __future__ import annotations

import signal

import pytest

from pipeline.document import Document
from pipeline.step import Step
from pipeline.timelimit import set_doc_timeout


class _Failing(Step):
    name = "failing"

    def process(self, doc):
        raise ValueError("bad page")


class _Slow(Step):
    name = "slow"

    def process(self, doc):
        while True:
            sum(range(1000))


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM timers on this platform")
def test_time_limit_timer_is_disarmed_after_each_step_and_still_stops_a_slow_one():
    set_doc_timeout(0.3)
    try:
        docs = [Document(id="a", text="x"), Document(id="b", text="y")]
        out = list(_Slow().run(_Failing().run(docs[:1])))
        assert out[0].drop_reason == "error"  # the first step's error, the second step passed it over
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        (slow,) = list(_Slow().run(docs[1:]))
        assert (slow.drop_reason, slow.drop_stage, slow.is_error) == ("timeout", "slow", True)
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        set_doc_timeout(0)
