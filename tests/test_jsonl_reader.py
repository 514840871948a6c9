"""JSONL crawl records: fields, numbering, splitting a big file into tasks, broken files."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest
from corpus_helpers import article, small_config

from pipeline.cli import main
from pipeline.corpus import read_jsonl
from pipeline.s1_read.inputs import read_file
from pipeline.s1_read.jsonl import count_jsonl_records

OPTIONS = {
    "max_bytes": 1 << 20,
    "jsonl_fields": {
        "id": "id",
        "url": "url",
        "html": "html",
        "text": "text",
        "title": "title",
        "created": "date",
    },
}


def write_jsonl(path: Path, records: list, gz: bool = False) -> Path:
    data = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)
    path.write_bytes(gzip.compress(data.encode()) if gz else data.encode())
    return path


def test_fields_ids_and_line_numbers(tmp_path):
    path = write_jsonl(
        tmp_path / "crawl.jsonl",
        [
            {
                "id": "a1",
                "text": "Một bài báo.",
                "url": "https://vnexpress.net/x.html",
                "title": "Tiêu đề",
                "date": "30/01/2025 12:24",
            },
            "",  # blank lines are not records
            {"text": "Bài không có id."},
            {"id": 7, "html": "<html><body><p>Trang HTML</p></body></html>"},
        ],
    )
    docs = [doc for _n, doc in read_file(path, tmp_path, OPTIONS)]
    assert [d.id for d in docs] == ["a1", "crawl.jsonl#3", "7"]
    assert [d.provenance["input_path"] for d in docs] == ["crawl.jsonl#1", "crawl.jsonl#3", "crawl.jsonl#4"]
    first = docs[0]
    assert first.text == "Một bài báo." and first.media_type == "text"
    assert first.metadata == {
        "url": "https://vnexpress.net/x.html",
        "title": "Tiêu đề",
        "created": "2025-01-30T12:24:00",
    }
    assert docs[2].media_type == "html" and "<p>Trang HTML</p>" in docs[2].text
    assert count_jsonl_records(path, OPTIONS) == 3


def test_configured_field_names(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"doc_id": "x", "body": "Nội dung", "link": "https://a.vn/b"}])
    options = {
        **OPTIONS,
        "jsonl_fields": {**OPTIONS["jsonl_fields"], "id": "doc_id", "text": "body", "url": "link"},
    }
    [(_n, doc)] = list(read_file(path, tmp_path, options))
    assert (doc.id, doc.text, doc.metadata["url"]) == ("x", "Nội dung", "https://a.vn/b")


def test_record_ranges_equal_reading_everything(tmp_path):
    records = [{"id": f"r{i}", "text": f"văn bản {i}"} for i in range(23)]
    records.insert(5, "{broken")
    path = write_jsonl(tmp_path / "big.jsonl.gz", records, gz=True)
    whole = [(n, d.id, d.drop_reason) for n, d in read_file(path, tmp_path, OPTIONS)]
    pieces = [
        (n, d.id, d.drop_reason)
        for start in range(0, 24, 5)
        for n, d in read_file(path, tmp_path, OPTIONS, (start, min(24, start + 5)))
    ]
    assert pieces == whole and len(whole) == 24 == count_jsonl_records(path, OPTIONS)
    assert whole[5][2] == "invalid_json"


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    records = [{"id": f"r{i}", "text": article(i)} for i in range(200)]
    full = gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(full[: len(full) // 2])
    docs = [d for _n, d in read_file(path, tmp_path, OPTIONS)]
    assert (
        docs[-1].is_error and docs[-1].drop_reason == "truncated" and "cut.jsonl.gz" in docs[-1].drop_detail
    )
    good = docs[:-1]
    assert (
        good
        and all(not d.dropped for d in good)
        and [d.id for d in good] == [f"r{i}" for i in range(len(good))]
    )


def test_damaged_gzip_keeps_the_records_before_the_damage(tmp_path):
    records = "".join(json.dumps({"id": f"r{i}", "text": article(i)}) + "\n" for i in range(20)).encode()
    second = gzip.compress(b'{"id": "lost", "text": "never read"}\n', mtime=0)
    damaged = second[:10] + b"\x07" + second[11:]  # block type 3: a decompressor error, not a cut
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(gzip.compress(records, mtime=0) + damaged)  # two members, the second damaged
    docs = [d for _n, d in read_file(path, tmp_path, OPTIONS)]
    assert [d.id for d in docs[:-1]] == [f"r{i}" for i in range(20)] and not any(d.dropped for d in docs[:-1])
    assert docs[-1].is_error and docs[-1].drop_reason == "unreadable"
    assert "invalid block type" in docs[-1].drop_detail and "bad.jsonl.gz" in docs[-1].drop_detail


@pytest.mark.parametrize("damage", ["crc", "length", "deflate data"])
def test_gzip_damaged_inside_its_one_member_keeps_the_records_before_the_damage(tmp_path, damage):
    """Damage found inside a member (its trailer's CRC or length, or its deflate data) loses no
    record inflated before it, as python's own gzip reader: the error is the file's last record."""
    text = "".join(json.dumps({"id": f"r{i}", "text": article(i)}) + "\n" for i in range(40)).encode()
    whole = gzip.compress(text, mtime=0)
    if damage == "crc":
        data = whole[:-8] + bytes(4) + whole[-4:]
    elif damage == "length":
        data = whole[:-4] + bytes(4)
    else:  # a byte flipped near the end of the deflate stream
        data = whole[:-20] + bytes([whole[-20] ^ 0xFF]) + whole[-19:]
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(data)
    stdlib_lines = 0
    with gzip.open(path) as fh:
        try:
            for _line in fh:
                stdlib_lines += 1
        except (OSError, EOFError, zlib.error):
            pass
    docs = [d for _n, d in read_file(path, tmp_path, OPTIONS)]
    assert docs[-1].is_error and "bad.jsonl.gz" in docs[-1].drop_detail
    good = [d for d in docs[:-1] if not d.dropped]
    assert [d.id for d in good] == [f"r{i}" for i in range(len(good))]
    assert len(good) >= min(stdlib_lines, 39) >= 30, (len(good), stdlib_lines)


def test_run_splits_a_big_file_into_tasks_and_accounts_for_every_line(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    lines = [{"id": f"p{i}", "text": article(i), "url": f"https://tuoitre.vn/bai-{i}.htm"} for i in range(7)]
    lines += ["not json", {"id": "empty", "text": "  "}]
    write_jsonl(inputs / "crawl.jsonl.gz", lines, gz=True)
    out = tmp_path / "out"
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    run = next((out / "runs").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    kept = [r for s in manifest["shards"] for r in read_jsonl(run / s["file"])]
    rejects = [r for s in manifest["rejects"] for r in read_jsonl(run / s["file"])]
    assert manifest["counts"]["documents"] == 9
    assert sorted(r["id"] for r in kept) == [f"p{i}" for i in range(7)]
    assert {r["source"] for r in kept} == {"tuoitre.vn"}
    assert sorted(r["reason"] for r in rejects) == ["invalid_json", "missing_field"]
    assert {r["metadata"]["input_path"] for r in rejects} == {"crawl.jsonl.gz#8", "crawl.jsonl.gz#9"}


def test_empty_or_blank_file_is_one_error_record(tmp_path):
    for name, data in (("empty.jsonl", b""), ("blank.jsonl.gz", gzip.compress(b"\n  \n"))):
        path = tmp_path / name
        path.write_bytes(data)
        docs = [d for _n, d in read_file(path, tmp_path, OPTIONS)]
        assert [(d.drop_reason, d.is_error) for d in docs] == [("empty", True)]
        assert count_jsonl_records(path, OPTIONS) == 1
