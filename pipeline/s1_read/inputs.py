"""Walk the inputs and hand each file to the reader for its format.

Files are visited in sorted order so runs are deterministic. A file whose format is
unknown, or that cannot be read, becomes an error record: nothing is skipped silently.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from pipeline.document import Document
from pipeline.fs import compression_of, strip_compression
from pipeline.s1_read.html import HtmlReader
from pipeline.s1_read.jsonl import DolmaReader, JsonlReader
from pipeline.s1_read.reader import Reader, Seek
from pipeline.s1_read.text import TextReader
from pipeline.s1_read.warc import WarcReader
from pipeline.s7_write.safe_json import safe_str

# one reader class per format; each names the extensions it reads (after .gz/.zst is stripped)
READER_CLASSES: tuple[type[Reader], ...] = (TextReader, HtmlReader, JsonlReader, DolmaReader, WarcReader)
READERS: dict[str, type[Reader]] = {ext: cls for cls in READER_CLASSES for ext in cls.extensions}


def input_format(path: Path) -> str:
    return os.path.splitext(strip_compression(path.name.lower()))[1]


def reader_class(path: Path) -> type[Reader] | None:
    """The reader of this file's format, or None when there is none (warcio cannot read `.warc.zst`)."""
    fmt = input_format(path)
    if fmt == ".warc" and compression_of(path.name) == "zstd":
        return None
    return READERS.get(fmt)


def holds_many_records(path: str | Path) -> bool:
    """Whether the file is one of records (JSONL, WARC), counted and cut into tasks of records."""
    cls = reader_class(Path(path))
    return cls is not None and cls.many_records


def iter_input_files(
    inputs: Sequence[str | Path], follow_symlinks: bool = True
) -> Iterator[tuple[Path, Path, tuple[str, str] | None]]:
    """Yield (file, root, problem) for every file under the inputs, sorted (a folder's files, then its
    sub-folders), hidden files skipped. `problem` is (reason, detail) for what must not or cannot be
    read: FIFOs, devices and sockets (never opened: a FIFO would block the run), directories that
    cannot be listed, symlink loops, over-long paths, and symlinked directories when
    `follow_symlinks` is off. Nothing is skipped silently: each becomes an error record."""
    for given in inputs:
        root = Path(given)
        problem, is_dir = _check(root, follow_symlinks=True)  # a folder named on the command line is followed
        if is_dir:
            yield from _walk(root, follow_symlinks)
        else:
            yield root, root.parent, problem


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


_KINDS = {
    stat.S_IFIFO: "FIFO (named pipe)",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket",
}


def _check(path: Path, follow_symlinks: bool) -> tuple[tuple[str, str] | None, bool]:
    """(problem or None, is a directory to walk) for one path, by stat alone (nothing is opened)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return (_os_reason(exc, path), f"{path}: {exc.strerror or exc}"), False
    if stat.S_ISDIR(st.st_mode):
        if not follow_symlinks and path.is_symlink():
            return (
                "symlinked_directory",
                f"{path}: a symbolic link to a directory, not followed (read.follow_symlinks: false)",
            ), False
        return None, True
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "special file")
        return ("not_a_file", f"{path}: a {kind}, not read"), False
    return None, False


def _os_reason(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink_loop"
    if exc.errno == errno.ENAMETOOLONG:
        return "path_too_long"
    if exc.errno == errno.ENOENT:
        return "broken_symlink" if path.is_symlink() else "missing_input"
    return "unreadable"


def _walk(root: Path, follow_symlinks: bool) -> Iterator[tuple[Path, Path, tuple[str, str] | None]]:
    """Depth first, a folder's files before its sub-folders, without recursion (a crawl may nest
    folders deeper than Python's recursion limit)."""
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[Path, tuple[tuple[int, int], ...]]] = [(root, ())]
    while stack:
        directory, ancestors = stack.pop()
        try:
            ident = _identity(directory)
        except OSError as exc:
            yield directory, root, (_os_reason(exc, directory), f"{directory}: {exc.strerror or exc}")
            continue
        if ident in ancestors:  # a symlink back up the tree: walking it would never end
            yield (
                directory,
                root,
                (
                    "symlink_loop",
                    f"{directory}: a symbolic link loop (leads back to {os.path.realpath(directory)})",
                ),
            )
            continue
        if ident in visited:  # a second way into a folder already read: its files would be read twice
            yield (
                directory,
                root,
                ("already_read", f"{directory}: leads to {os.path.realpath(directory)}, already read"),
            )
            continue
        visited.add(ident)
        try:
            names = sorted(name for name in os.listdir(directory) if not name.startswith("."))
        except OSError as exc:
            reason = "path_too_long" if exc.errno == errno.ENAMETOOLONG else "unreadable_directory"
            yield directory, root, (reason, f"{directory}: cannot list the directory: {exc.strerror or exc}")
            continue
        folders = []
        for name in names:
            path = directory / name
            problem, is_dir = _check(path, follow_symlinks)
            if is_dir:
                folders.append(path)
            else:
                yield path, root, problem
        stack.extend((folder, ancestors + (ident,)) for folder in reversed(folders))


def input_problem(path: Path, root: Path, reason: str, detail: str) -> Document:
    """The error record of an input the walk found unreadable or unfit to read (never opened)."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) and path != root else path.name
    rel = safe_str(rel)
    return error_document(
        rel,
        {"input_path": rel, "input_root": str(root), "file": safe_str(str(path))},
        reason,
        safe_str(detail),
    )


def read_file(
    path: Path,
    root: Path,
    options: dict,
    records: tuple[int, int] | None = None,
    seek: Seek | None = None,
    counters: Counter | None = None,
) -> Iterator[tuple[int, Document]]:
    """(record number, document) for the file's records, or only those in [start, stop) = `records`;
    `seek` is where record `start` begins (from the reader's `index`). What the reader counted
    besides documents is added to `counters` (the read stage's figures)."""
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    rel = safe_str(rel)  # a file name that is not UTF-8: ids and records show the bad bytes escaped
    provenance = {"input_path": rel, "input_root": str(root), "file": safe_str(str(path))}
    problem, _is_dir = _check(path, follow_symlinks=True)
    if problem:  # gone since the listing, or replaced by a FIFO/device: reported without opening it
        yield 0, error_document(rel, provenance, problem[0], safe_str(problem[1]))
        return
    cls = reader_class(path)
    if cls is None:
        detail = f"{path}: no reader for '{input_format(path) or path.name}'"
        yield 0, error_document(rel, provenance, "unsupported_format", detail)
        return
    reader = cls(options)
    start, stop = records or (0, None)
    try:
        yield from _guarded(
            zip(itertools.count(start), reader.read(path, provenance, start, stop, seek)),
            path,
            provenance,
            start,
        )
    finally:
        if counters is not None:
            counters.update(reader.counters)


def _guarded(
    records_read: Iterator[tuple[int, Document]], path: Path, provenance: dict, start: int
) -> Iterator[tuple[int, Document]]:
    """The records a reader yields; a reader bug or a file it did not foresee makes the rest of the
    file one error record."""
    record_no = start - 1
    try:
        for record_no, doc in records_read:
            yield record_no, doc
    except Exception as exc:
        where = f"{provenance['input_path']}#{record_no + 1}"
        detail = f"{path}: {type(exc).__name__}: {exc} (after record {record_no})"
        yield record_no + 1, error_document(where, provenance, "reader_error", detail)


def error_document(doc_id: str, provenance: dict, reason: str, detail: str) -> Document:
    doc = Document(id=doc_id, provenance=dict(provenance))
    doc.drop("read", reason, detail, error=True)
    return doc
