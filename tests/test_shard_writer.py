"""The driver's shard writer compresses in a thread (BackgroundShardWriter): the same files, byte
for byte, as the plain ShardWriter, and a failure in its thread fails the write, leaving no temp file."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import random
import shutil
import subprocess
import zlib

import pytest

from pipeline.fs import BlockGzip, open_decompressed
from pipeline.s7_write import atomic
from pipeline.s7_write.jsonl import BackgroundShardWriter, ShardWriter


def _lines(n: int) -> list[bytes]:
    rng = random.Random(3)
    return [
        b'{"text": "%s"}\n' % bytes(rng.choice(b"abc de") for _ in range(rng.randint(0, 3000)))
        for _ in range(n)
    ]


# gzip 0, 1, 5 and 6: the levels whose zlib-ng output depends on how the bytes are cut into writes;
# a writer whose gzip blocks 3 threads compress side by side writes the same bytes as one thread
@pytest.mark.parametrize(
    ("compression", "level"), [("gzip", 0), ("gzip", 1), ("gzip", 2), ("gzip", 6), ("zstd", 1), ("none", 1)]
)
def test_same_shards_as_the_plain_writer(tmp_path, compression, level, monkeypatch):
    monkeypatch.setattr(BackgroundShardWriter, "CHUNK", 50_000)  # many hand-overs inside a shard
    monkeypatch.setattr(BlockGzip, "SIZE", 7000)  # blocks across the lines and the hand-overs
    monkeypatch.setattr(BlockGzip, "WINDOW", 9000)  # a dictionary longer than a block
    lines = _lines(1100)
    written = {}
    writers = {
        "plain": ShardWriter,
        "thread": BackgroundShardWriter,
        "threads": lambda *args: BackgroundShardWriter(*args, threads=3),
    }
    for name, make in writers.items():
        folder = tmp_path / name
        folder.mkdir()
        writer = make(folder, "part", 400, compression, level)
        for line in lines:
            writer.write_line(line)
        shards = writer.close()
        written[name] = (shards, {p.name: p.read_bytes() for p in folder.iterdir()})
    assert written["plain"] == written["thread"] == written["threads"]
    assert [s["records"] for s in written["thread"][0]] == [400, 400, 300]
    for shard in written["threads"][0]:  # and each reads back as its lines
        with open_decompressed(tmp_path / "threads" / shard["file"]) as fh:
            assert len(fh.read().splitlines()) == shard["records"]


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


def _shard_bytes(tmp_path, lines: list[bytes], level: int) -> bytes:
    writer = ShardWriter(tmp_path, f"level{level}", len(lines) + 1, "gzip", level)
    for line in lines:
        writer.write_line(line)
    (shard,) = writer.close()
    return (tmp_path / shard["file"]).read_bytes()


@pytest.mark.parametrize("block", [BlockGzip.SIZE, 5000])  # one block, and many (each from its dictionary)
def test_gzip_shard_is_one_member_without_time_stamp_that_every_reader_reads(tmp_path, block, monkeypatch):
    monkeypatch.setattr(BlockGzip, "SIZE", block)
    lines = _lines(300)
    data = _shard_bytes(tmp_path, lines, 2)
    assert data[:4] == b"\x1f\x8b\x08\x00" and data[4:8] == b"\0\0\0\0"  # no name, no mtime
    inflate = zlib.decompressobj(wbits=31)  # one gzip member: it ends where the file ends
    assert inflate.decompress(data) == b"".join(lines) and inflate.eof and inflate.unused_data == b""
    assert gzip.decompress(data) == b"".join(lines)  # the stdlib's reader
    with open_decompressed(tmp_path / "x.jsonl.gz", io.BytesIO(data)) as fh:  # ours (zlib-ng)
        assert fh.read() == b"".join(lines)
    if shutil.which("zcat"):
        (tmp_path / "x.gz").write_bytes(data)
        out = subprocess.run(["zcat", str(tmp_path / "x.gz")], capture_output=True, check=True).stdout
        assert out == b"".join(lines)


# sha256 of _lines(300) compressed by zlib-ng (python-zlib-ng 1.1.0, zlib-ng 2.3.3) at levels 1, 2, 6, in
# BlockGzip's blocks (two here: the second deflated from the first's last 32 KB). The same on x86-64
# with and without SSE4.2, with AVX2 and AVX-512 (checked under qemu: core2duo, Haswell, Skylake-Server;
# the single-stream layout before it also on aarch64: docs/notes/issue16-scale.md, "gzip"): shards must
# not depend on the machine. A zlib-ng release that compresses differently fails here: move the pin in
# pyproject.toml and these digests together, and say in CHANGELOG.md that shard bytes change (their
# content does not).
GZIP_DIGESTS = {
    1: "8d38bb37766e4fca4304db7c8d6241e84de2c1762e12178b6b6c37651da9678b",
    2: "80f99051428546bfe9c1ca43105e4d8985fc066c47edfa4379b336891eb27514",
    6: "6adfe83835ceba6223d85e3e7dbfed109766f2618d992ce232de188c635db7a0",
}


@pytest.mark.parametrize("level", sorted(GZIP_DIGESTS))
def test_gzip_shard_bytes_are_the_pinned_zlib_ng_s(tmp_path, level):
    data = _shard_bytes(tmp_path, _lines(300), level)
    assert hashlib.sha256(data).hexdigest() == GZIP_DIGESTS[level]
