"""The report's figures from the shard lines as the filter writes them, in a forked child.

The run's filter writes every kept and rejected record through a shard writer whose thread
compresses the lines; that thread also copies them into a pipe (`Tee`) to the report's child
process, which parses them while the filter goes on. The child so needs neither to wait for
the shards nor to inflate them again, and the driver never waits for it after the filter.
The child sees exactly the bytes of the shards, in their order: its figures are those of
reading the shards (`collect.collect_records`).

The figures take the kept records first, then the rejected ones (one seeded generator draws
the samples of both, in that order), but the filter writes both at once: the child spools the
rejects' lines to an unlinked temporary file while it reads the kept ones, then reads them.
"""

from __future__ import annotations

import fcntl
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PIPE_BYTES = 1 << 20  # the pipes' buffer (Linux allows 1 MB unprivileged): fewer waits on each side
READ_BYTES = 1 << 20


class Tee:
    """A pipe's write end, handed every chunk of a shard writer's lines (in its writer thread),
    which a thread of its own writes into the pipe: the shard writer never waits for the child,
    unless the child is `QUEUED` chunks behind (memory stays bounded). A child that is gone
    (EPIPE) only ends the copies (`broken`): the report then reads the shards."""

    QUEUED = 64  # chunks (BackgroundShardWriter.CHUNK, 1 MB) waiting for the pipe at most

    def __init__(self, fd: int):
        self.fd, self.broken = fd, False
        self._queue: queue.Queue = queue.Queue(maxsize=self.QUEUED)
        self._thread: threading.Thread | None = None
        self._ended = False

    def __call__(self, data: bytes) -> None:
        if self.broken or self.fd < 0:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._send, name="report-feed", daemon=True)
            self._thread.start()
        self._queue.put(data)

    def _send(self) -> None:
        while (data := self._queue.get()) is not None:
            view = memoryview(data)
            try:
                while view and not self.broken:
                    view = view[os.write(self.fd, view) :]
            except OSError:
                self.broken = True  # the rest is taken off the queue and dropped
        self._close_fd()

    def end(self) -> None:
        """The end of the lines: the pipe is closed once the queued ones are through (the child
        then reads EOF); this does not wait for it."""
        if self._thread is None:
            self._close_fd()
        elif not self._ended:
            self._queue.put(None)
        self._ended = True

    def close(self) -> None:
        """End, and wait for the queued lines to be written (or dropped, the child gone)."""
        self.end()
        if self._thread is not None:
            self._thread.join()

    def _close_fd(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Feed:
    """The two pipes to the report's child: the kept shards' lines, the reject shards' lines."""

    def __init__(self) -> None:
        self._read: list[int] = []
        self.kept = self.rejects = Tee(-1)
        try:
            kept_r, kept_w = os.pipe()
            self._read.append(kept_r)
            self.kept = Tee(kept_w)
            rejects_r, rejects_w = os.pipe()
            self._read.append(rejects_r)
            self.rejects = Tee(rejects_w)
        except OSError:  # out of file descriptors: nothing left open
            self.close()
            raise
        for fd in (kept_w, rejects_w):
            _grow_pipe(fd)

    @property
    def read_ends(self) -> tuple[int, int]:
        return self._read[0], self._read[1]

    @property
    def broken(self) -> bool:
        """Some lines did not reach the child: its figures would not be the shards'."""
        return self.kept.broken or self.rejects.broken

    def close_read_ends(self) -> None:
        """In the run process once the child is forked: the child holds the only read ends."""
        for fd in self._read:
            os.close(fd)
        self._read = []

    def end(self) -> None:
        """No more lines (`Tee.end`)."""
        self.kept.end()
        self.rejects.end()

    def close(self) -> None:
        self.kept.close()
        self.rejects.close()
        self.close_read_ends()


def _grow_pipe(fd: int) -> None:
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except OSError:  # not Linux, or above /proc/sys/fs/pipe-max-size: the default buffer works too
        pass


def collect_fed(run_dir: Path, feed: Feed, spool_dir: Path):
    """In the child: the figures of the lines the two pipes carry (RunFigures without the manifest)."""
    from pipeline.report import collect

    feed.end()  # this process's copies of the write ends: while open, the pipes never end
    kept_fd, rejects_fd = feed.read_ends
    spooler = _Spooler(rejects_fd, spool_dir)
    with open(kept_fd, "rb", buffering=READ_BYTES) as kept:
        return collect.collect_lines(run_dir, kept, spooler.lines())


class _Spooler:
    """Reads the rejects' pipe into an unlinked temporary file in a thread of its own (so that the
    filter's reject writer never waits on a full pipe), and gives its lines once it ends."""

    def __init__(self, fd: int, spool_dir: Path):
        self._file: BinaryIO = tempfile.TemporaryFile(dir=spool_dir)
        self._fd = fd
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._copy, name="report-rejects", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            while data := os.read(self._fd, READ_BYTES):
                self._file.write(data)
        except BaseException as exc:  # raised by records(), in the child's main thread
            self._error = exc
        finally:
            os.close(self._fd)

    def lines(self) -> Iterator[bytes]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._file.seek(0)
        with self._file:
            yield from self._file
