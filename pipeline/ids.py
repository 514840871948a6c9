"""Document ids unique across the corpus: a collision is an error record, never a second record.

Ids come from the inputs (see README, "Document ids"): a file's path relative to its input
folder, a JSONL record's own id field, a WARC record id. Two inputs can still give the same
id: JSONL files that reuse record ids, or `-i crawl/day1` tonight and `-i crawl/day2`
tomorrow, each holding `index.txt`. Kept twice, such ids would make one article shadow the
other in every reader keyed by id. So before deduplication the run checks every candidate's
id against the candidates before it in this run and against the ids earlier runs kept
(OUTPUT/state/ids.sqlite); a document whose id belongs to another input becomes an error
record `duplicate_id`, naming that input. An input processed again (changed, or
`--reprocess`) owns its ids: its new records replace its old ones.

The registry stores 64-bit hashes of ids and input keys (about 50 bytes a document; a
lookup costs ~20 µs, 2 s per 100k candidates against a registry of 100k); it is
staged and committed with the run like the dedup indexes (`pipeline/runner.py`).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import orjson
import xxhash

from pipeline import gcpause
from pipeline.s7_write.atomic import write_atomic
from pipeline.step import DocRef, Drop

REGISTRY = "ids.sqlite"
DELTA = "_ids"  # OUTPUT/runs/<run-id>/delta/_ids/ids.json
REASON = "duplicate_id"


def _h(text: str) -> int:
    """A signed 64-bit hash (SQLite integers are signed)."""
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass")) - (1 << 63)


def text_hash(text: str) -> int:
    """Hash of a document's final text: the same id with the same text is one document, not a collision."""
    return _h(text)


class IdCheck:
    """One run's id check: `check(refs)` names the collisions, `stage()` what the registry gains."""

    def __init__(self, state_dir: Path, owned_keys: Iterable[str]):
        self.path = Path(state_dir) / REGISTRY
        self.owned = {
            _h(key) for key in owned_keys
        }  # inputs this run reads: their old ids are theirs to reuse
        self.keys: dict[int, str] = {}
        self.seen: dict[int, tuple[int, int]] = {}  # id hash -> (key hash, text hash), this run's candidates
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) if self.path.exists() else None

    def check(self, refs: Iterable[tuple[DocRef, str, int]]) -> list[Drop]:
        """Drops for the (ref, input key, text hash) triples, in input order, whose id another input
        (or an earlier record of the same input) already has for another text. The same id with the
        same text is the same document again (a WARC record copied into two archives): not a
        collision, exact_dedup drops the copy."""
        drops = []
        last_key, key_hash = None, None
        for ref, key, text in refs:
            if key_hash is None or key != last_key:  # (an input's documents come together: hashed once)
                last_key, key_hash = key, _h(key)
                self.keys.setdefault(key_hash, key)
            id_hash = _h(ref.id)
            other = self.seen.get(id_hash)
            if other is None:
                registered = self._registered(id_hash)
                if registered is None or registered[0] == key_hash or registered[0] in self.owned:
                    self.seen[id_hash] = (
                        key_hash,
                        text,
                    )  # new, its own id again, or freed by an input read again
                    continue
                if registered[2] == text:
                    continue
                where = f"{registered[1]} (an earlier run)"
            elif other[1] == text:
                continue
            elif (
                other[0] == key_hash
            ):  # twice in one input (a JSONL file repeating an id): the first keeps it
                where = f"an earlier record of {key}"
            else:
                where = self.keys[other[0]]
            drops.append(
                Drop(ref.order, REASON, f"id {ref.id!r} is already the id of another document, from {where}")
            )
        return drops

    def _registered(self, id_hash: int) -> tuple[int, str, int | None] | None:
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT ids.key, keys.path, ids.text FROM ids JOIN keys ON keys.key = ids.key WHERE ids.id = ?",
            (id_hash,),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def stage(self, delta_root: Path) -> None:
        """Write what the registry gains: every id this run checked (collisions excluded), and the
        inputs whose earlier ids it replaces."""
        if self._db is not None:
            self._db.close()
            self._db = None
        delta = Path(delta_root) / DELTA
        delta.mkdir(parents=True, exist_ok=True)
        with gcpause.paused():  # one acyclic list per id: a collection would only walk the heap
            data = orjson.dumps(
                {
                    "owned": sorted(self.owned),
                    "keys": {str(k): v for k, v in self.keys.items()},
                    # (id hashes are unique here: sorting them orders the rows as sorting the rows would)
                    "ids": [[id_hash, *self.seen[id_hash]] for id_hash in sorted(self.seen)],
                }
            )
        write_atomic(delta / "ids.json", data)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def is_error(drop: Drop) -> bool:
    """A collision is an error record (the input is at fault), not a filter decision."""
    return drop.reason == REASON


