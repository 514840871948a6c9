"""Fuzz the readers, the decoder and the per-document steps with hypothesis (fixed budget).

Properties: no exception ever escapes; every document that goes in comes out
kept or dropped with a reason (errors flagged); no step fails on any text (an
exception turned into an error record would still be a bug); kept text is NFC
and free of control characters; records always serialize to JSON.
"""

from __future__ import annotations

import gzip
import tempfile
import unicodedata
from pathlib import Path

import orjson
from corpus_helpers import ROOT, article
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import load_config
from pipeline.document import Document
from pipeline.plan import InputFile, TaskSpec, read_task
from pipeline.s1_read.decode import Decode
from pipeline.s1_read.inputs import READERS
from pipeline.s7_write.records import kept_record, reject_record
from pipeline.s7_write.safe_json import json_line
from pipeline.tasks import Pipeline, process_batch

BUDGET = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL_BUDGET = settings(BUDGET, max_examples=80)

_PIPELINE: Pipeline | None = None


def pipeline() -> Pipeline:
    """The default config's steps (the global ones only compute keys here), built once."""
    global _PIPELINE
    if _PIPELINE is None:
        from pipeline.runner import build_pipeline

        config = load_config(ROOT / "config" / "default.yaml")
        config.read["max_bytes"] = 1 << 20
        _PIPELINE = build_pipeline(config, "2026-01-01T00:00:00Z", "fuzz")
    return _PIPELINE


# --- strategies -----------------------------------------------------------------------------

VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
pieces = st.one_of(
    st.text(alphabet=VIETNAMESE + " .,\n", max_size=200),
    st.sampled_from(
        [
            "Tin cùng chuyên mục",
            "Related articles",
            "Nguồn: VnExpress",
            "Theo TTXVN",
            "<div>",
            "</p>",
            "<script>alert(1)</script>",
            "&amp;",
            "&#0;",
            "&lol9;",
            "\u200b",
            "\ufeff",
            "\r\n",
            "\x00",
            "\x1b[31m",
            "\u0301",
            "\ud800",
            "Hà Nội, 12/3/2024 08:30",
            "Ảnh: ",
            "https://vnexpress.net/a-1.html",
            "—",
            "#",
            "\t",
            " " * 50,
            "\n" * 20,
        ]
    ),
    st.text(max_size=50),  # any code points, surrogates included
    st.just(article(3)),
)
texts = st.lists(pieces, max_size=30).map("".join)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1258", "cp1252", "latin-1"])


@st.composite
def encoded_texts(draw) -> bytes:
    text = draw(texts)
    return text.encode(draw(encodings), errors="replace" if draw(st.booleans()) else "ignore")


page_bytes = st.one_of(
    st.binary(max_size=3000),
    encoded_texts(),
    encoded_texts().map(
        lambda b: b.decode("utf-8", "ignore").encode("utf-8").decode("latin-1").encode("utf-8")
    ),
    st.tuples(encoded_texts(), st.binary(max_size=40)).map(lambda t: t[0][: len(t[0]) // 2] + t[1] + t[0]),
)
file_kinds = st.sampled_from(sorted(READERS) + [".txt.gz", ".html.gz", ".bin"])


# --- properties -------------------------------------------------------------------------------


def check_outcome(doc: Document) -> None:
    if doc.dropped:
        assert doc.drop_reason and doc.drop_stage, doc
        json_line(reject_record(doc, "fuzz"))
    else:
        assert isinstance(doc.text, str)
        json_line(kept_record(doc, "2026-01-01T00:00:00Z", "fuzz"))


@BUDGET
@given(data=page_bytes, media=st.sampled_from(["text", "html"]))
def test_decode_never_raises_and_never_loses_a_document(data, media):
    doc = Document(id="fuzz", raw=data, media_type=media)
    step = Decode()
    out = list(step.run([doc]))
    assert out == [doc]
    assert step.stats.docs_in == 1 and step.stats.kept + sum(step.stats.dropped.values()) == 1
    if doc.dropped:
        assert doc.is_error and doc.drop_reason in ("empty", "binary", "undecodable"), doc.drop_reason
        assert doc.drop_reason != "error", f"decode raised: {doc.drop_detail}"
    else:
        assert doc.text == unicodedata.normalize("NFC", doc.text)
        assert not any(c in doc.text for c in "\x00\x01\x02\x03\x1b\x7f\r")
    check_outcome(doc)


@SMALL_BUDGET
@given(text=texts)
def test_cleaning_steps_never_fail_on_any_text(text):
    docs = [
        Document(id=f"fuzz-{i}", text=t, provenance={"order": i, "input_path": f"fuzz-{i}"})
        for i, t in enumerate([text, text + "\n\n" + article(5)])
    ]
    result = process_batch(pipeline(), 0, docs)
    assert len(result.kept) + len(result.rejects) == len(docs)  # none disappears
    for line in result.rejects:
        record = orjson.loads(line)
        assert record["reason"] != "error", f"{record['stage']} raised: {record['detail']}"
    for line in result.kept:
        record = orjson.loads(line)
        assert record["text"].strip() and record["metadata"]["n_chars"] == len(record["text"])


@SMALL_BUDGET
@given(data=page_bytes, kind=file_kinds, gzipped=st.booleans())
def test_readers_and_pipeline_turn_any_file_into_records(data, kind, gzipped):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        name = f"page{kind}" + (".gz" if gzipped and not kind.endswith(".gz") else "")
        payload = gzip.compress(data) if name.endswith(".gz") and data[:2] != b"\x1f\x8b" else data
        (root / name).write_bytes(payload)
        task = TaskSpec(0, (InputFile(0, str(root / name), str(root)),))
        docs = list(read_task(task, pipeline().read_options))
        assert docs, "a file always yields at least one document or error record"
        result = process_batch(pipeline(), 0, docs)
        assert len(result.kept) + len(result.rejects) == len(docs)
        for line in result.rejects:
            record = orjson.loads(line)
            assert record["reason"] != "error", f"{record['stage']} raised: {record['detail']}"
            assert record["metadata"]["input_path"].startswith(name)
