"""State shared by the runs of one corpus (OUTPUT/state/): the processed-inputs
store and the one-writer lock.

The store is SQLite (`inputs.sqlite`), so that applying a run is one
transaction: either all of a run's inputs are recorded, with the run marked
applied, or none are. A run is applied only after its manifest exists (see the
commit protocol in `pipeline/runner.py`), so a rerun never reprocesses the
inputs of a finished run, and never skips those of an unfinished one.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import socket
import sqlite3
import stat
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.faults import checkpoint
from pipeline.s7_write.safe_json import safe_str

STORE_FILE = "inputs.sqlite"
LOCK_FILE = "run.lock"


def input_key(path: str | Path) -> str:
    """The store's key of an input file: its absolute real path (the same from any working directory)."""
    return safe_str(os.path.realpath(path))


@dataclass(frozen=True)
class Processed:
    """What the store remembers of one input: the version processed and the run that did it."""

    key: str
    size: int
    xxh3_128: str
    run_id: str
    input_path: str  # path relative to its input root, as in the records' metadata.input_path


class InputLookup(Protocol):
    """What deciding which inputs to process needs of the store (a corpus without one: every input new)."""

    def get(self, key: str) -> Processed | None: ...


class InputStore:
    """Processed inputs: key -> (size, content hash, run id, input_path); and the runs applied."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / STORE_FILE
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS inputs (
                key TEXT PRIMARY KEY, size INTEGER NOT NULL, xxh3_128 TEXT NOT NULL,
                run_id TEXT NOT NULL, input_path TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, applied TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS copies (dup_of TEXT NOT NULL, key TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS copies_dup_of ON copies (dup_of);
        """)

    @classmethod
    def read_only(cls, state_dir: Path) -> InputStore | None:
        """The store opened read-only (`run --dry-run`), or None when the corpus has none yet."""
        path = Path(state_dir) / STORE_FILE
        if not path.is_file():
            return None
        store = cls.__new__(cls)
        store.path, store._db = path, sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> InputStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, key: str) -> Processed | None:
        row = self._db.execute(
            "SELECT key, size, xxh3_128, run_id, input_path FROM inputs WHERE key = ?", (key,)
        ).fetchone()
        return Processed(*row) if row else None

    def check(self) -> str:
        """SQLite's quick integrity check: "ok", or what is wrong (the store is small: one row per input)."""
        return self._db.execute("PRAGMA quick_check").fetchone()[0]

    def is_applied(self, run_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def applied_runs(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT run_id FROM runs ORDER BY run_id")]

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0]

    def inputs_with_copies_of(self, ids: Iterable[str]) -> set[str]:
        """Keys of the inputs that hold a document dropped as a duplicate of one of `ids`."""
        keys: set[str] = set()
        for doc_id in ids:
            keys.update(
                key for (key,) in self._db.execute("SELECT key FROM copies WHERE dup_of = ?", (doc_id,))
            )
        return keys

    def keys(self) -> list[Processed]:
        rows = self._db.execute("SELECT key, size, xxh3_128, run_id, input_path FROM inputs ORDER BY key")
        return [Processed(*row) for row in rows]

    def apply_run(
        self,
        run_id: str,
        inputs: Iterable[dict],
        copies: Iterable[tuple[str, str]] = (),
        removed: Iterable[str] = (),
    ) -> None:
        """Record the inputs of a finished run, the duplicates it dropped ((dup_of, input key): which
        inputs to process again when that original leaves the corpus) and the inputs it retired
        (`removed` keys: gone from the input folder), and mark it applied, in one transaction
        (idempotent)."""
        with closing(self._db.cursor()) as cur:
            cur.execute("BEGIN IMMEDIATE")
            try:
                if self.is_applied(run_id):  # applied already (a redo): changes nothing
                    cur.execute("ROLLBACK")
                    return
                for key in removed:
                    cur.execute("DELETE FROM inputs WHERE key = ?", (key,))
                    cur.execute("DELETE FROM copies WHERE key = ?", (key,))
                for entry in inputs:
                    cur.execute(
                        "DELETE FROM copies WHERE key = ?", (entry["key"],)
                    )  # its records were redone
                    if (
                        entry.get("xxh3_128") is None
                    ):  # unreadable input: nothing to remember, retried next run
                        continue
                    cur.execute(
                        "INSERT OR REPLACE INTO inputs VALUES (?, ?, ?, ?, ?)",
                        (entry["key"], entry["size"], entry["xxh3_128"], run_id, entry["input_path"]),
                    )
                cur.executemany("INSERT INTO copies VALUES (?, ?)", copies)
                checkpoint(
                    "state_apply"
                )  # inside the transaction: a kill here must leave the store unchanged
                cur.execute(
                    "INSERT OR IGNORE INTO runs VALUES (?, ?)",
                    (run_id, dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")),
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise


# --- one writer at a time ----------------------------------------------------------------


class LockHeld(RuntimeError):
    """Another run holds the corpus lock."""


class StateError(RuntimeError):
    """OUTPUT/state/ or the runs are damaged in a way a run must not paper over, and could not be
    rebuilt from the corpus (one-line reason; nothing was run)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """OUTPUT/state/run.lock: one run writes to a corpus at a time.

    Mutual exclusion is an exclusive `flock` on the file, which the kernel
    releases when the holder dies, even by SIGKILL; the file also says who holds
    it (pid, host, start time) for the refusal message. A lock file whose holder
    is gone is stale: it is taken over and reported (`stale`). Where `flock` is not
    supported (some network file systems) the holder's pid is checked instead.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None
        self.stale: dict | None = None  # the dead holder's record, when the lock was stale
        os.register_at_fork(after_in_child=self._forget_in_child)

    def acquire(self) -> RunLock:
        while True:
            try:  # O_NOFOLLOW: a symlink planted as the lock must not make us truncate its target
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise StateError(
                        f"{self.path} is a symbolic link; refusing to use it as the lock (remove it)"
                    ) from None
                raise
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise StateError(
                    f"{self.path} is not a regular file; refusing to use it as the lock (remove it)"
                )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_lock(fd)
                os.close(fd)
                raise LockHeld(
                    f"{self.path} is held by {_describe(holder)}; another run is writing to this "
                    "corpus (wait for it to finish)"
                ) from None
            except OSError as exc:
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    os.close(fd)
                    raise
                holder = _read_lock(fd)  # no flock here: trust the pid on this host
                if (
                    holder
                    and holder.get("host") == socket.gethostname()
                    and _pid_alive(int(holder.get("pid", 0)))
                    and int(holder.get("pid", 0)) != os.getpid()
                ):
                    os.close(fd)
                    raise LockHeld(f"{self.path} is held by {_describe(holder)}") from None
            # the previous holder may have removed the file between our open() and flock(): retry on the new one
            try:
                same_file = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same_file = False
            if not same_file:
                os.close(fd)
                continue
            previous = _read_lock(fd)
            if previous:  # a holder that left its record behind died without releasing: stale
                self.stale = previous
            record = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
            os.fsync(fd)
            self.fd = fd
            return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # unlink while still holding, so no one locks a dying file
        finally:
            os.close(self.fd)
            self.fd = None

    def _forget_in_child(self) -> None:
        # a forked worker must not keep the lock alive after the run that holds it is killed
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_lock(fd: int) -> dict | None:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data.strip() else None
    except (OSError, ValueError):
        return {"pid": "?", "host": "?", "started": "?"}  # unreadable record: still someone's lock


def _describe(holder: dict | None) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"
