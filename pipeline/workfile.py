"""A plain format for the work files a run writes and reads back (task summaries, dedup keys,
done markers of resumable tasks), instead of pickle.

Work files live in the output tree (OUTPUT/runs/<run>/_work/), which other people may be able
to write; unpickling one would run whatever code it names. This format only ever builds
plain values: a JSON header (orjson) for the structure, and one binary blob for the numpy
arrays it holds (MinHash signatures, shingle hashes), read back with `np.frombuffer`.

    magic b"NCW1" | header length (8 bytes, little endian) | JSON header | array blob

Values: None, bool, int, float, str, list, and tagged objects for tuple, bytes, set,
Counter, dicts with non-string keys, numpy arrays, and the dataclasses registered with
`@plain` (their fields, by name; an unknown class name is an error, never imported).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from pipeline import gcpause

MAGIC = b"NCW1"
_CLASSES: dict[str, type] = {}


class WorkFileError(ValueError):
    """Not a work file of this format, or one naming a class that is not allowed."""


def plain(cls: type) -> type:
    """Class decorator: allow this dataclass in work files."""
    _CLASSES[cls.__name__] = cls
    return cls


def dumps(value: Any) -> bytes:
    return b"".join(dump_parts(value))


def dump_parts(value: Any) -> list[bytes]:
    """The bytes of `dumps(value)` as a list of buffers (the head, then each array's bytes), for a
    writer to write in turn: a keys file holds ~5 MB of arrays per 2,000 documents, copied twice more
    when joined into one bytes (fresh pages each time)."""
    chunks: list[bytes] = []
    offset = [0]

    def enc(v: Any) -> Any:
        if isinstance(v, np.generic):  # before int/float: np.float64 is a float
            return enc(v.item())
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, float)):
            return v if isinstance(v, float) or -(1 << 63) <= v < (1 << 63) else {"$i": str(v)}
        if isinstance(v, np.ndarray):
            if v.dtype.fields is not None or v.dtype.hasobject:
                raise TypeError(f"work files hold plain numeric arrays, not {v.dtype}")
            data = np.ascontiguousarray(v).tobytes()  # (a copy: cheaper than a view for arrays this small)
            chunks.append(data)
            offset[0] += len(data)
            return {"$nd": [v.dtype.str, list(v.shape), offset[0] - len(data)]}
        if isinstance(v, (bytes, bytearray)):
            return {"$b": bytes(v).hex()}
        if isinstance(v, tuple):
            return {"$t": [enc(x) for x in v]}
        if isinstance(v, list):  # (ids, dates, sources: the long lists hold values written as they are)
            return [x if type(x) in _AS_THEY_ARE else enc(x) for x in v]
        if isinstance(v, (set, frozenset)):
            return {"$s": [enc(x) for x in v]}
        if isinstance(v, Counter):
            return {"$c": [[enc(k), enc(n)] for k, n in v.items()]}
        if isinstance(v, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in v):
                return {k: enc(x) for k, x in v.items()}
            return {"$d": [[enc(k), enc(x)] for k, x in v.items()]}
        if dataclasses.is_dataclass(v) and _CLASSES.get(type(v).__name__) is type(v):
            return {
                "$o": type(v).__name__,
                "f": {f.name: enc(getattr(v, f.name)) for f in dataclasses.fields(v)},
            }
        raise TypeError(f"cannot write a {type(v).__name__} to a work file")

    with gcpause.paused():  # enc builds an acyclic copy of the value: no collection can free it
        header = orjson.dumps(enc(value))
    return [MAGIC + struct.pack("<Q", len(header)) + header, *chunks]


_SCALARS = (str, int, float, bool, type(None))
_AS_THEY_ARE = frozenset((str, float, bool, type(None)))  # what `enc` returns unchanged (an int may not)


def loads(data: bytes) -> Any:
    return loads_parts(data, [()])[0]


def loads_parts(data: bytes, parts: list[tuple[str | int, ...]]) -> list[Any]:
    """Parts of a work file's value, each named by the dict keys (str) and list indexes (int)
    leading to it, () for the whole; only those are decoded, so that a reader needing one part
    of a large file skips the rest. Only plain dicts (string keys) and lists can be walked."""
    if data[:4] != MAGIC or len(data) < 12:
        raise WorkFileError("not a newsclean work file")
    with gcpause.paused():  # the decoded values are new and acyclic: no collection can free them
        return _decode_parts(data, parts)


def _decode_parts(data: bytes, parts: list[tuple[str | int, ...]]) -> list[Any]:
    (length,) = struct.unpack("<Q", data[4:12])
    header = orjson.loads(data[12 : 12 + length])
    blob = memoryview(data)[12 + length :]

    def dec(v: Any) -> Any:
        if isinstance(v, list):  # scalars as they are: most items of the long lists are
            return [x if type(x) in _SCALARS else dec(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "$nd" in v:  # (math.prod and a dtype cache: ~3 us less per array, 90k arrays per 30k documents)
            dtype, shape, start = v["$nd"]
            dtype = _dtype(dtype)
            array = np.frombuffer(blob, dtype, math.prod(shape), start)
            return (array if len(shape) == 1 else array.reshape(shape)).copy()
        if "$b" in v:
            return bytes.fromhex(v["$b"])
        if "$t" in v:
            return tuple(dec(v["$t"]))
        if "$s" in v:
            return {dec(x) for x in v["$s"]}
        if "$c" in v:
            return Counter({dec(k): dec(n) for k, n in v["$c"]})
        if "$d" in v:
            return {dec(k): dec(x) for k, x in v["$d"]}
        if "$i" in v:
            return int(v["$i"])
        if "$o" in v:
            cls = _CLASSES.get(v["$o"])
            if cls is None:
                raise WorkFileError(f"class {v['$o']!r} not allowed in a work file")
            return cls(**{k: dec(x) for k, x in v["f"].items()})
        return {k: dec(x) for k, x in v.items()}

    return [dec(_part(header, at)) for at in parts]


@functools.lru_cache(maxsize=64)
def _dtype(name: str) -> np.dtype:
    dtype = np.dtype(name)
    if dtype.hasobject or dtype.fields is not None:
        raise WorkFileError(f"array of {dtype} not allowed")
    return dtype


def _part(value: Any, at: tuple[str | int, ...]) -> Any:
    for step in at:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            raise WorkFileError(f"no part {at!r} in this work file") from None
    return value


def load(path: str | Path) -> Any:
    return loads(Path(path).read_bytes())


def task_paths(work_dir: Path, index: int) -> dict[str, Path]:
    stem = work_dir / f"task-{index:06d}"
    return {name: Path(f"{stem}.{name}") for name in ("kept", "rejects", "keys", "refs", "summary", "done")}
