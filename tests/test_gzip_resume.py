"""A `.jsonl.gz` task resumes inflating from the state the plan's count kept at its seek mark (a forked
worker inherits it) instead of inflating the file from its start: the same documents, in every
member of a multi-member file, and the same documents again where no state applies (file changed,
none kept, states thinned out)."""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path

import pytest

from pipeline.fs import GzipReader
from pipeline.plan import list_inputs, plan_tasks, read_task
from pipeline.s1_read import jsonl

FIELDS = {"id": "id", "url": "url", "html": "html", "text": "text", "title": "title", "created": "created"}
OPTIONS = {"max_bytes": 200_000, "jsonl_fields": FIELDS}


def _lines(rng: random.Random, first: int, n: int) -> bytes:
    """Records of random words (little compression, so a member takes many inflate reads), with
    blank lines between some of them."""
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=6)) for _ in range(500)]
    out = []
    for i in range(first, first + n):
        text = b" ".join(rng.choice(words) for _ in range(rng.randint(5, 200)))
        out.append(b'{"id": "d%d", "text": "%s"}\n' % (i, text))
        if rng.random() < 0.05:
            out.append(b"\n")
    return b"".join(out)


@pytest.fixture(autouse=True)
def _clean_state():
    """Each test starts without parked handles or kept states, as a fresh process does."""
    jsonl._PARKED.clear()
    jsonl._RESUME.clear()
    yield
    for _ident, fh in jsonl._PARKED.values():
        fh.close()
    jsonl._PARKED.clear()
    jsonl._RESUME.clear()


@pytest.fixture
def members(tmp_path: Path) -> tuple[Path, bytes, int]:
    """A two-member .jsonl.gz (as `cat a.gz b.gz` makes), its bytes, and the first member's size."""
    rng = random.Random(16)
    first, second = _lines(rng, 0, 1500), _lines(rng, 1500, 1700)
    head = gzip.compress(first, compresslevel=6)
    path = tmp_path / "crawl.jsonl.gz"
    path.write_bytes(head + gzip.compress(second, compresslevel=6))
    return path, first + second, len(head)


def _plan(path: Path) -> list:
    return plan_tasks(list_inputs([path]), 400, OPTIONS)


def _docs(task) -> list[tuple]:
    return [(d.id, d.text, d.provenance["line"], d.provenance["order"]) for d in read_task(task, OPTIONS)]


def _count_resumes(monkeypatch) -> list:
    calls: list = []
    real = GzipReader.resumed.__func__  # type: ignore[attr-defined]

    def spy(cls, raw, state):
        calls.append(state.position)
        return real(cls, raw, state)

    monkeypatch.setattr(GzipReader, "resumed", classmethod(spy))
    return calls


def _read_alone(tasks: list) -> list[list[tuple]]:
    """Each task read as a worker that ran no task of the file before it (no parked handle)."""
    out = []
    for task in tasks:
        for _ident, fh in jsonl._PARKED.values():
            fh.close()
        jsonl._PARKED.clear()
        out.append(_docs(task))
    return out


def test_every_kept_state_reads_on_as_a_reader_from_the_start(members):
    path, data, _ = members
    with GzipReader(open(path, "rb"), keep_starts=True) as reader:
        states = []
        while reader.read(1 << 20):
            states.append(reader.last_start)
    assert len(states) > 4
    for state in states:
        with GzipReader.resumed(open(path, "rb"), state) as resumed:
            assert resumed.tell() == state.position
            assert resumed.readall() == data[state.position :]


def test_tasks_resumed_from_kept_states_read_what_tasks_from_the_start_read(members, monkeypatch):
    path, _, head = members
    tasks = _plan(path)  # counted here: the states are kept in this process
    starts = [t.seek[0] for t in tasks if t.seek is not None]
    assert len(tasks) == len(starts) == 8
    points = jsonl._RESUME[str(path)]
    kept = [points.nearest(offset) for offset in starts]
    assert all(s is not None and s.position <= o for s, o in zip(kept, starts))
    assert any(s is not None and s.offset > head for s in kept)  # tasks starting in the second member
    calls = _count_resumes(monkeypatch)
    resumed = _read_alone(tasks)
    assert calls == [s.position for s in kept if s is not None]  # each task resumed

    jsonl._RESUME.clear()  # the fallback: inflated from the file's start
    assert _read_alone(tasks) == resumed
    assert len(calls) == len(starts)
    assert [d[0] for docs in resumed for d in docs] == [f"d{i}" for i in range(3200)]


def test_a_parked_handle_nearer_than_the_state_is_kept(members, monkeypatch):
    path, _, _ = members
    tasks = _plan(path)
    calls = _count_resumes(monkeypatch)
    docs = [_docs(task) for task in tasks]  # in order, as one process: each continues the last
    assert calls == [0]  # only the first task, with no handle parked yet
    assert [d[0] for part in docs for d in part] == [f"d{i}" for i in range(3200)]


def test_a_file_changed_since_the_count_is_not_resumed(members, monkeypatch):
    path, _, _ = members
    tasks = _plan(path)
    expected = _read_alone(tasks)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same bytes, another mtime
    calls = _count_resumes(monkeypatch)
    assert _read_alone(tasks) == expected
    assert calls == []


