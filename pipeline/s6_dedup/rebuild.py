"""Rebuild near_dedup's cross-run index from the corpus (a missing, stale or corrupt index).

The kept records hold what the map phase computed the near keys from (title and
text), so the index is made again as the runs' commits made it: one run after
the other, each run's documents in keep order (earliest `created`, then the
order the run wrote them, which is input order). The new index is built beside
the old one and moved into place at the end, so a kill leaves the old one.
Memory: one run's signatures and shingle sets at a time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from pipeline.document import Document
from pipeline.s6_dedup.corpus_state import Digest, kept_by_run
from pipeline.s6_dedup.index import _SCHEMA, INDEX_FILE, apply_delta, write_delta
from pipeline.s6_dedup.lsh import band_keys
from pipeline.s6_dedup.sharded import BANDS, write_digest, write_segment
from pipeline.s7_write.atomic import write_atomic


def near_rows(step, records) -> list[tuple]:
    """(id, created, signature, shingles) of the records that have a near key, in keep order."""
    rows = []
    for position, record in enumerate(records):
        title = (record.get("metadata") or {}).get("title")
        key = step.key(Document(id=record["id"], text=record["text"], metadata={"title": title}))
        if key is None:
            continue
        created = record.get("created")
        rows.append(((created is None, created or "", position), record["id"], created, key[0], key[1]))
    rows.sort(key=lambda row: row[0])
    return [row[1:] for row in rows]


def rebuild_near(step, state_dir: Path, output: Path) -> None:
    if step.mode == "sharded":
        _rebuild_segments(step, state_dir, output)
    else:
        _rebuild_sqlite(step, state_dir, output)


def _rebuild_sqlite(step, state_dir: Path, output: Path) -> None:
    index_dir = step.index_dir(state_dir)
    work = index_dir.parent / f".{index_dir.name}.rebuild"
    shutil.rmtree(work, ignore_errors=True)
    ids: list[str] = []
    for run, records in kept_by_run(output):
        rows = near_rows(step, _counting(records, ids))
        if rows:
            keys = band_keys(np.stack([row[2] for row in rows]), step.bands, step.rows)
            write_delta(work / "delta" / run.id, step.params, rows, keys)
            apply_delta(work / "index", work / "delta" / run.id, step.params)
            shutil.rmtree(work / "delta" / run.id)
    apply_delta_digest(work / "index" / INDEX_FILE, step.params, Digest.of(ids))
    index_dir.mkdir(parents=True, exist_ok=True)
    os.replace(work / "index" / INDEX_FILE, index_dir / INDEX_FILE)
    shutil.rmtree(work, ignore_errors=True)


def apply_delta_digest(path: Path, params: dict, digest: Digest) -> None:
    """Set the corpus digest of a SQLite near index (created empty when there was nothing to add)."""
    import sqlite3
    from contextlib import closing

    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript(_SCHEMA)
        if not db.execute("SELECT 1 FROM meta LIMIT 1").fetchone():
            db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in params.items()])
        db.execute(
            "INSERT OR REPLACE INTO corpus VALUES (1, ?, ?)", (digest.documents, digest.as_dict()["sum"])
        )


def _counting(records, ids: list[str]):
    for record in records:
        ids.append(record["id"])
        yield record


def _rebuild_segments(step, state_dir: Path, output: Path) -> None:
    index_dir = step.index_dir(state_dir)
    root = index_dir / BANDS
    work = index_dir / f".{BANDS}.rebuild"
    shutil.rmtree(work, ignore_errors=True)
    ids: list[str] = []
    for run, records in kept_by_run(output):
        rows = near_rows(step, _counting(records, ids))
        if rows:
            write_segment(step, work / "segments" / run.id, run.id, rows)
    (work / "segments").mkdir(parents=True, exist_ok=True)
    write_atomic(work / "meta.json", json.dumps(step.params, sort_keys=True).encode())
    write_digest(work, Digest.of(ids))
    old = index_dir / f".{BANDS}.old"
    shutil.rmtree(old, ignore_errors=True)
    if root.exists():
        os.replace(root, old)
    os.replace(work, root)
    shutil.rmtree(old, ignore_errors=True)
