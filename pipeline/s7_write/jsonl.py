"""JSONL shard writer (gzip by default, or zstd, or none), rotating every `shard_size` records.

Each shard is written under a temp name and renamed when complete (or, for a URL,
uploaded in one piece: `pipeline/fs.py`); the compressed streams carry no time
stamp, so the same records give byte-identical shards.
"""

from __future__ import annotations

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
        self.shards: list[dict] = []
        self._file: HashingFile | RemoteHashingFile | None = None  # pipeline/fs.py: hashing_file
        self._stream: Any = None  # the gzip/zstd writer over _file, or _file itself
        self._count = 0

    def _open(self) -> None:
        name = f"{self.prefix}-{len(self.shards):05d}.jsonl{SUFFIX[self.compression]}"
        self._file = hashing_file(join(str(self.directory), name))
        self._stream = compressing(self._file, self.compression, self.compresslevel)
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

    def _finish(self) -> None:
        if self._file is None:
            return
        if self._stream is not self._file:
            self._stream.close()  # flushes the compressed stream's end into the HashingFile
        self._file.commit()
        self.shards[-1].update(
            records=self._count, bytes=self._file.bytes, sha256=self._file.sha256.hexdigest()
        )
        self._file = self._stream = None

    def close(self) -> list[dict]:
        self._finish()
        return self.shards

    def abort(self) -> None:
        if self._file is not None:
            self._file.abort()
            self._file = None
