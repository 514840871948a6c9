"""Before the map: the plan's record count (ISA-L's inflate where installed) and the steps' preload
begun in a thread while the plan counts (pipeline/preload.py)."""

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


def _damaged_gzips(data: bytes) -> dict[str, bytes]:
    whole = gzip.compress(data)
    return {
        "whole": whole,
        "two members": whole + gzip.compress(b'{"text": "more"}\n'),
        "zero padding": whole + bytes(64),
        "truncated": whole[: len(whole) // 2],
        "no trailer": whole[:-3],
        "bad crc": whole[:-8] + bytes(4) + whole[-4:],
        "trailing garbage": whole + b"xx",
        "header only": whole[:10],
    }


def _count_or_error(path: Path, every: int) -> tuple | str:
    from pipeline.s1_read.jsonl import index_jsonl_records

    try:
        return index_jsonl_records(path, READ, every)
    except Exception:  # the plan then treats the file as unreadable (plan._count_and_index)
        return "raises"


def test_the_count_of_a_damaged_gzip_raises_and_of_a_whole_one_counts(tmp_path):
    lines = b"".join(orjson.dumps({"text": f"record {i} " + "y" * (i % 700)}) + b"\n" for i in range(6000))
    for name, data in _damaged_gzips(lines).items():
        path = tmp_path / f"{name.replace(' ', '-')}.jsonl.gz"
        path.write_bytes(data)
        counted = _count_or_error(path, 250)
        assert (counted == "raises") == (name not in ("whole", "two members", "zero padding")), name
        if counted != "raises":
            assert counted[0] == 6000 + (name == "two members"), name


_TEXT_RUN = """
import sys
from pathlib import Path
from pipeline import Pipeline
Pipeline(workers=1, progress="off").run(Path("seeds"), Path(sys.argv[1]))
print(sorted(m for m in ("trafilatura", "htmldate", "dateparser") if m in sys.modules))
"""


def test_a_run_of_text_records_imports_no_html_extraction_library(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _TEXT_RUN, str(tmp_path / "out")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_an_html_page_loads_the_extraction_tools_with_the_date_languages_of_its_step():
    import htmldate.extractors

    from pipeline.document import Document
    from pipeline.s2_extract.html import ExtractHtml
    from pipeline.s2_extract.page_meta import DATE_LANGUAGES, restrict_date_languages

    step = ExtractHtml({"date_languages": ["en"]})
    assert "_extract" not in step.__dict__  # nothing imported or set at build time
    body = "<p>" + "A sentence of the article, long enough to be kept as text. " * 20 + "</p>"
    doc = Document(id="p", text=f"<html><body><article><h1>Title</h1>{body}</article></body></html>")
    doc.media_type = "html"
    try:
        step.process(doc)
        assert "_extract" in step.__dict__ and "sentence of the article" in doc.text
        assert htmldate.extractors.get_external_parser().languages == ["en"]
    finally:
        restrict_date_languages(DATE_LANGUAGES)


def test_the_default_date_languages_are_known_to_dateparser():
    # check_date_languages asks dateparser only about the languages outside this list
    from dateparser.data.languages_info import language_order

    from pipeline.s2_extract.date_languages import DATE_LANGUAGES, check_date_languages

    assert set(DATE_LANGUAGES) <= set(language_order)
    assert check_date_languages([*DATE_LANGUAGES, "*"]) is None
    assert check_date_languages(["en", "xx", "sw"]) == "date_languages: unknown to dateparser: xx"


def _located(value):
    """A loaded YAML value with the lines its LocatedDicts and LocatedLists hold, for comparing."""
    from pipeline.config import LocatedDict, LocatedList

    if isinstance(value, LocatedDict):
        return ("dict", value.file, value.lines, {k: _located(v) for k, v in value.items()})
    if isinstance(value, LocatedList):
        return ("list", value.file, value.lines, [_located(v) for v in value])
    return (type(value).__name__, value)


def _load_or_error(path: Path) -> tuple:
    from pipeline.config import ConfigError, load_yaml

    try:
        return ("ok", _located(load_yaml(path)))
    except ConfigError as exc:
        return ("error", str(exc))


def test_libyaml_loads_what_the_python_parser_loads_with_the_same_lines_and_errors(tmp_path, monkeypatch):
    from pipeline import config

    if config._FAST_BASE is None:
        pytest.skip("PyYAML without libyaml")
    shipped = sorted((Path(config.__file__).parent / "defaults").rglob("*.yaml"))
    texts = {
        "mixed": "a: 1\nb: [x, 2.5, null, true]\nc:\n  - {d: e}\n  - '*not an alias*'\nf: 2024-01-02\n",
        "duplicate": "a: 1\nb:\n  c: 2\n  c: 3\n",
        "bad key": "a: 1\n[x]: 2\n",
        "alias": "a: &x [1]\nb: *x\n",
        "invalid": "steps: [\n",
        "tab": "a:\n\tb: 1\n",
        "two documents": "a: 1\n---\nb: 2\n",
        "empty": "",
    }
    paths = list(shipped)
    for name, text in texts.items():
        paths.append(tmp_path / f"{name.replace(' ', '-')}.yaml")
        paths[-1].write_text(text)
    fast = [_load_or_error(path) for path in paths]
    monkeypatch.setattr(config, "_FAST_BASE", None)  # the Python parser alone, as before
    slow = [_load_or_error(path) for path in paths]
    for path, got, expected in zip(paths, fast, slow):
        assert got == expected, path.name
    assert [kind for kind, _ in fast[len(shipped) :]] == ["ok", *["error"] * 5, "error", "ok"]
