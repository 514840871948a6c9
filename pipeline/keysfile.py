"""A map task's keys file: its candidates' refs, then one column of keys per global step.

Each reader decodes only the part it needs (`workfile.loads_parts`): a global step's reduce its
own column, the filter and the dup chains the refs. Before, every reader decoded the whole file,
five times per run (~20 us of CPU per document each). Files written by a version before the
columns, `(refs, keys per document)`, are still read (a run resumed across an upgrade).
"""

from __future__ import annotations

from pipeline import workfile
from pipeline.s7_write.atomic import write_atomic
from pipeline.step import DocRef


def write_keys(paths: dict, refs: list[DocRef], keys: list, n_steps: int, text_hashes: list[int]) -> None:
    """The keys file, and the refs file with the text hashes (for the id check; small)."""
    columns = [list(column) for column in zip(*keys)] if keys else [[] for _ in range(n_steps)]
    write_atomic(paths["keys"], workfile.dumps({"refs": _ref_columns(refs), "keys": columns}))
    write_atomic(paths["refs"], workfile.dumps({"refs": _ref_columns(refs), "text_hashes": text_hashes}))


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
    parts: list[tuple[str | int, ...]] = [("refs",)] + ([] if position is None else [("keys", position)])
    try:
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
