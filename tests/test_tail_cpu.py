"""The run's tail made cheaper without changing what it writes: near_dedup's scratch (one record per
document, read in stretches), its index pages, template_lines' counting. Each is checked against
what it replaced or against the data itself, on inputs built to reach the rare paths."""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from contextlib import closing

import numpy as np
import orjson
import pytest
from clean_helpers import template_count_reference

from pipeline import faults, ids, tasks
from pipeline.keysfile import write_keys
from pipeline.s3_clean import template_lines as tl
from pipeline.s6_dedup import exact
from pipeline.s6_dedup import index as near_index
from pipeline.s6_dedup.near import NearDedup, _Scratch
from pipeline.s7_write.jsonl import BackgroundShardWriter, ShardWriter
from pipeline.s7_write.safe_json import safe_str
from pipeline.step import DocRef, Drop
from pipeline.workfile import task_paths

pytestmark = pytest.mark.unit


def _docs(rng: random.Random, n: int, exact: bool) -> list[tuple[DocRef, np.ndarray, np.ndarray | None]]:
    """Documents with odd ids (non-ASCII, a lone surrogate, empty), dates or none, shingle sets of
    any size (one shingle up to a few thousand)."""
    ids = ["a", "", "bài-báo-đầu", "x\udcff", "tab\tid", "😀" * 3]
    docs = []
    for i in range(n):
        doc_id = f"{rng.choice(ids)}-{i}"
        created = rng.choice([None, None, "2024-05-01", "2023-12-31T23:59:59Z", "2024"])
        signature = np.array([rng.getrandbits(32) for _ in range(16)], dtype=np.uint32)
        size = rng.choice([1, 2, 40, 700, 3000])
        shingles = (
            np.array(sorted(rng.getrandbits(32) for _ in range(size)), dtype=np.uint32) if exact else None
        )
        docs.append((DocRef(1000 + 7 * i, doc_id, created), signature, shingles))
    return docs


@pytest.mark.parametrize("exact", [True, False])
def test_scratch_records_and_fields_give_back_what_was_added(tmp_path, exact):
    rng = random.Random(7 + exact)
    docs = _docs(rng, 300, exact)
    scratch = _Scratch(str(tmp_path), bands=4, rows=4, num_perm=16)
    scratch._CHUNK, scratch._BLOCK = 64, 37  # several band chunks, blocks that cut stretches
    for ref, signature, shingles in docs:
        scratch.add(ref, signature, shingles)
    scratch.finish()
    n = len(docs)
    in_order = np.arange(n)
    gapped = np.array([i for i in range(n) if i % 5 != 3])  # input order with drops: stretches
    shuffled = np.array(rng.sample(range(n), n))  # dated keep order: no stretch at all
    for positions in (in_order, gapped, shuffled, in_order[:1], in_order[:0]):
        got = list(scratch.records(positions, exact))
        assert len(got) == len(positions)
        for i, (doc_id, created, signature, shingles) in zip(positions.tolist(), got):
            ref, want_sig, want_sh = docs[i]
            assert (doc_id, created) == (ref.id, ref.created)
            assert bytes(signature) == want_sig.tobytes()
            assert (bytes(shingles) if exact else shingles) == (want_sh.tobytes() if exact else None)
    for i in rng.sample(range(n), 50):  # the single reads of the reduce
        ref, want_sig, want_sh = docs[i]
        assert (scratch.id(i), scratch.created(i), scratch.order(i)) == (ref.id, ref.created, ref.order)
        assert scratch.signature(i).tobytes() == want_sig.tobytes()
        assert scratch.shingles(i).tobytes() == (want_sh.tobytes() if exact else b"")
    # keep order: dated first by date, then input order
    want = sorted(range(n), key=lambda i: (docs[i][0].created is None, docs[i][0].created or "", i))
    assert scratch.keep_order().tolist() == want
    scratch.close()


def test_staged_delta_holds_the_kept_documents_in_keep_order(tmp_path):
    """The delta's rows, made from the scratch's stretches, against the documents themselves."""
    rng = random.Random(3)
    # (an id with a lone surrogate cannot be stored in SQLite: not here, nor before this change)
    docs = [d for d in _docs(rng, 140, True) if "\udcff" not in d[0].id]
    step = NearDedup({"scratch_dir": str(tmp_path / "scratch"), "num_perm": 16, "bands": 4, "rows": 4})
    (tmp_path / "scratch").mkdir()
    assert not list(step.reduce([(ref, (sig, sh)) for ref, sig, sh in docs], None))  # no near copies
    dropped = frozenset(ref.order for ref, _s, _h in docs[::9])  # a later step's drops
    step.stage(tmp_path / "delta", dropped)
    kept = [d for d in docs if d[0].order not in dropped]
    kept.sort(key=lambda d: (d[0].created is None, d[0].created or "", d[0].order))
    with closing(sqlite3.connect(tmp_path / "delta" / near_index.DELTA_FILE)) as db:
        rows = db.execute("SELECT seq, id, created, signature, shingles FROM docs ORDER BY seq").fetchall()
    assert rows == [
        (seq, ref.id, ref.created, sig.tobytes(), sh.tobytes()) for seq, (ref, sig, sh) in enumerate(kept)
    ]


