#!/usr/bin/env python3
"""gzip in and out: the stdlib's zlib against zlib-ng (the dependency) and isal (when installed).

    python benchmarks/gzip_codecs.py [--input ../shared/bench/articles-30k.jsonl.gz] [--shard SHARD.jsonl.gz]
                                     [--rounds 2]

CPU seconds (process_time; the machine is shared), each codec in turn, rounds interleaved:
- inflate: the whole input read in 1 MB pieces (what the plan's record count does);
- readline: the input read line by line (the JSONL reader's path), per document;
- deflate: a run's kept shard (its decompressed bytes; default: the input) compressed in 1 MB
  writes (the shard writer's thread), single-threaded and, for the libraries that have one, by their
  threaded writer with 2 threads; size and sha256 of the output.
"newsclean" rows are the package's own path (pipeline/fs.py: open_decompressed, compressing).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import time
from collections.abc import Callable
from pathlib import Path

from common import require, shared_path

from pipeline.fs import compressing, open_decompressed
from pipeline.s7_write.atomic import HashingWriter

MB = 1 << 20


class _Sink(HashingWriter):
    """Compressed bytes into memory, as compressing() wants a HashingWriter."""

    def __init__(self) -> None:
        self.out = io.BytesIO()

    def write(self, data) -> int:
        return self.out.write(data)


def _openers() -> dict[str, Callable]:
    from zlib_ng import gzip_ng

    openers = {
        "stdlib": lambda p: gzip.open(p, "rb"),
        "zlib-ng GzipNGFile": lambda p: gzip_ng.open(p, "rb"),
        "newsclean (zlib-ng)": open_decompressed,
    }
    try:
        from isal import igzip

        openers["isal"] = lambda p: igzip.open(p, "rb")
    except ImportError:
        print("isal not installed: its rows are left out")
    return openers


def _writers() -> dict[str, Callable]:
    from zlib_ng import gzip_ng_threaded

    def plain(cls, level):
        return lambda sink: cls(filename="", mode="wb", fileobj=sink.out, mtime=0, compresslevel=level)

    writers = {"stdlib 1": plain(gzip.GzipFile, 1), "stdlib 6": plain(gzip.GzipFile, 6)}
    for level in (1, 2, 6):
        writers[f"newsclean (zlib-ng) {level}"] = lambda sink, level=level: compressing(sink, "gzip", level)
    writers["zlib-ng 2, 2 threads"] = lambda sink: gzip_ng_threaded.open(
        sink.out, "wb", compresslevel=2, threads=2
    )
    try:
        from isal import igzip, igzip_threaded

        for level in (1, 2, 3):
            writers[f"isal {level}"] = plain(igzip.IGzipFile, level)
        writers["isal 2, 2 threads"] = lambda sink: igzip_threaded.open(
            sink.out, "wb", compresslevel=2, threads=2
        )
    except ImportError:
        pass
    return writers


def _cpu(fn: Callable) -> tuple[float, object]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def _inflate(opener, path) -> int:
    total = 0
    with opener(path) as fh:
        while chunk := fh.read(MB):
            total += len(chunk)
    return total


def _readlines(opener, path) -> int:
    lines = 0
    with opener(path) as fh:
        while fh.readline(10_000_001):
            lines += 1
    return lines


def _deflate(make, data: bytes) -> tuple[int, str]:
    sink = _Sink()
    stream = make(sink)
    for start in range(0, len(data), MB):
        stream.write(data[start : start + MB])
    stream.close()
    out = sink.out.getvalue()
    return len(out), hashlib.sha256(out).hexdigest()[:12]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(shared_path("bench") / "articles-30k.jsonl.gz"))
    parser.add_argument("--shard", help="a kept shard (.jsonl.gz) to compress again (default: the input)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    require(Path(args.input))
    with open_decompressed(args.shard or args.input) as fh:
        data = fh.read()
    print(f"input {args.input}; deflate input {len(data):,} bytes")
    openers, writers = _openers(), _writers()
    for rnd in range(1, args.rounds + 1):
        for name, opener in openers.items():
            cpu, size = _cpu(lambda: _inflate(opener, args.input))
            print(f"r{rnd} inflate   {name:28} {cpu:6.3f} s  ({size:,} bytes)")
        for name, opener in openers.items():
            cpu, lines = _cpu(lambda: _readlines(opener, args.input))
            print(f"r{rnd} readline  {name:28} {cpu:6.3f} s  {cpu / lines * 1e6:5.1f} µs/doc")
        for name, make in writers.items():
            cpu, (size, digest) = _cpu(lambda: _deflate(make, data))
            print(f"r{rnd} deflate   {name:28} {cpu:6.3f} s  {size:>12,} bytes  {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
