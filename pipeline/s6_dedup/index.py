"""The persistent near-dedup index: what earlier runs kept, in one SQLite file.

Layout (`<index_dir>/index.sqlite`):

- `meta`: the parameters the index was built with (n-gram size, permutations,
  seed, banding, hash scheme); a run with other parameters is refused, since
  its signatures would not compare;
- `docs`: one row per kept document: `seq` (its number in the index), id,
  created, the signature and the shingle hash set (for exact verification);
- `bands`: per segment (one per applied run, merged when they pile up) and band,
  the sorted band keys and their `seq`s as two numpy blobs. A query loads one
  band at a time, so RAM holds 12 bytes per indexed document at most, while the
  shingle sets stay on disk and are read only for candidate pairs;
- `applied`: the deltas already applied, so applying one twice changes nothing.

A run writes its additions to a delta (`delta.sqlite`, the same tables, `seq`
local to the delta) staged in the run directory before the manifest; commit
applies it in one transaction. A run killed before that leaves the index as it
was; a run killed during it leaves it as it was too (SQLite rolls back).
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import numpy as np

from pipeline.config import ConfigError
from pipeline.faults import checkpoint

INDEX_FILE = "index.sqlite"
DELTA_FILE = "delta.sqlite"
MAX_SEGMENTS = 16  # merge the per-run band segments beyond this many
PAGE_SIZE = 16384

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, created TEXT,
                                 signature BLOB NOT NULL, shingles BLOB);
CREATE TABLE IF NOT EXISTS bands (segment INTEGER NOT NULL, band INTEGER NOT NULL, keys BLOB NOT NULL,
                                  seqs BLOB NOT NULL, PRIMARY KEY (segment, band));
CREATE TABLE IF NOT EXISTS applied (delta TEXT PRIMARY KEY);
CREATE INDEX IF NOT EXISTS docs_id ON docs (id);
CREATE TABLE IF NOT EXISTS corpus (one INTEGER PRIMARY KEY CHECK (one = 1), documents INTEGER NOT NULL,
                                   sum TEXT NOT NULL);
"""


class IndexMismatch(ConfigError):
    """The index on disk was built with other parameters (a config error: reported in one line)."""


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        # a new file's pages: 16 KB holds a document's row (signature and shingles, ~4 KB) without
        # overflow pages, which makes writing a delta and copying it into the index ~30 % and
        # ~50 % cheaper; an existing file keeps its page size (SQLite ignores this then)
        db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    db.execute("PRAGMA cache_size = -8192")  # 8 MB page cache: RAM stays flat as the index grows
    return db


def _check_params(db: sqlite3.Connection, params: dict, where: Path) -> None:
    stored = dict(db.execute("SELECT key, value FROM meta").fetchall())
    wanted = {k: str(v) for k, v in params.items()}
    if stored and stored != wanted:
        diff = ", ".join(
            f"{k}: index {stored.get(k)!r}, config {wanted.get(k)!r}"
            for k in sorted(set(stored) | set(wanted))
            if stored.get(k) != wanted.get(k)
        )
        raise IndexMismatch(
            f"{where}: near_dedup index built with other parameters ({diff}); "
            "use the same options, or another near_dedup.index_dir"
        )


