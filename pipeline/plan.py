"""Cut the input into tasks, independently of how many workers will run them.

A task is a list of small files (page dumps, HTML pages) or a record range of
one large multi-record file (JSONL, WARC). Task boundaries depend only on the
input and `run.task_size`, so the output is the same for any number of workers
or engine. Every document gets an `order` key from its file's position in the
sorted input and its record number in that file, so the keep rule of dedup does
not depend on the partitioning either.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import xxhash

from pipeline.document import Document
from pipeline.s1_read.inputs import input_problem, iter_input_files, read_file, reader_class
from pipeline.s1_read.reader import Progress

ORDER_BITS = 32  # records per file < 2**32
# The run's last TAIL_TASKS tasks are cut into TAIL_PIECES pieces (`split_tail`): tasks are handed
# out in order, so the last one ran alone while the other workers sat idle (15 tasks on 2 workers:
# one task's time, ~2 s of a 23 s run); with pieces the workers finish within a piece of each other.
# Pieces of fewer than MIN_PIECE records are not worth their files.
TAIL_TASKS = 2
TAIL_PIECES = 4
MIN_PIECE = 250


@dataclass(frozen=True)
class InputFile:
    index: int  # position in the sorted input
    path: str
    root: str
    size: int | None = None
    xxh3_128: str | None = None
    error: str | None = None
    reason: str | None = (
        None  # with `error`: an input found unfit by the walk (FIFO, loop, ...), never opened
    )
    stamp: tuple[int, int, int] | None = (
        None  # (size, mtime_ns, inode) when hashed: a change during the run shows
    )

    def changed_since_listed(self) -> str | None:
        """Why the file is not the version listed (and hashed) any more, or None when it still is."""
        if self.stamp is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError as exc:
            return f"gone during the run ({exc.strerror or exc})"
        if (st.st_size, st.st_mtime_ns, st.st_ino) != self.stamp:
            return "changed during the run"
        return None

    @property
    def rel(self) -> str:
        p, r = Path(self.path), Path(self.root)
        return p.relative_to(r).as_posix() if p.is_relative_to(r) and p != r else p.name

    def manifest_entry(self) -> dict:
        entry = {"path": self.path, "size": self.size, "xxh3_128": self.xxh3_128}
        if self.error:
            entry["error"] = self.error
        return entry


@dataclass(frozen=True)
class TaskSpec:
    index: int
    files: tuple[InputFile, ...]
    records: tuple[int, int] | None = None  # [start, stop) within files[0], when one file is split
    seek: tuple[int, int] | None = (
        None  # (byte offset, lines before) of record `start`, when the reader can seek
    )


def hash_file(path: Path) -> tuple[int, str, tuple[int, int, int]]:
    """(size, xxh3_128, stamp). Opened non-blocking and checked to be a regular file, so a FIFO
    swapped in after the listing is refused instead of blocking the run."""
    h = xxhash.xxh3_128()
    size = 0
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest(), (st.st_size, st.st_mtime_ns, st.st_ino)


def _distinct_root(path: Path, root: Path, rels: set[str]) -> Path:
    """`root`, or an ancestor of it when a file of another input already has this relative
    path: ids and input_path come from it, and two inputs must not share them
    (`-i crawlA crawlB`, both with page.html: the second becomes crawlB/page.html)."""
    rel = InputFile(0, str(path), str(root)).rel
    while rel in rels and root.parent != root:
        root = root.parent
        rel = InputFile(0, str(path), str(root)).rel
    rels.add(rel)
    return root


def list_inputs(inputs: Sequence[str | Path], follow_symlinks: bool = True) -> list[InputFile]:
    """Every input file, sorted, with its size and content hash (for the manifest and incremental runs)."""
    files = []
    rels: set[str] = set()
    for index, (path, root, problem) in enumerate(iter_input_files(inputs, follow_symlinks)):
        root = _distinct_root(Path(path), Path(root), rels)
        if problem:
            files.append(InputFile(index, str(path), str(root), error=problem[1], reason=problem[0]))
            continue
        try:
            size, digest, stamp = hash_file(path)
            files.append(InputFile(index, str(path), str(root), size, digest, stamp=stamp))
        except OSError as exc:
            files.append(InputFile(index, str(path), str(root), error=f"{type(exc).__name__}: {exc}"))
    return files


def tail_piece(task_size: int, split_tail: bool = True) -> int:
    """Records (or small files) per piece of the run's last tasks; 0 when they are not cut (a task
    size that TAIL_PIECES does not divide: the seek marks are every piece, and must fall on every
    task's start too)."""
    piece = task_size // TAIL_PIECES
    if not split_tail or task_size % TAIL_PIECES or piece < MIN_PIECE:
        return 0
    return piece


def index_every(task_size: int, split_tail: bool) -> int:
    """Records between two seek marks: a task's, or a tail piece's when the tail is cut."""
    return tail_piece(task_size, split_tail) or task_size


