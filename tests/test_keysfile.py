"""A map task's keys file: each reader decodes only its part, with the values the whole file holds."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import workfile
from pipeline.keysfile import read_keys, read_refs, read_refs_and_text_hashes, write_keys
from pipeline.s7_write.atomic import write_atomic
from pipeline.step import DocRef
from pipeline.workfile import task_paths


def _candidates() -> tuple[list[DocRef], list[tuple], list[int]]:
    refs = [DocRef(3 << 32 | i, f"doc-{i}", f"2024-05-0{i % 9 + 1}" if i % 3 else None) for i in range(7)]
    keys = [
        (
            bytes([i]) * 16,
            (np.arange(i, i + 4, dtype=np.uint32), None if i % 2 else np.ones(i, np.uint32)),
            {"t": i},
        )
        for i in range(7)
    ]
    return refs, keys, [(1 << 64) - 1 - i for i in range(7)]  # text hashes past 2**63 too


def _same_keys(a: list, b: list) -> bool:
    return repr(a) == repr(b)  # numpy arrays inside: compare their values and dtypes as printed


def test_each_part_reads_back_what_was_written(tmp_path):
    refs, keys, hashes = _candidates()
    paths = task_paths(tmp_path, 0)
    write_keys(paths, refs, keys, 3, hashes)
    assert read_refs(paths) == refs
    for position in range(3):
        got_refs, column = read_keys(paths, position)
        assert got_refs == refs
        assert _same_keys(column, [k[position] for k in keys])
    assert read_refs_and_text_hashes(paths) == (refs, hashes)


def test_a_task_without_candidates_has_empty_columns(tmp_path):
    paths = task_paths(tmp_path, 1)
    write_keys(paths, [], [], 2, [])
    assert read_keys(paths, 1) == ([], [])
    assert read_refs_and_text_hashes(paths) == ([], [])


def test_files_of_the_version_before_the_columns_are_still_read(tmp_path):
    refs, keys, hashes = _candidates()
    paths = task_paths(tmp_path, 2)
    write_atomic(paths["keys"], workfile.dumps((refs, keys)))  # what map tasks wrote before
    write_atomic(paths["refs"], workfile.dumps((refs, hashes)))
    got_refs, column = read_keys(paths, 1)
    assert got_refs == refs and _same_keys(column, [k[1] for k in keys])
    assert read_refs(paths) == refs
    assert read_refs_and_text_hashes(paths) == (refs, hashes)
    paths["refs"].unlink()  # and from a version without refs files: the ids, no text hashes
    assert read_refs_and_text_hashes(paths) == (refs, [None] * len(refs))


def test_loads_parts_decodes_only_the_named_parts_and_refuses_a_missing_one():
    value = {"a": [1, (2, 3), np.arange(3)], "b": {"c": b"\x00\xff"}}
    data = workfile.dumps(value)
    whole, a1, c = workfile.loads_parts(data, [(), ("a", 1), ("b", "c")])
    assert repr(whole) == repr(value) and a1 == (2, 3) and c == b"\x00\xff"
    assert np.array_equal(workfile.loads_parts(data, [("a", 2)])[0], np.arange(3))
    for missing in (("x",), ("a", 9), ("b", "c", 0)):
        with pytest.raises(workfile.WorkFileError):
            workfile.loads_parts(data, [missing])


def test_files_of_the_one_header_column_layout_are_still_read(tmp_path):
    """The layout before the parts table: one work file {"refs": columns, "keys": [column per step]}."""
    refs, keys, hashes = _candidates()
    paths = task_paths(tmp_path, 3)
    columns = {
        "order": [r.order for r in refs],
        "id": [r.id for r in refs],
        "created": [r.created for r in refs],
    }
    write_atomic(paths["keys"], workfile.dumps({"refs": columns, "keys": [list(c) for c in zip(*keys)]}))
    for position in range(3):
        got_refs, column = read_keys(paths, position)
        assert got_refs == refs and _same_keys(column, [k[position] for k in keys])
    assert read_refs(paths) == refs


def test_a_keys_file_without_the_part_asked_for_is_an_error(tmp_path):
    refs, keys, hashes = _candidates()
    paths = task_paths(tmp_path, 4)
    write_keys(paths, refs, keys, 3, hashes)
    with pytest.raises(workfile.WorkFileError):
        read_keys(paths, 3)


def test_columns_of_arrays_are_packed_and_read_back_as_written(tmp_path):
    """near_dedup's (signature, shingles) and template_lines' (source, line keys) columns: a few long
    arrays in the file, the same values, dtypes and Nones when read."""
    rng = np.random.default_rng(3)
    n = 50
    refs = [DocRef(i, f"d{i}", None) for i in range(n)]
    near = [
        None
        if i % 7 == 3
        else (
            rng.integers(0, 2**32, 128, dtype=np.uint32),
            None if i % 5 == 0 else rng.integers(0, 9, i % 4, dtype=np.uint32),
        )
        for i in range(n)
    ]
    template = [(f"site{i % 3}", rng.integers(0, 2**63, i % 6, dtype=np.uint64)) for i in range(n)]
    plain = [np.arange(i % 4, dtype=np.uint16) if i % 2 else None for i in range(n)]  # arrays, not tuples
    keys = [(bytes([i]) * 16, near[i], template[i], plain[i]) for i in range(n)]
    paths = task_paths(tmp_path, 5)
    write_keys(paths, refs, keys, 4, list(range(n)))
    # per packed column its presence, and per array field the lengths and the values: 5 + 3 + 3 arrays
    # (not one or two per document)
    assert paths["keys"].read_bytes().count(b'"$nd"') == 5 + 3 + 3
    for position in range(4):
        got_refs, column = read_keys(paths, position)
        assert got_refs == refs and _same_keys(column, [k[position] for k in keys])


def test_columns_that_do_not_pack_are_written_as_they_are(tmp_path):
    """Mixed dtypes, arrays of other shapes, tuples of different lengths: read back unchanged."""
    n = 6
    refs = [DocRef(i, f"d{i}", None) for i in range(n)]
    columns = [
        [np.arange(3, dtype=np.uint32 if i % 2 else np.int64) for i in range(n)],
        [np.zeros((2, 2), np.uint8) if i == 4 else np.arange(2) for i in range(n)],
        [(np.arange(i),) if i % 2 else (np.arange(i), "x") for i in range(n)],
        [("a", i) for i in range(n)],
    ]
    keys = list(zip(*columns))
    paths = task_paths(tmp_path, 6)
    write_keys(paths, refs, keys, 4, list(range(n)))
    assert paths["keys"].read_bytes().count(b'"$nd"') >= 3 * n
    for position in range(4):
        assert _same_keys(read_keys(paths, position)[1], columns[position])