class NearIndex:
    """Read side, used by reduce: band lookups and the stored shingle sets/signatures."""

    def __init__(self, index_dir: Path | None, params: dict):
        """`index_dir` None: an empty index (nothing persisted)."""
        self.path = Path(index_dir) / INDEX_FILE if index_dir is not None else None
        self.db = None
        self.size = 0
        if self.path is not None and self.path.exists():
            self.db = _connect(self.path, readonly=True)
            _check_params(self.db, params, self.path)
            self.size = self.db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def band(self, band: int) -> tuple[np.ndarray, np.ndarray]:
        """(sorted keys uint64, seqs int64) of one band over every segment."""
        if self.db is None:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        rows = self.db.execute(
            "SELECT keys, seqs FROM bands WHERE band = ? ORDER BY segment", (band,)
        ).fetchall()
        if not rows:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        keys = np.concatenate([np.frombuffer(k, dtype=np.uint64) for k, _ in rows])
        seqs = np.concatenate([np.frombuffer(s, dtype=np.int64) for _, s in rows])
        if len(rows) > 1:
            order = np.argsort(keys, kind="stable")
            keys, seqs = keys[order], seqs[order]
        return keys, seqs

    def doc(self, seq: int) -> tuple[str, np.ndarray, np.ndarray | None]:
        """(id, signature uint32, shingle hashes uint32 or None) of an indexed document."""
        assert self.db is not None, "doc() of an index that has no documents"
        doc_id, signature, shingles = self.db.execute(
            "SELECT id, signature, shingles FROM docs WHERE seq = ?", (int(seq),)
        ).fetchone()
        return (
            doc_id,
            np.frombuffer(signature, dtype=np.uint32),
            None if shingles is None else np.frombuffer(shingles, dtype=np.uint32),
        )


def write_delta(delta_dir: Path, params: dict, docs, band_keys, bands: int | None = None) -> None:
    """Stage a run's additions: `docs` yields (id, created, signature, shingles), the last two as
    uint32 arrays or their bytes, in the order of the rows of `band_keys`: an (n, bands) uint64
    array, or a function band -> that band's n keys (with `bands`), so that one band at a time is
    in memory."""
    if callable(band_keys):
        assert bands is not None, "a function of band keys comes with `bands`"
        key_of, n_bands = band_keys, bands
    else:
        key_of, n_bands = (lambda band: band_keys[:, band]), band_keys.shape[1]
    path = Path(delta_dir) / DELTA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{DELTA_FILE}.tmp")
    tmp.unlink(missing_ok=True)
    with closing(_connect(tmp)) as db:
        db.executescript(_SCHEMA)
        db.execute("BEGIN")
        db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in params.items()])
        db.execute("INSERT INTO applied VALUES (?)", (uuid.uuid4().hex,))  # this delta's own id
        db.executemany(
            "INSERT INTO docs VALUES (?, ?, ?, ?, ?)",
            (
                (seq, doc_id, created, _blob(sig), None if sh is None else _blob(sh))
                for seq, (doc_id, created, sig, sh) in enumerate(docs)
            ),
        )
        for band in range(n_bands):
            keys = np.asarray(key_of(band), dtype=np.uint64)
            order = np.argsort(keys, kind="stable")
            db.execute(
                "INSERT INTO bands VALUES (0, ?, ?, ?)",
                (band, keys[order].tobytes(), order.astype(np.int64).tobytes()),
            )
            del keys, order
        db.execute("COMMIT")
    tmp.replace(path)


def _blob(values) -> bytes | memoryview:
    """A signature or shingle set as the bytes of its uint32s (bytes given are those already)."""
    if isinstance(values, (bytes, memoryview)):
        return values
    return np.asarray(values, np.uint32).tobytes()


