"""JSONL shard writer (gzip by default, or zstd, or none), rotating every `shard_size` records.

Each shard is written under a temp name and renamed when complete (or, for a URL,
uploaded in one piece: `pipeline/fs.py`); the compressed streams carry no time
stamp, so the same records give byte-identical shards.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from pipeline.config import RUN_DEFAULTS
from pipeline.fs import SUFFIX, RemoteHashingFile, compressing, hashing_file, join
from pipeline.s7_write.atomic import HashingFile


class ShardWriter:
    def __init__(
        self,
        directory: Path | str,
        prefix: str,
        shard_size: int,
        compression: str = RUN_DEFAULTS["compression"],
        compresslevel: int = RUN_DEFAULTS["compresslevel"],
    ):
        self.directory, self.prefix, self.shard_size = directory, prefix, shard_size
        self.compression, self.compresslevel = compression, compresslevel
        self._pool: ThreadPoolExecutor | None = None  # gzip's blocks compressed side by side (fs.BlockGzip)
        self.shards: list[dict] = []
        self._file: HashingFile | RemoteHashingFile | None = None  # pipeline/fs.py: hashing_file
        self._stream: Any = None  # the gzip/zstd writer over _file, or _file itself
        self._count = 0

    def _open(self) -> None:
        name = f"{self.prefix}-{len(self.shards):05d}.jsonl{SUFFIX[self.compression]}"
        self._file = hashing_file(join(str(self.directory), name))
        self._stream = compressing(self._file, self.compression, self.compresslevel, self._pool)
        self.shards.append({"file": name, "records": 0})
        self._count = 0

    def write(self, record: dict) -> None:
        self.write_line(orjson.dumps(record) + b"\n")

    def write_line(self, line: bytes) -> None:
        """Write one already-serialized JSON line (ending in a newline)."""
        if self._file is None:
            self._open()
        self._stream.write(line)
        self._count += 1
        if self._count >= self.shard_size:
            self._finish()

    def write_lines(self, lines: list[bytes]) -> None:
        """Write serialized JSON lines, as `write_line` each, in fewer calls (the same bytes: a
        compressed stream does not depend on how its input is cut into writes)."""
        at = 0
        while at < len(lines):
            if self._file is None:
                self._open()
            part = lines[at : at + self.shard_size - self._count]
            at += len(part)
            self._write_part(part)
            self._count += len(part)
            if self._count >= self.shard_size:
                self._finish()

    def _write_part(self, lines: list[bytes]) -> None:
        self._stream.write(b"".join(lines))

    def _finish(self) -> None:
        if self._file is None:
            return
        _complete(self._file, self._stream, self.shards[-1], self._count)
        self._file = self._stream = None

    def close(self) -> list[dict]:
        self._finish()
        return self.shards

    def abort(self) -> None:
        if self._file is not None:
            self._file.abort()
            self._file = None


class BackgroundShardWriter(ShardWriter):
    """A ShardWriter that compresses, hashes and writes in a thread of its own, for the run's one
    process writing all the shards (the driver's filter): zlib-ng, zstd and sha256 release the GIL
    while they work, so the process reads and filters the next records meanwhile, on another core.
    The same bytes as ShardWriter: one thread takes the chunks in order, and a compressed stream
    does not depend on how its input is cut into writes (gzip: fs.BlockGzip).

    `threads` > 1: gzip's blocks are compressed by that many threads side by side (the same bytes),
    for a run whose workers are done and whose cores would otherwise wait for this one thread.

    `tee`: called in that thread with every chunk of lines after it is written, in order (the
    run's report reads them from there: `pipeline/report/feed.py`)."""

    CHUNK = 1 << 20  # bytes of lines handed to the thread at once

    def __init__(self, *args, tee: Callable[[bytes], None] | None = None, threads: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        if threads > 1 and self.compression == "gzip":
            self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"deflate-{self.prefix}")
        self._tee = tee
        self._lines: list[bytes] = []
        self._buffered = 0
        self._opened: list = []  # shard files not committed yet (aborted with the writer)
        self._queue: queue.Queue = queue.Queue(maxsize=8)  # bounded: memory stays a few chunks
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=f"shards-{self.prefix}", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is None:  # after a failure the rest is skipped (the writer is aborted)
                try:
                    job()
                except BaseException as exc:
                    self._error = exc

    def _submit(self, job) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(job)

    def _open(self) -> None:
        try:
            super()._open()
        finally:  # (a file made but its stream not: aborted too)
            if self._file is not None:
                self._opened.append(self._file)

    def write_line(self, line: bytes) -> None:
        if self._file is None:
            self._open()
        self._lines.append(line)
        self._buffered += len(line)
        self._count += 1
        if self._count >= self.shard_size:
            self._finish()
        elif self._buffered >= self.CHUNK:
            self._hand_over()

    def _write_part(self, lines: list[bytes]) -> None:
        self._lines += lines
        self._buffered += sum(map(len, lines))
        if self._buffered >= self.CHUNK:
            self._hand_over()

    def _hand_over(self) -> None:
        data, stream = b"".join(self._lines), self._stream
        self._lines, self._buffered = [], 0
        self._submit(lambda: self._write(stream, data))

    def _write(self, stream, data: bytes) -> None:
        stream.write(data)
        if self._tee is not None:
            self._tee(data)

    def _finish(self) -> None:
        if self._file is None:
            return
        self._hand_over()
        file, stream, shard, count = self._file, self._stream, self.shards[-1], self._count
        self._file = self._stream = None
        self._submit(lambda: self._complete_opened(file, stream, shard, count))

    def _complete_opened(self, file, stream, shard: dict, count: int) -> None:
        _complete(file, stream, shard, count)
        self._opened.remove(file)

    def close(self) -> list[dict]:
        self._finish()
        self._end_thread()
        if self._error is not None:
            raise self._error
        return self.shards

    def abort(self) -> None:
        self._lines = []
        self._error = self._error or RuntimeError("aborted")  # the thread skips what is queued
        self._end_thread()
        for shard_file in self._opened:
            shard_file.abort()

    def _end_thread(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._pool is not None:
            self._pool.shutdown()


def _complete(file, stream, shard: dict, count: int) -> None:
    """End a shard's stream, commit its file, note its records, size and hash in `shard`."""
    if stream is not file:
        stream.close()  # flushes the compressed stream's end into the HashingFile
    file.commit()
    shard.update(records=count, bytes=file.bytes, sha256=file.sha256.hexdigest())
