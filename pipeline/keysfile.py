"""A map task's keys file: its candidates' refs, then one column of keys per global step, each
column encoded on its own.

Each reader decodes only the part it needs: a global step's reduce its own column, the filter and
the dup chains the refs. The file is a table of parts, (offset, length) by name, then each part as
a work file of its own (`pipeline/workfile.py`), so that a reader parses only its part's JSON: in
the layout before (one work file, `{"refs": ..., "keys": [...]}`), every reader parsed the whole
header (~7 ms per 2,000 documents, five readers per task, all in the driver). Files of the two
earlier layouts are still read (a run resumed across an upgrade).

    magic b"NCK1" | table length (8 bytes, little endian) | table (JSON) | parts

A column of 1-D arrays, or of tuples of them (near_dedup's signature and shingles, template_lines'
line keys), is written packed: per tuple field, the arrays' lengths and their values end to end,
so that ~4,000 small arrays a task are two long ones (encoding them one by one cost ~3.5 us a
document in the map, decoding them as much in the reduce). It reads back as the same list, its
arrays slices of the long ones.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from pipeline import workfile
from pipeline.s7_write.atomic import write_parts
from pipeline.step import DocRef

MAGIC = b"NCK1"


def write_keys(paths: dict, refs: list[DocRef], keys: list, n_steps: int, text_hashes: list[int]) -> None:
    """The keys file, and the refs file with the text hashes (for the id check; small)."""
    columns = [_packed(list(column)) for column in zip(*keys)] if keys else [[] for _ in range(n_steps)]
    ref_columns = _ref_columns(refs)
    write_parts(paths["keys"], _pack({"refs": ref_columns, **{str(i): c for i, c in enumerate(columns)}}))
    write_parts(paths["refs"], workfile.dump_parts({"refs": ref_columns, "text_hashes": text_hashes}))


def _pack(parts: dict) -> list[bytes]:
    """The keys file as a list of buffers, written in turn (`write_parts`), not joined."""
    encoded = {name: workfile.dump_parts(value) for name, value in parts.items()}
    table, offset = {}, 0
    for name, buffers in encoded.items():
        size = sum(len(b) for b in buffers)
        table[name] = [offset, size]
        offset += size
    head = orjson.dumps(table)
    return [
        MAGIC + struct.pack("<Q", len(head)) + head,
        *(b for buffers in encoded.values() for b in buffers),
    ]


def _unpack(data: bytes, names: list[str]) -> list:
    """The named parts of a keys file of this layout."""
    (length,) = struct.unpack("<Q", data[4:12])
    table = orjson.loads(data[12 : 12 + length])
    start = 12 + length
    out = []
    for name in names:
        if name not in table:
            raise workfile.WorkFileError(f"no part {name!r} in this keys file")
        offset, size = table[name]
        out.append(_unpacked(workfile.loads(data[start + offset : start + offset + size])))
    return out


_PACKED = "$packed"  # a packed column is a dict with this key; a column as it is, a list


def _packed(column: list) -> Any:
    """The column packed when every value is None, a 1-D array, or a tuple of one length whose fields
    are each None or a 1-D array (one dtype per field) or other values (a field kept as a list, such
    as template_lines' source); else the column as it is."""
    present = [v for v in column if v is not None]
    if not present:
        return column
    if all(type(v) is tuple for v in present):
        width = len(present[0])
        if any(len(v) != width for v in present):
            return column
        fields, kind = [_field([v[i] for v in present]) for i in range(width)], "tuples"
    else:
        fields, kind = [_field(present)], "arrays"
    if all("list" in f for f in fields):  # no arrays: nothing to pack
        return column
    return {_PACKED: kind, "present": np.array([v is not None for v in column]), "fields": fields}


def _field(values: list) -> dict:
    """Values each None or a 1-D array of one dtype: {lengths (-1: None), the arrays end to end};
    other values: {"list": values}."""
    arrays = [v for v in values if v is not None]
    if (
        not all(type(a) is np.ndarray and a.ndim == 1 for a in arrays)
        or len({a.dtype.str for a in arrays}) > 1
    ):
        return {"list": values}
    lengths = np.array([-1 if v is None else len(v) for v in values], dtype=np.int64)
    return {"lengths": lengths, "values": np.concatenate(arrays) if arrays else np.zeros(0, np.uint8)}


def _unpacked(column: Any) -> Any:
    """A column as written (`_packed`): a list."""
    if not (isinstance(column, dict) and _PACKED in column):
        return column
    fields = [
        f["list"] if "list" in f else _split(f["lengths"].tolist(), f["values"]) for f in column["fields"]
    ]
    values = iter(zip(*fields)) if column[_PACKED] == "tuples" else iter(fields[0])
    return [next(values) if present else None for present in column["present"].tolist()]


def _split(lengths: list[int], flat: np.ndarray) -> list:
    out: list = []
    start = 0
    for n in lengths:
        if n < 0:
            out.append(None)
        else:
            out.append(flat[start : start + n])
            start += n
    return out


def _ref_columns(refs: list[DocRef]) -> dict:
    return {
        "order": [r.order for r in refs],
        "id": [r.id for r in refs],
        "created": [r.created for r in refs],
    }


def _refs_of(columns: dict) -> list[DocRef]:
    return list(map(DocRef, columns["order"], columns["id"], columns["created"]))


def read_refs(paths: dict) -> list[DocRef]:
    """The refs of a map task's candidates, in order."""
    return read_keys(paths, None)[0]


def read_keys(paths: dict, position: int | None) -> tuple[list[DocRef], list]:
    """The refs of a map task's candidates and the keys of the global step at `position` (None: no keys)."""
    data = paths["keys"].read_bytes()
    if data[:4] == MAGIC:
        refs, *column = _unpack(data, ["refs"] + ([] if position is None else [str(position)]))
        return _refs_of(refs), column[0] if column else []
    parts: list[tuple[str | int, ...]] = [("refs",)] + ([] if position is None else [("keys", position)])
    try:  # the layout before: one work file of columns (never packed)
        refs, *column = workfile.loads_parts(data, parts)
    except workfile.WorkFileError:  # written by a version before the columns: (refs, keys per document)
        refs, keys = workfile.loads(data)
        return refs, [] if position is None else [k[position] for k in keys]
    return _refs_of(refs), column[0] if column else []


def read_columns(paths: dict, positions: list[int]) -> tuple[list[DocRef], list[list]]:
    """The refs of a map task's candidates and the keys of the global steps at `positions`, one
    column each, from one read of the file."""
    data = paths["keys"].read_bytes()
    if data[:4] == MAGIC:
        refs, *columns = _unpack(data, ["refs"] + [str(position) for position in positions])
        return _refs_of(refs), columns
    # an earlier layout (a run resumed across an upgrade)
    return read_refs(paths), [read_keys(paths, position)[1] for position in positions]


def read_refs_and_text_hashes(paths: dict) -> tuple[list[DocRef], list]:
    """The refs file: refs and text hashes; ids alone (hashes None) from a version without it."""
    if not paths["refs"].exists():  # a map task resumed from a version without refs files
        refs = read_refs(paths)
        return refs, [None] * len(refs)
    value = workfile.load(paths["refs"])
    if isinstance(value, tuple):  # a version before the columns
        return value
    return _refs_of(value["refs"]), value["text_hashes"]