def apply_delta(index_dir: Path, delta_dir: Path, params: dict, retired=(), digest=None) -> int:
    """Remove the `retired` ids, add a staged delta and set the corpus `digest`, in one transaction;
    idempotent. Returns documents added."""
    delta = Path(delta_dir) / DELTA_FILE
    if not delta.exists():
        return 0
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with closing(_connect(index_dir / INDEX_FILE)) as db:
        db.executescript(_SCHEMA)
        db.execute("ATTACH DATABASE ? AS delta", (str(delta),))
        (delta_id,) = db.execute("SELECT delta FROM delta.applied").fetchone()
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM applied WHERE delta = ?", (delta_id,)).fetchone():
                db.execute("ROLLBACK")
                return 0
            if not db.execute("SELECT 1 FROM meta LIMIT 1").fetchone():
                db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in params.items()])
            _check_params(db, params, index_dir / INDEX_FILE)
            _remove_ids(db, retired)
            base = db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM docs").fetchone()[0]
            added = db.execute(
                "INSERT INTO docs SELECT seq + ?, id, created, signature, shingles FROM delta.docs", (base,)
            ).rowcount
            segment = db.execute("SELECT COALESCE(MAX(segment) + 1, 0) FROM bands").fetchone()[0]
            bands = [b for (b,) in db.execute("SELECT band FROM delta.bands ORDER BY band").fetchall()]
            for band in bands:  # one band's blobs in memory at a time
                keys, seqs = db.execute(
                    "SELECT keys, seqs FROM delta.bands WHERE band = ?", (band,)
                ).fetchone()
                shifted = np.frombuffer(seqs, dtype=np.int64) + base
                db.execute("INSERT INTO bands VALUES (?, ?, ?, ?)", (segment, band, keys, shifted.tobytes()))
                del keys, seqs, shifted
            _merge_segments(db)
            if digest is not None:
                db.execute(
                    "INSERT OR REPLACE INTO corpus VALUES (1, ?, ?)",
                    (digest.documents, digest.as_dict()["sum"]),
                )
            db.execute("INSERT INTO applied VALUES (?)", (delta_id,))
            checkpoint(
                "near_index_commit"
            )  # tests kill here: the transaction must roll back on the next open
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return added


def _remove_ids(db: sqlite3.Connection, ids) -> None:
    """Documents retired by a changed input leave the docs table and every band's seqs."""
    seqs = []
    for doc_id in ids:
        seqs += [seq for (seq,) in db.execute("SELECT seq FROM docs WHERE id = ?", (doc_id,))]
    if not seqs:
        return
    gone = np.array(sorted(seqs), dtype=np.int64)
    db.executemany("DELETE FROM docs WHERE seq = ?", ((int(seq),) for seq in gone))
    for segment, band, keys, seqs_blob in db.execute(
        "SELECT segment, band, keys, seqs FROM bands"
    ).fetchall():
        band_seqs = np.frombuffer(seqs_blob, dtype=np.int64)
        keep = ~np.isin(band_seqs, gone)
        if not keep.all():
            db.execute(
                "UPDATE bands SET keys = ?, seqs = ? WHERE segment = ? AND band = ?",
                (
                    np.frombuffer(keys, dtype=np.uint64)[keep].tobytes(),
                    band_seqs[keep].tobytes(),
                    segment,
                    band,
                ),
            )


def _merge_segments(db: sqlite3.Connection) -> None:
    """One segment per band again when too many runs have piled up (keeps band loads to one sort)."""
    count = db.execute("SELECT COUNT(DISTINCT segment) FROM bands").fetchone()[0]
    if count <= MAX_SEGMENTS:
        return
    bands = [b for (b,) in db.execute("SELECT DISTINCT band FROM bands ORDER BY band").fetchall()]
    for band in bands:
        rows = db.execute("SELECT keys, seqs FROM bands WHERE band = ? ORDER BY segment", (band,)).fetchall()
        keys = np.concatenate([np.frombuffer(k, dtype=np.uint64) for k, _ in rows])
        seqs = np.concatenate([np.frombuffer(s, dtype=np.int64) for _, s in rows])
        order = np.argsort(keys, kind="stable")
        db.execute("DELETE FROM bands WHERE band = ?", (band,))
        db.execute(
            "INSERT INTO bands VALUES (0, ?, ?, ?)", (band, keys[order].tobytes(), seqs[order].tobytes())
        )


def index_stats(index_dir: Path) -> dict:
    path = Path(index_dir) / INDEX_FILE
    if not path.exists():
        return {"documents": 0, "bytes_on_disk": 0}
    with closing(_connect(path, readonly=True)) as db:
        docs = db.execute("SELECT COUNT(*) FROM docs").fetchone()[0]
        segments = db.execute("SELECT COUNT(DISTINCT segment) FROM bands").fetchone()[0]
    return {"documents": docs, "segments": segments, "bytes_on_disk": path.stat().st_size}