def plan_tasks(
    files: list[InputFile],
    task_size: int,
    read_options: dict,
    counted: dict | None = None,
    split_tail: bool = False,
    progress: Progress | None = None,
) -> list[TaskSpec]:
    """`counted`: {file index: (records, seek marks every `index_every(task_size, split_tail)`
    records)} counted beforehand (plan_count.py), else counted here. `split_tail`: the last
    tasks cut into pieces (TAIL_TASKS; only where the output does not depend on the task cut).
    `progress`: told the documents planned so far (a file of records counts its records, any
    other file one), also while a file is being counted; its last value is the run's total."""
    counted = counted or {}
    every = index_every(task_size, split_tail)
    marks_of: dict[int, list | None] = {}
    tasks: list[TaskSpec] = []
    small: list[InputFile] = []
    documents = 0

    def flush() -> None:
        if small:
            tasks.append(TaskSpec(len(tasks), tuple(small)))
            small.clear()

    for f in files:
        if f.index in counted:
            n, marks = counted[f.index]
        elif f.error:
            n, marks = None, None
        else:
            n, marks = _count_and_index(f, read_options, every, _after(documents, progress))
        documents += 1 if n is None else max(n, 1)  # an empty file of records: its one error record
        if progress is not None:
            progress(documents)
        marks_of[f.index] = marks
        if n is None:  # one document per file: group files
            small.append(f)
            if len(small) >= task_size:
                flush()
            continue
        flush()  # a multi-record file gets tasks of its own
        if n <= task_size:
            tasks.append(TaskSpec(len(tasks), (f,)))
        else:
            for start in range(0, n, task_size):
                tasks.append(
                    TaskSpec(len(tasks), (f,), (start, min(n, start + task_size)), _mark(marks, start, every))
                )
    flush()
    piece = tail_piece(task_size, split_tail)
    return _split_tail(tasks, piece, marks_of) if piece else tasks


def _after(before: int, progress: Progress | None) -> Progress | None:
    """`progress` of the whole plan, for the count of a file that comes after `before` documents."""
    if progress is None:
        return None
    return lambda records: progress(before + records)


def _mark(marks: list | None, start: int, every: int) -> tuple[int, int] | None:
    k = start // every
    return marks[k] if marks and k < len(marks) else None


def _split_tail(tasks: list[TaskSpec], piece: int, marks_of: dict) -> list[TaskSpec]:
    """The last TAIL_TASKS tasks cut into pieces of `piece` records (or files), renumbered."""
    out = tasks[:-TAIL_TASKS]
    for task in tasks[-TAIL_TASKS:]:
        for part in _pieces(task, piece, marks_of.get(task.files[0].index)):
            out.append(dataclasses.replace(part, index=len(out)))
    return out


def _pieces(task: TaskSpec, piece: int, marks: list | None) -> list[TaskSpec]:
    if task.records is not None:  # a record range: its start is a multiple of `piece` (piece | task size)
        start, stop = task.records
        return [
            TaskSpec(0, task.files, (at, min(stop, at + piece)), _mark(marks, at, piece))
            for at in range(start, stop, piece)
        ]
    if len(task.files) > 1:  # a group of small files (one document each)
        return [TaskSpec(0, task.files[at : at + piece]) for at in range(0, len(task.files), piece)]
    return [task]  # one whole file


def task_size_for(
    files: list[InputFile], partitions: int, read_options: dict, sizes: dict | None = None
) -> int:
    """The task size that cuts the input into about `partitions` tasks (a small file or a record is one unit).
    `sizes`: {file index: records} counted beforehand (plan_count.py), else counted here."""
    units = 0
    for f in files:
        if sizes is not None and f.index in sizes:
            n = sizes[f.index]
        else:
            n = _count(f, read_options) if not f.error else None
        units += 1 if n is None else max(n, 1)
    return max(1, -(-units // max(1, partitions)))


def _count_and_index(
    f: InputFile, read_options: dict, every: int, progress: Progress | None = None
) -> tuple[int | None, list[tuple[int, int]] | None]:
    """(records, start offsets of every `every`-th record or None) of a file of records; (None, None)
    for a one-document file (or an unreadable one). `progress`: told the records counted so far."""
    cls = reader_class(Path(f.path))
    if cls is None or not cls.many_records:
        return None, None
    try:
        return cls(read_options).index(Path(f.path), every, progress)
    except Exception:  # unreadable: the reader reports it as an error record
        return None, None


def _count(f: InputFile, read_options: dict) -> int | None:
    """Records in a file of records; None for a one-document file (or an unreadable one)."""
    cls = reader_class(Path(f.path))
    if cls is None or not cls.many_records:
        return None
    try:
        return cls(read_options).count(Path(f.path))
    except Exception:  # unreadable: the reader reports it as an error record
        return None


def read_task(task: TaskSpec, read_options: dict, counters: Counter | None = None) -> Iterator[Document]:
    """The task's documents, each with its partition-independent `order`; what the readers counted
    besides documents (e.g. WARC request records) is added to `counters`."""
    for f in task.files:
        if f.reason:  # found unfit by the walk: reported, never opened
            doc = input_problem(Path(f.path), Path(f.root), f.reason, f.error or "")
            doc.provenance["order"] = f.index << ORDER_BITS
            yield doc
            continue
        for record_no, doc in read_file(
            Path(f.path), Path(f.root), read_options, task.records, task.seek, counters
        ):
            doc.provenance["order"] = (f.index << ORDER_BITS) | record_no
            yield doc