def test_thinned_states_resume_before_the_task_and_read_the_same(members, monkeypatch):
    path, _, _ = members
    monkeypatch.setattr(jsonl._ResumePoints, "LIMIT", 3)
    tasks = plan_tasks(list_inputs([path]), 200, OPTIONS)
    assert len(tasks) == 16
    points = jsonl._RESUME[str(path)]
    assert 0 < len(points.states) <= 3
    calls = _count_resumes(monkeypatch)
    resumed = _read_alone(tasks)
    assert calls and all(a <= b for a, b in zip(calls, calls[1:]))
    jsonl._RESUME.clear()
    assert _read_alone(tasks) == resumed


def test_the_plan_keeps_only_the_states_its_tasks_start_at(members):
    path, _, _ = members
    _, marks = jsonl.index_jsonl_records(path, OPTIONS, 100)
    points = jsonl._RESUME[str(path)]
    assert len(points.states) > 20
    starts = [marks[4][0], marks[12][0]]
    wanted = [points.nearest(offset) for offset in starts]
    jsonl.keep_resume_points((str(path), offset) for offset in starts)
    assert sorted(s.position for _, s in points.states.values()) == sorted(s.position for s in wanted)
    jsonl.keep_resume_points([])
    assert jsonl._RESUME == {}


def test_states_kept_in_all_stay_bounded(tmp_path, members, monkeypatch):
    path, data, _ = members
    monkeypatch.setattr(jsonl, "TOTAL_LIMIT", 40)
    copies = []
    for i in range(3):
        copy = tmp_path / f"copy{i}.jsonl.gz"
        copy.write_bytes(path.read_bytes())
        jsonl.index_jsonl_records(copy, OPTIONS, 100)
        copies.append(str(copy))
    assert sum(len(p.states) for p in jsonl._RESUME.values()) <= 40
    assert copies[-1] in jsonl._RESUME and copies[0] not in jsonl._RESUME  # the oldest went first


def test_a_damaged_member_keeps_no_states_and_still_salvages(tmp_path, members):
    path, data, head = members
    damaged = bytearray(path.read_bytes())
    damaged[head + 5000 : head + 5040] = bytes(40)  # the second member's data
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(bytes(damaged))
    tasks = plan_tasks(list_inputs([bad]), 400, OPTIONS)
    assert str(bad) not in jsonl._RESUME  # the count failed: the file is one task, read from its start
    docs = [d for task in tasks for d in read_task(task, OPTIONS)]
    assert [d.id for d in docs[:1500]] == [f"d{i}" for i in range(1500)]  # the first member's records
    assert docs[-1].is_error and docs[-1].drop_stage == "read"


def test_a_mark_whose_line_began_in_an_earlier_chunk_resumes_from_that_chunk(tmp_path, monkeypatch):
    rng = random.Random(7)
    # lines of ~90 KB of random letters: most run over a chunk's end (one inflate read, <= 1 MB)
    lines = [
        b'{"id": "L%d", "text": "%s"}\n' % (i, bytes(rng.choices(b"abcdefgh ", k=90_000))) for i in range(40)
    ]
    path = tmp_path / "long.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(lines), compresslevel=6))
    records, marks = jsonl.index_jsonl_records(path, OPTIONS, 1)
    assert records == 40
    points = jsonl._RESUME[str(path)]
    assert len(points.states) == 40  # one a mark: each line's own chunk, or the one it began in
    assert all(state.position <= offset for offset, (_, state) in points.states.items())
    calls = _count_resumes(monkeypatch)
    tasks = plan_tasks(list_inputs([path]), 5, OPTIONS)
    docs = [d for part in _read_alone(tasks) for d in part]
    assert len(calls) == 8 and [d[0] for d in docs] == [f"L{i}" for i in range(40)]


def test_states_of_an_earlier_plan_are_not_used_once_the_file_changed_unseen(members, tmp_path, monkeypatch):
    """A process that plans twice (the Python API, tests): between the plans the file is rewritten in
    place (same inode) to other records of the same size and mtime (`cp -p`, a rewrite within one
    timestamp tick), and the second plan counts it in a pool's child, so this process still holds the
    first count's states, which its identity does not tell apart: they must not be resumed from."""
    from types import SimpleNamespace

    from pipeline import plan_count

    path, _, _ = members
    _plan(path)  # the first plan: counted in this process, its states kept here
    assert jsonl._RESUME
    st = path.stat()
    other = gzip.compress(_lines(random.Random(99), 5000, 3000), compresslevel=6)
    assert len(other) < st.st_size
    with open(path, "r+b") as fh:  # in place: the same inode; zero padding after a member, as gzip allows
        fh.write(other + b"\0" * (st.st_size - len(other)))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert jsonl._identity(path) == (st.st_ino, st.st_size, st.st_mtime_ns)
    second = tmp_path / "second.jsonl.gz"  # two files to count: the plan counts them on the engine
    second.write_bytes(gzip.compress(_lines(random.Random(5), 0, 900)))
    config = SimpleNamespace(
        run={"engine": "local", "task_size": 400, "partitions": 0, "address": None}, read=OPTIONS
    )
    _, tasks, engine = plan_count.plan(list_inputs([path, second]), config, 2)
    if engine is not None:
        engine.close()
    ids = []
    for task in [t for t in tasks if t.files[0].path == str(path)]:  # each as a worker forked from here
        for _ident, fh in jsonl._PARKED.values():
            fh.close()
        jsonl._PARKED.clear()
        ids += [d.id for d in read_task(task, OPTIONS)]
    assert ids == [f"d{i}" for i in range(5000, 8000)]  # the file's records now, no error record