def test_an_index_of_small_pages_takes_a_delta_of_large_ones(tmp_path):
    """Indexes made before the 16 KB pages keep theirs; the same rows either way."""
    rng = random.Random(5)
    docs = [(ref.id, ref.created, sig, sh) for ref, sig, sh in _docs(rng, 70, True) if "\udcff" not in ref.id]
    keys = np.array([[rng.getrandbits(63) for _ in range(3)] for _ in docs], dtype=np.uint64)
    params = {"scheme": "test"}
    near_index.write_delta(tmp_path / "d1", params, docs[:30], keys[:30])
    near_index.write_delta(tmp_path / "d2", params, docs[30:], keys[30:])
    old = tmp_path / "old"
    old.mkdir()
    with closing(sqlite3.connect(old / near_index.INDEX_FILE)) as db:  # as an earlier version made it
        db.execute("PRAGMA page_size = 4096")
        db.executescript(near_index._SCHEMA)
    dumps = []
    for index_dir in (old, tmp_path / "new"):
        near_index.apply_delta(index_dir, tmp_path / "d1", params)
        near_index.apply_delta(index_dir, tmp_path / "d2", params)
        with closing(sqlite3.connect(index_dir / near_index.INDEX_FILE)) as db:
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            docs_rows = db.execute("SELECT * FROM docs ORDER BY seq").fetchall()
            bands = db.execute("SELECT * FROM bands ORDER BY segment, band").fetchall()
        dumps.append((docs_rows, bands))
        assert page_size == (4096 if index_dir == old else near_index.PAGE_SIZE)
    assert dumps[0] == dumps[1] and len(dumps[0][0]) == len(docs)


@pytest.mark.parametrize("width", [0, 1, 7, 100])
def test_template_counts_equal_the_counting_before(width):
    """Three sources; lines shared by many documents, by a few, by none; near-copies (SimHashes a
    few bits apart) that must not count again; more distinct documents than the copy guard holds."""
    rng = random.Random(width)
    template = [rng.getrandbits(64) for _ in range(12)]
    new, before = tl.Table(), tl.Table()
    fingerprints = [rng.getrandbits(64) for _ in range(40)]
    for n in range(1500):
        source = rng.choice(["a", "b", "c"])
        fingerprint = rng.choice(fingerprints) ^ (1 << rng.randrange(64) if rng.random() < 0.5 else 0)
        own = {rng.getrandbits(64) for _ in range(rng.randrange(0, 15))}
        shared = set(rng.sample(template, rng.randrange(0, 6)))
        key = np.array([fingerprint, *sorted(own | shared)], dtype=np.uint64)
        tl.count(new, source, key, 8, width)
        template_count_reference(before, source, key, 8, width)
        if n == 700:  # a later run: the counts go through the state file (entries as lists again)
            new = tl.load_table_bytes(tl.dump_table(new))
            before = tl.load_table_bytes(tl.dump_table(before))
    assert tl.dump_table(new) == tl.dump_table(before)
    assert tl.template_of(new, 2, 0.05) == tl.template_of(before, 2, 0.05)
    if width != 1:  # (buckets of one document forget every line at once)
        assert any(len(seen) == 2 + tl.GUARD for lines in new.lines.values() for seen in lines.values())
    assert tl.dump_table(tl.bounded(new, 50)) == tl.dump_table(tl.bounded(before, 50))


