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
from pipeline.s1_read.jsonl import keep_resume_points
from pipeline.s1_read.reader import Progress

ORDER_BITS = 32  # records per file < 2**32
# The run's last TAIL_TASKS tasks are cut into pieces (`split_tail`): tasks are handed out in order,
# so the last one ran alone while the other workers sat idle (15 tasks on 2 workers: one task's time,
# ~2 s of a 23 s run). The pieces shrink toward the end (half a task, a quarter, ..., two of each, then
# the smallest, task_size / TAIL_PIECES): the workers finish within a smallest piece of each other,
# and a worker never runs out of handed-out tasks while the other runs a whole one (the engine keeps
# 2 tasks per worker in flight: behind the last whole task only three equal quarters were handed
# out, 3/4 of its time, and the other worker could sit idle for the rest).
# A smallest piece of fewer than MIN_PIECE records is not worth its files: then quarters, else no cut.
TAIL_TASKS = 2
TAIL_PIECES = 8
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
    """Records (or small files) of the smallest piece of the run's last tasks: task_size / TAIL_PIECES,
    or / (TAIL_PIECES / 2), ... down to quarters, the first of at least MIN_PIECE that divides the
    task size (the seek marks are every smallest piece, and must fall on every task's start too);
    0 when the tail is not cut."""
    parts = TAIL_PIECES
    while split_tail and parts >= 4:
        if task_size % parts == 0 and task_size // parts >= MIN_PIECE:
            return task_size // parts
        parts //= 2
    return 0


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
    if piece:
        tasks = _split_tail(tasks, _tail_sizes(task_size, piece), marks_of, piece)
    # the inflater states the count kept at the seek marks: only those the tasks start at
    keep_resume_points((t.files[0].path, t.seek[0]) for t in tasks if t.seek is not None)
    return tasks


def _after(before: int, progress: Progress | None) -> Progress | None:
    """`progress` of the whole plan, for the count of a file that comes after `before` documents."""
    if progress is None:
        return None
    return lambda records: progress(before + records)


def _mark(marks: list | None, start: int, every: int) -> tuple[int, int] | None:
    k = start // every
    return marks[k] if marks and k < len(marks) else None


def _split_tail(tasks: list[TaskSpec], sizes: Iterator[int], marks_of: dict, piece: int) -> list[TaskSpec]:
    """The last TAIL_TASKS tasks cut into pieces of the next `sizes` records (or files), renumbered;
    the seek marks are every `piece` records."""
    out = tasks[:-TAIL_TASKS]
    for task in tasks[-TAIL_TASKS:]:
        for part in _pieces(task, sizes, marks_of.get(task.files[0].index), piece):
            out.append(dataclasses.replace(part, index=len(out)))
    return out


def _tail_sizes(task_size: int, piece: int) -> Iterator[int]:
    """Piece sizes from the tail's start: half a task twice, a quarter twice, ..., then `piece` for
    the rest (a tail of two whole tasks of 8 pieces: 4, 4, 2, 2, 1, 1, 1, 1). Each a multiple of `piece`."""
    size = task_size // 2
    while size > piece:
        yield size
        yield size
        size //= 2
    while True:
        yield piece


def _pieces(task: TaskSpec, sizes: Iterator[int], marks: list | None, every: int) -> list[TaskSpec]:
    """`task` cut into pieces of the next `sizes` (the last one shorter where the task ends); a piece
    starts at a multiple of `every` (the seek marks), since the task and every size before it do."""
    if task.records is not None:  # a record range: its start is a multiple of the task size
        start, stop = task.records
        bounds = _cuts(start, stop, sizes)
        return [TaskSpec(0, task.files, (a, b), _mark(marks, a, every)) for a, b in bounds]
    if len(task.files) > 1:  # a group of small files (one document each)
        return [TaskSpec(0, task.files[a:b]) for a, b in _cuts(0, len(task.files), sizes)]
    return [task]  # one whole file


def _cuts(start: int, stop: int, sizes: Iterator[int]) -> list[tuple[int, int]]:
    bounds = []
    while start < stop:
        end = min(stop, start + next(sizes))
        bounds.append((start, end))
        start = end
    return bounds


def cut_digest(tasks: Sequence[TaskSpec]) -> str:
    """A digest of where the tasks begin and end (files, record ranges): an unfinished run is resumed
    only with the same cut, since its finished tasks' work files are reused by index (the count alone
    does not tell two cuts of the tail apart)."""
    h = xxhash.xxh3_64()
    for task in tasks:
        h.update(repr(([f.index for f in task.files], task.records)).encode())
    return h.hexdigest()


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
