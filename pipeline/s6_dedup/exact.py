"""exact_dedup: drop a document whose normalized text equals that of a kept one.

The key is a 128-bit xxh3 of the text after NFC, casefolding and whitespace
collapsing. Of a group of equal texts the one kept is the earliest published,
then the first in input order, so the result does not depend on how the work was
split over workers.

Across runs, the hashes of the corpus's kept documents are remembered in
OUTPUT/state/exact_dedup.sqlite (hash -> id), following the commit protocol of
GlobalStep: reduce() only reads it, stage() writes the hashes of this run's kept
documents (not those a later step such as near_dedup dropped) into the run
directory, commit() removes the ids the run retired and inserts them, once per
run. A document whose text an earlier run kept is dropped as a duplicate of that
one. The index carries the corpus digest (`corpus_state.py`) and is rebuilt from
the corpus when it does not match.
"""

from __future__ import annotations

import os
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import xxhash

from pipeline.document import Document
from pipeline.faults import checkpoint
from pipeline.kernels import kernels_for, preload
from pipeline.s5_filter.quality_tokens import SPACE_POINTS
from pipeline.s6_dedup.corpus_state import Digest, kept_by_run, read_change
from pipeline.s7_write.atomic import write_atomic
from pipeline.s7_write.safe_json import safe_str
from pipeline.step import DocRef, Drop, GlobalStep

INDEX_FILE = "exact_dedup.sqlite"
# SQLite indexes up to this size get an integrity check at every run start (~0.1 s per 50 MB); a larger
# one found damaged later, in reduce, is set aside and the run stops (the next run rebuilds it)
QUICK_CHECK_BYTES = 256 * 1024 * 1024
DELTA_FILE = "hashes.tsv"


def content_hash(text: str, kernels=None) -> str:
    """The hex key of `text`; `kernels`: the compiled module of `pipeline.kernels` (the same key,
    casefolded and its whitespace collapsed in one pass over the code points instead of a folded
    copy and a list of words) or None."""
    text = unicodedata.normalize("NFC", text)
    if kernels is not None:
        try:
            points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        except UnicodeEncodeError:  # a lone surrogate: the path below raises its own error
            pass
        else:
            out = np.empty(4 * len(points), dtype=np.uint8)
            size = kernels.joined_words(points, SPACE_POINTS, fold_table(), out)
            if size >= 0:  # (-1: a code point folds to several, "ß" -> "ss": folded below)
                return xxhash.xxh3_128_hexdigest(out[:size].data)
    # split/join = re.sub(r"\s+", " ", ...).strip() (\s is str.isspace), in half the time
    key = " ".join(text.casefold().split())
    return xxhash.xxh3_128_hexdigest(key.encode("utf-8"))


_FOLD_LIMIT = 0x20000  # no code point from here on changes under str.casefold (a test checks it)
_fold_table: list[np.ndarray] = []


def fold_table() -> np.ndarray:
    """Per code point below _FOLD_LIMIT, the one code point `str.casefold` gives, or 0xFFFFFFFF
    when it gives several (104 of them: "ß", ligatures, Greek with iota); built once (~10 ms),
    in the parent before its workers fork when the kernels are preloaded."""
    if not _fold_table:
        table = np.arange(_FOLD_LIMIT, dtype=np.uint32)
        for c in range(_FOLD_LIMIT):
            folded = chr(c).casefold()
            if len(folded) > 1:
                table[c] = 0xFFFFFFFF
            elif folded != chr(c):
                table[c] = ord(folded)
        _fold_table.append(table)
    return _fold_table[0]