_SCHEMA = """
    CREATE TABLE IF NOT EXISTS ids (id INTEGER PRIMARY KEY, key INTEGER NOT NULL, text INTEGER);
    CREATE INDEX IF NOT EXISTS ids_by_key ON ids (key);
    CREATE TABLE IF NOT EXISTS keys (key INTEGER PRIMARY KEY, path TEXT NOT NULL);
"""


def registry_problem(state_dir: Path, corpus_has_runs: bool) -> str | None:
    """Why the registry cannot be used (missing while the corpus has runs, unreadable, damaged), or None."""
    path = Path(state_dir) / REGISTRY
    if not path.exists():
        return f"{path} is missing" if corpus_has_runs else None
    from pipeline.s6_dedup.exact import QUICK_CHECK_BYTES

    verdict = "ok"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            db.execute("SELECT 1 FROM ids JOIN keys ON keys.key = ids.key LIMIT 1").fetchone()
            if path.stat().st_size <= QUICK_CHECK_BYTES:  # a bounded cost at start, as for the dedup indexes
                verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        db.close()
    except sqlite3.DatabaseError as exc:
        return f"{path} is unreadable ({exc})"
    return None if verdict == "ok" else f"{path} fails its integrity check ({verdict})"


def rebuild(output: Path, state_dir: Path) -> None:
    """The registry from the corpus: the id of every kept record and the key of the input it came
    from (the run's manifest lists each input's path relative to its root and its key). A damaged
    registry is set aside first (`ids.sqlite.corrupt-<time>`)."""
    from pipeline.corpus import iter_kept

    path = Path(state_dir) / REGISTRY
    if path.exists():
        os.replace(
            path, path.with_name(f"{REGISTRY}.corrupt-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}")
        )
    keys_of_run: dict[str, dict[str, str]] = {}
    ids, keys = {}, {}
    for run, record in iter_kept(output):
        key_of = keys_of_run.get(run.id)
        if key_of is None:
            key_of = keys_of_run[run.id] = {
                e.get("input_path"): e.get("key") or e.get("path") for e in run.manifest.get("inputs", [])
            }
        input_path = (record.get("metadata") or {}).get("input_path") or ""
        key = key_of.get(input_path) or key_of.get(input_path.rpartition("#")[0]) or input_path
        ids[_h(record["id"])] = (_h(key), text_hash(record.get("text") or ""))
        keys[_h(key)] = key
    tmp = path.with_name(f".{REGISTRY}.rebuild-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp, isolation_level=None) as db:
        db.executescript(_SCHEMA)
        db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO keys VALUES (?, ?)", keys.items())
        db.executemany(
            "INSERT OR REPLACE INTO ids VALUES (?, ?, ?)", [(i, k, t) for i, (k, t) in ids.items()]
        )
        db.execute("COMMIT")
    db.close()
    os.replace(tmp, path)


def commit(state_dir: Path, delta_root: Path) -> None:
    """Apply a finished run's staged ids (idempotent: the same rows replace themselves)."""
    staged = Path(delta_root) / DELTA / "ids.json"
    if not staged.exists():
        return
    data = orjson.loads(staged.read_bytes())
    with sqlite3.connect(Path(state_dir) / REGISTRY, isolation_level=None) as db:
        db.executescript(_SCHEMA)
        db.execute("BEGIN IMMEDIATE")
        try:
            # an input read again replaces all its ids: those its new version no longer has are freed
            db.executemany("DELETE FROM ids WHERE key = ?", [(k,) for k in data["owned"]])
            db.executemany(
                "INSERT OR REPLACE INTO keys VALUES (?, ?)", [(int(k), v) for k, v in data["keys"].items()]
            )
            db.executemany("INSERT OR REPLACE INTO ids VALUES (?, ?, ?)", [tuple(row) for row in data["ids"]])
            for part in sorted(staged.parent.glob("ids-part-*.npy")):  # sharded id check: one per range
                rows = np.load(part, mmap_mode="r")  # (id, key, text) int64, inserted in slices
                for start in range(0, len(rows), 50_000):
                    chunk = rows[start : start + 50_000].tolist()
                    db.executemany("INSERT OR REPLACE INTO ids VALUES (?, ?, ?)", chunk)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    db.close()
