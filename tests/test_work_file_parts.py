"""Work files written as parts (pipeline/workfile.dump_parts, s7_write/atomic.write_parts): the same
bytes as the one joined `bytes` they replace, written atomically."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys

import numpy as np
import pytest

from pipeline import workfile
from pipeline.document import Document
from pipeline.s7_write.atomic import write_atomic, write_parts
from pipeline.s7_write.records import source_of

ODD_ARRAYS = [
    np.array(5, dtype=">u4"),  # 0-d, big-endian
    np.zeros((0, 3), dtype=np.float32),  # empty
    np.arange(12, dtype=">i8").reshape(3, 4).T,  # not contiguous, big-endian
    np.arange(10, dtype=np.uint16)[::3],  # strided
    np.array([True, False, True]),
    np.array(["ab", "c"]),  # fixed-width unicode
    np.arange(6, dtype=np.uint64).reshape(2, 3),
]


def _reference_dumps(arrays: list[np.ndarray]) -> bytes:
    """The layout of workfile.py's docstring, by hand: the header, then each array's tobytes()."""
    import struct

    import orjson

    header, blob, offset = [], b"", 0
    for a in arrays:
        data = a.tobytes()
        header.append({"$nd": [a.dtype.str, list(a.shape), offset]})
        blob += data
        offset += len(data)
    head = orjson.dumps(header)
    return workfile.MAGIC + struct.pack("<Q", len(head)) + head + blob


def test_the_parts_joined_are_the_work_file_with_each_arrays_bytes_in_c_order():
    parts = workfile.dump_parts(ODD_ARRAYS)
    assert b"".join(parts) == workfile.dumps(ODD_ARRAYS) == _reference_dumps(ODD_ARRAYS)
    for got, want in zip(workfile.loads(b"".join(parts)), ODD_ARRAYS):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want)


def test_write_parts_writes_the_joined_bytes(tmp_path):
    value = {"refs": [1, 2, None, "x"], "keys": [(np.arange(128, dtype=np.uint32), np.arange(3))] * 3}
    write_parts(tmp_path / "a", workfile.dump_parts(value))
    write_atomic(tmp_path / "b", workfile.dumps(value))
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    lines = [b'{"id":"%d"}\n' % i for i in range(5000)]  # many small parts through the buffer
    write_parts(tmp_path / "lines", lines)
    assert (tmp_path / "lines").read_bytes() == b"".join(lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "lines"]  # no temp file left


def test_a_failing_part_leaves_neither_the_file_nor_a_temp_file(tmp_path):
    (tmp_path / "kept").write_bytes(b"before\n")

    def parts():
        yield b"one\n"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_parts(tmp_path / "kept", parts())
    assert (tmp_path / "kept").read_bytes() == b"before\n"  # the old file stands, whole
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]


_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from pipeline.s7_write.atomic import write_parts
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
try:
    write_parts(Path(sys.argv[1]) / "kept", [b"x" * 99 + b"\\n"] * 20_000)
except OSError as exc:
    print(exc.errno)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_a_failing_disk_leaves_no_temp_file(tmp_path):
    """The disk refuses a write: the buffered lines cannot be flushed when the file is aborted
    either, and the temp file must go all the same (it would hold the space of a full disk)."""
    run = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path)], capture_output=True, text=True)
    assert run.stdout.strip() == str(errno.EFBIG), run.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("input_path", "source"),
    [
        ("in/crawl-2025-01.jsonl.gz#3", "crawl-2025-01"),
        ("in/crawl-2025-02.JSONL#1", "crawl-2025-02"),
        ("other/dump.ndjson.zst#9", "dump"),
        ("in/crawl-2025-01.jsonl.gz#4", "crawl-2025-01"),
    ],
)
def test_the_source_of_records_is_their_own_files_name(input_path, source):
    doc = Document(id="x", text="t", provenance={"input_path": input_path})
    assert source_of(doc, "") == source