class ExactDedup(GlobalStep):
    name = "exact_dedup"
    pipeline_stage = "dedup"
    defaults = {}
    hold_keys = True  # 16 bytes a document

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._new: dict[str, DocRef] = {}  # the reduce's kept documents by hash: what `stage` writes
        self._hashed = 0  # documents hashed in this process (when the compiled kernels pay)

    def preload(self, docs_per_process: int) -> None:
        if preload(docs_per_process) is not None:
            fold_table()  # (built before the workers fork: they share it)

    def key(self, doc: Document) -> bytes:
        self._hashed += 1  # small runs stay in Python; the compiled pass once it pays (same key)
        digest = content_hash(doc.text, kernels_for(self._hashed))
        doc.metadata["content_hash"] = digest
        return bytes.fromhex(digest)

    def reduce(self, items: Iterable[tuple[DocRef, bytes]], state_dir=None) -> Iterator[Drop]:
        best: dict[bytes, DocRef] = {}
        losers: list[tuple[DocRef, bytes]] = []
        earlier: list[tuple[DocRef, str]] = []  # duplicates of documents kept by earlier runs
        index = _open_index(state_dir)
        for ref, digest in items:
            kept_before = _lookup(index, digest)
            if kept_before is not None and kept_before not in self.retired:
                earlier.append((ref, kept_before))
                continue
            current = best.get(digest)
            if current is None:
                best[digest] = ref
            elif ref.keep_rank() < current.keep_rank():
                best[digest] = ref
                losers.append((current, digest))
            else:
                losers.append((ref, digest))
        if index is not None:
            index.close()
        self._new = {digest.hex(): ref for digest, ref in best.items()}
        drops = [
            Drop(ref.order, "exact_duplicate", f"same normalized text as {kept_id} (an earlier run)", kept_id)
            for ref, kept_id in earlier
        ]
        drops += [
            Drop(ref.order, "exact_duplicate", f"same normalized text as {best[digest].id}", best[digest].id)
            for ref, digest in losers
        ]
        yield from sorted(drops, key=lambda drop: drop.order)

    def stage(self, delta_dir, dropped=frozenset()) -> None:
        """This run's kept hashes, one `hash<TAB>id` line each (ids escape tabs/newlines as JSON would);
        not those of documents a later step dropped (they are not in the corpus)."""
        kept = {digest: ref.id for digest, ref in self._new.items() if ref.order not in dropped}
        lines = (f"{digest}\t{_escape(doc_id)}\n" for digest, doc_id in sorted(kept.items()))
        write_atomic(Path(delta_dir) / DELTA_FILE, "".join(lines).encode("ascii"))

    def commit(self, state_dir, delta_dir) -> None:
        """Retired ids out, this run's hashes in, the corpus digest updated: one transaction, done once
        per run (the run id is recorded, so a redo after a kill changes nothing)."""
        delta = Path(delta_dir) / DELTA_FILE
        parts = sorted(Path(delta_dir).glob("hashes-*.tsv"))  # sharded exact dedup: one per filter task
        if not delta.exists() and not parts:
            return
        run_id = Path(delta_dir).parent.parent.name
        retired, after = read_change(Path(delta_dir))
        with closing(sqlite3.connect(Path(state_dir) / INDEX_FILE, isolation_level=None, timeout=30)) as db:
            db.executescript(_SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("SELECT 1 FROM applied WHERE run_id = ?", (run_id,)).fetchone() is None:
                    db.executemany("DELETE FROM kept WHERE id = ?", ((doc_id,) for doc_id in retired))
                    for path in ([delta] if delta.exists() else []) + parts:  # one file in memory at a time
                        db.executemany("INSERT OR IGNORE INTO kept VALUES (?, ?)", _rows(path))
                    _set_digest(db, after)
                    db.execute("INSERT INTO applied VALUES (?)", (run_id,))
                checkpoint("index_commit")  # tests kill here: the transaction must roll back on the next open
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # --- the index describes the corpus ---------------------------------------------------

    def state_problem(self, state_dir, expected) -> str | None:
        return index_problem(Path(state_dir) / INDEX_FILE, expected)

    def state_file(self, state_dir) -> Path:
        return Path(state_dir) / INDEX_FILE

    def rebuild(self, state_dir, output) -> None:
        """The index from the corpus's kept records (their content_hash, else the hash of their text)."""
        path = Path(state_dir) / INDEX_FILE
        tmp = path.with_name(f".{INDEX_FILE}.rebuild")
        tmp.unlink(missing_ok=True)
        ids = []
        with closing(sqlite3.connect(tmp, isolation_level=None)) as db:
            db.executescript(_SCHEMA)
            db.execute("BEGIN")
            for _run, records in kept_by_run(Path(output)):
                for record in records:
                    digest = (record.get("metadata") or {}).get("content_hash") or content_hash(
                        record["text"]
                    )
                    db.execute(
                        "INSERT OR IGNORE INTO kept VALUES (?, ?)", (bytes.fromhex(digest), record["id"])
                    )
                    ids.append(record["id"])
            _set_digest(db, Digest.of(ids))
            db.execute("COMMIT")
        os.replace(tmp, path)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kept (hash BLOB PRIMARY KEY, id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS kept_id ON kept (id);
CREATE TABLE IF NOT EXISTS applied (run_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS corpus (one INTEGER PRIMARY KEY CHECK (one = 1), documents INTEGER NOT NULL,
                                   sum TEXT NOT NULL);
"""


def _rows(delta: Path) -> Iterator[tuple[bytes, str]]:
    with open(delta, encoding="ascii") as fh:  # streamed: memory does not grow with the run
        for line in fh:
            digest, _, doc_id = line.rstrip("\n").partition("\t")
            yield bytes.fromhex(digest), _unescape(doc_id)


def _escape(doc_id: str) -> str:
    if doc_id.isascii() and doc_id.isprintable() and "\\" not in doc_id:  # most ids: nothing to escape
        return doc_id
    return safe_str(doc_id).encode("unicode_escape").decode("ascii")


def _unescape(text: str) -> str:
    if "\\" not in text:  # no escape in it: the text itself
        return text
    return text.encode("ascii").decode("unicode_escape")


def _set_digest(db: sqlite3.Connection, digest) -> None:
    if digest is not None:  # None: a run staged before digests; the next run's check rebuilds
        db.execute(
            "INSERT OR REPLACE INTO corpus VALUES (1, ?, ?)", (digest.documents, digest.as_dict()["sum"])
        )


def stored_digest(db: sqlite3.Connection):
    """The corpus digest an index (exact or near, SQLite) carries, or None."""
    try:
        row = db.execute("SELECT documents, sum FROM corpus WHERE one = 1").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return Digest.from_dict({"documents": row[0], "sum": row[1]}) if row else None


def index_problem(path: Path, expected) -> str | None:
    """Why the SQLite index at `path` does not describe the corpus with digest `expected`, or None."""
    if not path.exists():
        return None if expected.documents == 0 else f"{path} is missing"
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            found = stored_digest(db)
            if (
                path.stat().st_size <= QUICK_CHECK_BYTES
            ):  # a damaged page deeper in: caught now, not in reduce
                check = db.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    first = check.replace("*** in database main ***", "").strip().splitlines()[0]
                    return f"{path} fails its integrity check ({first} ...)"
    except sqlite3.DatabaseError as exc:
        return f"{path} is unreadable ({exc})"
    if found is None:
        return f"{path} carries no corpus digest (made by an older version)"
    if found != expected:
        return f"{path} describes another state of the corpus (index: {found}; corpus: {expected})"
    return None


def _open_index(state_dir) -> sqlite3.Connection | None:
    path = Path(state_dir) / INDEX_FILE if state_dir is not None else None
    if path is None or not path.exists():
        return None
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _lookup(index: sqlite3.Connection | None, digest: bytes) -> str | None:
    if index is None:
        return None
    row = index.execute("SELECT id FROM kept WHERE hash = ?", (digest,)).fetchone()
    return row[0] if row else None
