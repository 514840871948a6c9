"""A map task's keys file: its candidates' refs, then one column of keys per global step, each
column encoded on its own.

Each reader decodes only the part it needs: a global step's reduce its own column, the filter and
the dup chains the refs. The file is a table of parts, (offset, length) by name, then each part as
a work file of its own (`pipeline/workfile.py`), so that a reader parses only its part's JSON: in
the layout before (one work file, `{"refs": ..., "keys": [...]}`), every reader parsed the whole
header (~7 ms per 2,000 documents, five readers per task, all in the driver). Files of the two
earlier layouts are still read (a run resumed across an upgrade).

    magic b"NCK1" | table length (8 bytes, little endian) | table (JSON) | parts
"""

from __future__ import annotations

import struct

import orjson

from pipeline import workfile
from pipeline.s7_write.atomic import write_parts
from pipeline.step import DocRef

MAGIC = b"NCK1"


def write_keys(paths: dict, refs: list[DocRef], keys: list, n_steps: int, text_hashes: list[int]) -> None:
    """The keys file, and the refs file with the text hashes (for the id check; small)."""
    columns = [list(column) for column in zip(*keys)] if keys else [[] for _ in range(n_steps)]
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
        out.append(workfile.loads(data[start + offset : start + offset + size]))
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
    try:  # the layout before: one work file of columns
        refs, *column = workfile.loads_parts(data, parts)
    except workfile.WorkFileError:  # written by a version before the columns: (refs, keys per document)
        refs, keys = workfile.loads(data)
        return refs, [] if position is None else [k[position] for k in keys]
    return _refs_of(refs), column[0] if column else []


def read_refs_and_text_hashes(paths: dict) -> tuple[list[DocRef], list]:
    """The refs file: refs and text hashes; ids alone (hashes None) from a version without it."""
    if not paths["refs"].exists():  # a map task resumed from a version without refs files
        refs = read_refs(paths)
        return refs, [None] * len(refs)
    value = workfile.load(paths["refs"])
    if isinstance(value, tuple):  # a version before the columns
        return value
    return _refs_of(value["refs"]), value["text_hashes"]
