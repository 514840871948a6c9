"""The driver's shard writer compresses in a thread (BackgroundShardWriter): the same files, byte
for byte, as the plain ShardWriter, and a failure in its thread fails the write, leaving no temp file."""

from __future__ import annotations

import errno
import random

import pytest

from pipeline.s7_write import atomic
from pipeline.s7_write.jsonl import BackgroundShardWriter, ShardWriter


def _lines(n: int) -> list[bytes]:
    rng = random.Random(3)
    return [
        b'{"text": "%s"}\n' % bytes(rng.choice(b"abc de") for _ in range(rng.randint(0, 3000)))
        for _ in range(n)
    ]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_same_shards_as_the_plain_writer(tmp_path, compression, monkeypatch):
    monkeypatch.setattr(BackgroundShardWriter, "CHUNK", 5000)  # many hand-overs inside a shard
    lines = _lines(1100)
    written = {}
    for name, cls in (("plain", ShardWriter), ("thread", BackgroundShardWriter)):
        folder = tmp_path / name
        folder.mkdir()
        writer = cls(folder, "part", 400, compression, 1)
        for line in lines:
            writer.write_line(line)
        shards = writer.close()
        written[name] = (shards, {p.name: p.read_bytes() for p in folder.iterdir()})
    assert written["plain"] == written["thread"]
    assert [s["records"] for s in written["thread"][0]] == [400, 400, 300]


def test_a_failure_in_the_thread_fails_the_writer_and_abort_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(BackgroundShardWriter, "CHUNK", 1000)
    real_write, calls = atomic.HashingWriter.write, []

    def full_after_a_while(self, data):
        calls.append(len(data))
        if sum(n > 100 for n in calls) > 5:  # the sixth compressed chunk (not a header's bytes)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(atomic.HashingWriter, "write", full_after_a_while)
    writer = BackgroundShardWriter(tmp_path, "part", 100, "gzip", 1)
    with pytest.raises(OSError, match="No space left"):
        for line in _lines(2000):
            writer.write_line(line)
        writer.close()
    writer.abort()
    assert writer._error is not None and writer.shards  # it failed in the thread, after a shard began
    # no temp file left (a shard finished before the failure stays, as with ShardWriter: the run
    # directory that holds it is discarded)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
