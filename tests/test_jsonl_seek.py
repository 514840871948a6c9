"""JSONL tasks start at their record's byte offset (found while counting) instead of
reading every record before it: the same documents, line numbers and errors as reading
from the start, for plain and gzipped files with blank, whitespace-only, oversized and
unterminated lines."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from pipeline.plan import list_inputs, plan_tasks, read_task
from pipeline.s1_read.jsonl import _lines, _open, count_jsonl_records, index_jsonl_records

FIELDS = {"id": "id", "url": "url", "html": "html", "text": "text", "title": "title", "created": "created"}


def _options(max_bytes: int) -> dict:
    return {"max_bytes": max_bytes, "jsonl_fields": FIELDS}


def _messy_lines(rng: random.Random, n: int) -> list[bytes]:
    lines = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.08:
            lines.append(b"")
        elif kind < 0.14:
            lines.append(rng.choice([b"   ", b"\t", b" \r", b"\x0b\x0c "]))
        elif kind < 0.2:
            lines.append(b"x" * rng.randint(90, 300))  # over max_bytes below: an error record
        elif kind < 0.25:
            lines.append(b"not json")
        else:
            lines.append(b'{"id": "d%d", "text": "%s"}' % (i, b"w " * rng.randint(1, 30)))
    return lines


def _write(path: Path, lines: list[bytes], trailing_newline: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing_newline else b"")
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    elif path.name.endswith(".zst"):  # several frames, as zstd tools write big files
        import zstandard

        half = len(data) // 2
        path.write_bytes(
            b"".join(
                zstandard.ZstdCompressor(level=3).compress(part)
                for part in (data[:half], data[half:])
                if part
            )
        )
    else:
        path.write_bytes(data)


def _summary(docs) -> list[tuple]:
    return [(d.id, d.text, d.drop_reason, d.provenance.get("line"), d.provenance["order"]) for d in docs]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
@pytest.mark.parametrize("seed", range(6))
def test_seeking_tasks_read_what_reading_from_the_start_reads(tmp_path, suffix, seed):
    rng = random.Random(seed)
    path = tmp_path / f"in{suffix}"
    _write(path, _messy_lines(rng, rng.randint(1, 400)), trailing_newline=seed % 2 == 0)
    options = _options(max_bytes=80)
    with _open(path) as fh:  # the reader's own notion of records
        expected_records = sum(1 for _ in _lines(fh, options["max_bytes"]))
    assert count_jsonl_records(path, options) == expected_records
    files = list_inputs([path])
    for task_size in (1, 7, 50, 1000):
        tasks = plan_tasks(files, task_size, options)
        seeking = [d for t in tasks for d in read_task(t, options)]
        from_start = [d for t in tasks for d in read_task(_without_seek(t), options)]
        assert _summary(seeking) == _summary(from_start)
        assert len(seeking) == expected_records
        if expected_records > task_size:
            assert all(t.seek is not None for t in tasks)


def _without_seek(task):
    from dataclasses import replace

    return replace(task, seek=None)


def test_index_marks_every_nth_record(tmp_path):
    path = tmp_path / "a.jsonl"
    _write(path, [b'{"text": "a"}', b"", b'{"text": "b"}', b"  ", b'{"text": "c"}'], trailing_newline=False)
    n, marks = index_jsonl_records(path, _options(1000), 2)
    assert n == 3
    data = path.read_bytes()
    assert [(off, lines) for off, lines in marks] == [(0, 0), (data.index(b'{"text": "c"}'), 4)]


def test_a_file_changed_between_runs_is_not_read_through_a_parked_handle(tmp_path):
    path = tmp_path / "in.jsonl.gz"
    options = _options(max_bytes=10_000)
    for version in (b"old", b"new!"):
        _write(path, [b'{"text": "%s %d"}' % (version, i) for i in range(30)], trailing_newline=True)
        tasks = plan_tasks(list_inputs([path]), 10, options)
        texts = [
            d.text for t in tasks[:2] for d in read_task(t, options)
        ]  # the first two tasks park the file
        assert texts == [f"{version.decode()} {i}" for i in range(20)]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_the_tail_in_pieces_reads_the_same_documents_in_the_same_order(tmp_path, suffix):
    """split_tail: the run's last two tasks cut in pieces that shrink toward the end (so that workers
    finish together), each piece seeking to its own start; the documents read, in order, are those
    of the uncut plan."""
    rng = random.Random(7)
    path = tmp_path / f"in{suffix}"
    _write(path, _messy_lines(rng, 4700), trailing_newline=True)
    options = _options(max_bytes=80)
    files = list_inputs([path])
    n = count_jsonl_records(path, options)
    uncut = plan_tasks(files, 1000, options)
    cut = plan_tasks(files, 1000, options, split_tail=True)
    assert [t.records for t in uncut][-2:] == [(3000, 4000), (4000, n)]
    # the head as before; the last two tasks in halves, then pieces of 250 (the last one shorter)
    assert cut[:3] == uncut[:3]
    pieces = [(3000, 3500), (3500, 4000)] + [(a, min(n, a + 250)) for a in range(4000, n, 250)]
    assert [t.records for t in cut[3:]] == pieces
    assert [t.index for t in cut] == list(range(len(cut)))
    assert all(t.seek is not None for t in cut)
    assert _summary(d for t in cut for d in read_task(t, options)) == _summary(
        d for t in uncut for d in read_task(t, options)
    )


def test_the_tail_is_not_cut_into_pieces_too_small_or_off_the_seek_marks(tmp_path):
    path = tmp_path / "in.jsonl"
    _write(path, [b'{"id": "d%d", "text": "w"}' % i for i in range(3000)], trailing_newline=True)
    files = list_inputs([path])
    options = _options(max_bytes=80)
    for task_size in (996, 1001):  # pieces under 250 records; 4 does not divide 1001 (marks every 250.25)
        assert plan_tasks(files, task_size, options, split_tail=True) == plan_tasks(files, task_size, options)
