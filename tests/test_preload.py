"""The steps' preload begun in a thread while the plan counts records (pipeline/preload.py)."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import orjson
import pytest

from pipeline import preload as preload_module
from pipeline.kernels import MIN_DOCS
from pipeline.plan import list_inputs, plan_tasks
from pipeline.preload import Preload

pytestmark = pytest.mark.unit

READ = {"max_bytes": 1 << 20, "jsonl_fields": {}}


class RecordingStep:
    """A step whose preload records the count it was given and the thread it ran in."""

    def __init__(self, fail: bool = False):
        self.calls: list[tuple[int, str]] = []
        self.fail = fail

    def preload(self, docs_per_process: int) -> None:
        self.calls.append((docs_per_process, threading.current_thread().name))
        if self.fail:
            raise ValueError("model file damaged")


def _records(path: Path, n: int, width: int = 300) -> None:
    lines = (orjson.dumps({"id": f"r{i}", "text": f"record {i} " + "x" * width}) for i in range(n))
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_the_plan_tells_the_documents_counted_so_far_and_cuts_the_same_tasks(tmp_path):
    _records(tmp_path / "a.jsonl.gz", 10_000)  # ~3 MB inflated: counted in several chunks
    (tmp_path / "b.txt").write_text("one page\n")
    (tmp_path / "c.jsonl").write_bytes(b"")  # an empty file of records: its one error record
    _records(tmp_path / "d.jsonl", 700)
    files = list_inputs([tmp_path])
    seen: list[int] = []
    for split_tail in (False, True):
        seen.clear()
        with_progress = plan_tasks(files, 2000, READ, split_tail=split_tail, progress=seen.append)
        assert with_progress == plan_tasks(files, 2000, READ, split_tail=split_tail)
        assert seen == sorted(seen) and seen[-1] == 10_000 + 1 + 1 + 700
        assert any(0 < n < 10_000 for n in seen)  # the big file's count as it goes, not only at its end
        assert {10_000, 10_001, 10_002} <= set(seen)  # then each file as it is planned


def test_the_preload_begins_in_a_thread_once_each_process_has_enough_documents():
    step = RecordingStep()
    preload = Preload([step], workers=2)
    preload.counted(MIN_DOCS)  # 1,000 a process: not yet
    assert step.calls == []
    preload.counted(2 * MIN_DOCS + 1)  # from here every process will have MIN_DOCS
    preload.counted(5 * MIN_DOCS)  # no second thread
    preload.finish()
    assert step.calls == [
        (MIN_DOCS, "newsclean-preload"),
        (5 * MIN_DOCS // 2, threading.current_thread().name),
    ]


def test_a_small_plan_preloads_only_at_the_end_with_its_whole_count():
    step = RecordingStep()
    preload = Preload([step], workers=1)
    for n in (3, 10, MIN_DOCS - 1):
        preload.counted(n)
    preload.finish()
    assert step.calls == [(MIN_DOCS - 1, threading.current_thread().name)]


def test_an_error_of_the_early_preload_is_raised_by_finish_and_dropped_by_close():
    preload = Preload([RecordingStep(fail=True)], workers=1)
    preload.counted(MIN_DOCS)
    with pytest.raises(ValueError, match="model file damaged"):
        preload.finish()
    failed = Preload([RecordingStep(fail=True)], workers=1)
    failed.counted(MIN_DOCS)
    failed.close()  # the run failed for another reason: that is the error it reports


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_preloading_early_writes_what_a_run_preloading_after_the_plan_writes(
    tmp_path, monkeypatch, workers
):
    from pipeline import Pipeline
    from pipeline.s5_filter import language

    calls: list[tuple[int, str]] = []
    original = language.LanguageFilter.preload

    def recorded(self, docs):
        calls.append((docs, threading.current_thread().name))
        original(self, docs)

    monkeypatch.setattr(language.LanguageFilter, "preload", recorded)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    _records(tmp_path / "in.jsonl.gz", 120, width=40)
    shards = {}
    for start_at in (10**9, 50):  # never early, then early (from 50 documents a process)
        monkeypatch.setattr(preload_module, "MIN_DOCS", start_at)
        calls.clear()
        out = tmp_path / f"out-{start_at}"
        Pipeline(workers=workers, progress="off").run(tmp_path / "in.jsonl.gz", out)
        shards[start_at] = sorted(p.read_bytes() for p in out.glob("runs/*/*.jsonl.gz"))
        last = (120 // workers, threading.current_thread().name)
        early = [(120 // workers, "newsclean-preload")] if 120 // workers >= start_at else []
        assert calls == [*early, last]
    assert shards[10**9] == shards[50] and shards[50]
