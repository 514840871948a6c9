"""exact_dedup: drop a document whose normalized text equals that of a kept one.

The key is a 128-bit xxh3 of the text after NFC, casefolding and whitespace
collapsing. Of a group of equal texts the one kept is the earliest published,
then the first in input order, so the result does not depend on how the work was
split over workers.

Across runs, the hashes of kept documents are remembered in
OUTPUT/state/exact_dedup.sqlite (hash -> id), following the commit protocol of
GlobalStep: reduce() only reads it, stage() writes this run's new hashes into
the run directory, commit() inserts them (insert-if-absent, so it can be redone).
A document whose text an earlier run kept is dropped as a duplicate of that one.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path
from typing import Iterable, Iterator

import xxhash

from pipeline.document import Document
from pipeline.faults import checkpoint
from pipeline.step import DocRef, Drop, GlobalStep

INDEX_FILE = "exact_dedup.sqlite"
DELTA_FILE = "hashes.tsv"


def content_hash(text: str) -> str:
    # split/join = re.sub(r"\s+", " ", ...).strip() (\s is str.isspace), in half the time
    key = " ".join(unicodedata.normalize("NFC", text).casefold().split())
    return xxhash.xxh3_128_hexdigest(key.encode("utf-8"))


class ExactDedup(GlobalStep):
    name = "exact_dedup"
    defaults = {}

    def key(self, doc: Document) -> bytes:
        digest = content_hash(doc.text)
        doc.metadata["content_hash"] = digest
        return bytes.fromhex(digest)

    def reduce(self, items: Iterable[tuple[DocRef, bytes]], state_dir=None) -> Iterator[Drop]:
        best: dict[bytes, DocRef] = {}
        losers: list[tuple[DocRef, bytes]] = []
        earlier: list[tuple[DocRef, str]] = []  # duplicates of documents kept by earlier runs
        index = _open_index(state_dir)
        for ref, digest in items:
            kept_before = _lookup(index, digest)
            if kept_before is not None:
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
        self._new = {digest.hex(): ref.id for digest, ref in best.items()}
        drops = [Drop(ref.order, "exact_duplicate", f"same normalized text as {kept_id} (an earlier run)", kept_id)
                 for ref, kept_id in earlier]
        drops += [Drop(ref.order, "exact_duplicate", f"same normalized text as {best[digest].id}", best[digest].id)
                  for ref, digest in losers]
        yield from sorted(drops, key=lambda drop: drop.order)

    def stage(self, delta_dir) -> None:
        """This run's kept hashes, one `hash<TAB>id` line each (ids escape tabs/newlines as JSON would)."""
        from pipeline.s7_write.atomic import write_atomic
        from pipeline.s7_write.safe_json import safe_str

        lines = (f"{digest}\t{safe_str(doc_id).encode('unicode_escape').decode('ascii')}\n"
                 for digest, doc_id in sorted(getattr(self, "_new", {}).items()))
        write_atomic(Path(delta_dir) / DELTA_FILE, "".join(lines).encode("ascii"))

    def commit(self, state_dir, delta_dir) -> None:
        delta = Path(delta_dir) / DELTA_FILE
        if not delta.exists():
            return
        rows = []
        for line in delta.read_text(encoding="ascii").splitlines():
            digest, _, doc_id = line.partition("\t")
            rows.append((bytes.fromhex(digest), doc_id.encode("ascii").decode("unicode_escape")))
        with sqlite3.connect(Path(state_dir) / INDEX_FILE, isolation_level=None) as db:
            db.execute("CREATE TABLE IF NOT EXISTS kept (hash BLOB PRIMARY KEY, id TEXT NOT NULL)")
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR IGNORE INTO kept VALUES (?, ?)", rows)  # idempotent: redo is a no-op
            checkpoint("index_commit")  # tests kill here: the transaction must roll back on the next open
            db.execute("COMMIT")
        db.close()


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