def _json_lines(n: int) -> list[bytes]:
    rng = random.Random(11)
    return [b'{"id": "d%d", "text": "%s"}\n' % (i, b"x" * rng.randint(0, 5000)) for i in range(n)]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_lines_written_in_batches_give_the_shards_of_lines_written_one_by_one(
    tmp_path, compression, monkeypatch
):
    monkeypatch.setattr(BackgroundShardWriter, "CHUNK", 20000)  # hand-overs inside batches and shards
    lines = _json_lines(1000)
    rng = random.Random(2)
    cuts = sorted(rng.sample(range(1, len(lines)), 40))  # batches of any size, across shard ends
    batches = [lines[a:b] for a, b in zip([0, *cuts], [*cuts, len(lines)])] + [[]]
    written = {}
    for name, cls, batched in [
        ("one", ShardWriter, False),
        ("plain", ShardWriter, True),
        ("thread", BackgroundShardWriter, True),
    ]:
        folder = tmp_path / name
        folder.mkdir()
        writer = cls(folder, "part", 170, compression, 1)
        for batch in batches:
            if batched:
                writer.write_lines(batch)
            else:
                for line in batch:
                    writer.write_line(line)
        shards = writer.close()
        written[name] = (shards, {p.name: p.read_bytes() for p in folder.iterdir()})
    assert written["one"] == written["plain"] == written["thread"]
    assert [s["records"] for s in written["one"][0]] == [170] * 5 + [150]


def test_the_batched_filter_writes_what_the_line_by_line_filter_writes(tmp_path, monkeypatch):
    """Drops in some batches and not in others, a batch cut inside a task; the line-by-line path is
    the one taken when a test may kill the run at a kept document."""
    monkeypatch.setattr(tasks, "_BATCH", 30000)
    work = tmp_path / "work"
    work.mkdir()
    paths = task_paths(work, 0)
    lines = _json_lines(400)
    refs = [DocRef(i, f"d{i}", None) for i in range(len(lines))]
    write_keys(paths, refs, [], 0, [0] * len(refs))
    paths["kept"].write_bytes(b"".join(lines))
    paths["rejects"].write_bytes(b"".join(lines[:30]))
    drop = Drop(0, "near_duplicate", "jaccard 0.9 with d1", "d1")
    drops = {i: ("near_dedup", dataclasses.replace(drop, order=i)) for i in (5, 6, 7, 150, 399)}
    results = {}
    for name, armed in (("lines", True), ("batches", False)):
        if armed:  # a wait point no run reaches: checkpoints count, nothing waits
            monkeypatch.setenv(faults.WAIT_AT, "no-such-point")
        else:
            monkeypatch.delenv(faults.WAIT_AT, raising=False)
        folder = tmp_path / name
        folder.mkdir()
        kept, rejects = ShardWriter(folder, "part", 150, "none"), ShardWriter(folder, "rejects", 150, "none")
        tasks.copy_rejects(paths, rejects)
        done = tasks.filter_candidates(paths, drops, kept, rejects)
        results[name] = (
            kept.close(),
            rejects.close(),
            done,
            {p.name: p.read_bytes() for p in folder.iterdir()},
        )
    assert results["lines"] == results["batches"]
    assert results["batches"][2].kept == 395 and results["batches"][2].dropped == {
        "near_dedup:near_duplicate": 5
    }


def test_hash_file_ids_escape_as_before_and_read_back():
    """The exact index's delta lines (`hash<TAB>id`): ids with nothing to escape skip the codec;
    every other id is escaped as before, and every id reads back as itself."""
    rng = random.Random(4)
    odd = ["\\", "\t", "\n", "\r", "\x00", "\x7f", "é", "😀", "\udcff", "'", '"']
    ids = [chr(c) for c in range(128)] + ["plain-id_1.html", "a b", "a\\nb"]
    ids += [
        "".join(rng.choice([*odd, "a", "Z", "/", " "]) for _ in range(rng.randint(0, 8))) for _ in range(500)
    ]
    for doc_id in ids:
        before = safe_str(doc_id).encode("unicode_escape").decode("ascii")
        assert exact._escape(doc_id) == before
        assert "\t" not in before and "\n" not in before
        assert exact._unescape(before) == before.encode("ascii").decode("unicode_escape") == safe_str(doc_id)


def test_id_registry_delta_lists_the_ids_as_before(tmp_path):
    """ids.json: the checked ids sorted (by id hash), the keys of the inputs in order of appearance,
    for documents of several inputs interleaved."""
    check = ids.IdCheck(tmp_path, ["in/a.jsonl", "in/b.jsonl"])
    refs = [
        (DocRef(i, f"doc-{i % 40}", None), f"in/{'abc'[i % 3 // 2 + i // 50]}.jsonl", i % 7)
        for i in range(90)
    ]
    drops = check.check(refs)
    check.stage(tmp_path / "delta")
    staged = orjson.loads((tmp_path / "delta" / ids.DELTA / "ids.json").read_bytes())
    assert staged["ids"] == sorted([h, key, text] for h, (key, text) in check.seen.items())
    assert list(staged["keys"].values()) == list(dict.fromkeys(key for _r, key, _t in refs))
    assert drops and all(d.reason == ids.REASON for d in drops)
