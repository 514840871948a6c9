"""JSONL crawl files (`.jsonl`, `.ndjson`, and their `.gz`/`.zst`): one document per non-blank line;
and dolma document files (`.json.gz`, `.json.zst`), the same reader with dolma's field names.

Field names come from `read.jsonl_fields` (id, url, html, text, title, created). A
record with HTML goes through `extract_html`; one with only text is cleaned like a page
dump. A line that is not JSON, not an object, or has neither html nor text becomes an
error record naming the file and line; a truncated gzip or zstd ends the file with one error
record for what could not be read. Records are numbered by non-blank line, so a large
file can be cut into tasks (`start`/`stop`) and `count_jsonl_records` agrees with the reader.
"""

from __future__ import annotations

import bisect
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, ClassVar

import orjson

from pipeline.document import Document
from pipeline.fs import (
    INFLATE_ERRORS,
    GzipReader,
    GzipState,
    compression_of,
    open_decompressed,
    skip_to,
)
from pipeline.s1_read.files import ZSTD_ERRORS, read_error_reason
from pipeline.s1_read.reader import Progress, Reader, Seek
from pipeline.s3_clean.dates import parse_datetime

READ_ERRORS = (OSError, EOFError, *INFLATE_ERRORS, *ZSTD_ERRORS)
_FRACTION = re.compile(r"(\d\d:\d\d:\d\d)[.,]\d+")


def _open(path: Path) -> IO[bytes]:
    return open_decompressed(path)


def _lines(fh: IO[bytes], max_bytes: int, line_no: int = 0) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for non-blank lines; None for a line longer than max_bytes (skipped to its end).
    `line_no`: lines before the file position (when the reader starts at a task's offset)."""
    while True:
        line = fh.readline(max_bytes + 1)
        if not line:
            return
        line_no += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while True:  # skip the rest of the oversized line in bounded pieces
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield line_no, None
            continue
        if line.strip():
            yield line_no, line


def count_jsonl_records(path: Path, options: dict) -> int:
    """Number of records the reader will yield (non-blank lines; an empty file yields its one error
    record). Raises if the file is unreadable."""
    return max(1, index_jsonl_records(path, options, 1 << 62)[0])


def index_jsonl_records(
    path: Path, options: dict, every: int, progress: Progress | None = None
) -> tuple[int, list[tuple[int, int]]]:
    """(number of records, [(byte offset, lines before) of records 0, every, 2 * every, ...]).

    The same records as `_lines` (non-blank lines, and lines longer than max_bytes), found
    in chunks of up to 1 MB rather than a readline per line. The offsets are in the uncompressed
    stream: a task that starts at record k * every seeks there instead of reading and
    parsing the records before it (which made reading a big file quadratic in its tasks).
    `progress` is told the records counted so far after each chunk (the run starts loading
    its models while a large file is still being counted: pipeline/preload.py). A `.gz` file
    also keeps, at each mark, where its inflater stood (`_ResumePoints`).
    """
    max_bytes = options["max_bytes"]
    marks = _Marks(every, path)
    records = lines = pos = 0  # pos: offset of the current line's start
    partial_len, partial_blank = 0, True  # the line running over the chunk boundary
    for chunk, state in _chunks(path):
        parts = chunk.split(b"\n")
        last = parts.pop()
        for part in parts:  # complete lines, without their newline
            length = partial_len + len(part)
            if length > max_bytes or not partial_blank or part.strip():
                if records % every == 0:
                    marks.add(pos, lines, state)
                records += 1
            lines += 1
            pos += length + 1
            partial_len, partial_blank = 0, True
        if not partial_len:  # the line left over starts in this chunk
            marks.line_state = state
        partial_len += len(last)
        partial_blank = partial_blank and not last.strip()
        if progress is not None:
            progress(records)
    if partial_len and (partial_len > max_bytes or not partial_blank):  # a last line without newline
        if records % every == 0:
            marks.add(pos, lines, None)
        records += 1
    marks.keep()
    return records, marks.marks


def _chunks(path: Path) -> Iterator[tuple[bytes, GzipState | None]]:
    """The file's decompressed bytes in chunks of up to 1 MB, each with where a `.gz` file's
    inflater stood at the chunk's start (None for other files and salvaged bytes)."""
    if compression_of(path.name) != "gzip":
        with _open(path) as fh:
            yield from ((chunk, None) for chunk in iter(lambda: fh.read(1 << 20), b""))
        return
    with GzipReader(open(path, "rb"), keep_starts=True) as reader:
        while chunk := reader.read(1 << 20):  # one inflate call a chunk: one start state
            yield chunk, reader.last_start


class _Marks:
    """The seek marks of a file being counted, and for a `.gz` file the inflater's state at the
    start of the chunk each marked line begins in (`line_state`: the chunk of the line that runs
    on from the chunk before)."""

    def __init__(self, every: int, path: Path):
        self.marks: list[tuple[int, int]] = []
        self.line_state: GzipState | None = None
        self._path = path
        self._points = _ResumePoints(_identity(path)) if compression_of(path.name) == "gzip" else None

    def add(self, pos: int, lines: int, state: GzipState | None) -> None:
        if self._points is not None:
            for candidate in (state, self.line_state):  # the line starts in this chunk, or before
                if candidate is not None and candidate.position <= pos:
                    self._points.add(len(self.marks), pos, candidate)
                    break
        self.marks.append((pos, lines))

    def keep(self) -> None:
        """The states kept for this process's readers of the file (a forked worker inherits them)."""
        if self._points is not None and self._points.states:
            _keep_points(self._path, self._points)


# Gzipped inputs cannot seek: reaching a task's offset means inflating everything before it,
# which made N tasks over one big .jsonl.gz cost N^2 / 2 task-lengths of decompression. A
# process keeps the file open where its last task stopped; its next task of that file (a
# later one: tasks are handed out in order) continues from there, so each process inflates
# the file about once. Keyed by inode, size and mtime, so a changed file is opened afresh.
_PARKED: dict[str, tuple[tuple, IO[bytes]]] = {}
_PARK_LIMIT = 4


class _ResumePoints:
    """Where a `.gz` file's inflater stood at its seek marks, kept by the count (`index_jsonl_records`).
    The plan counts a file in the driver before the workers are forked: a forked worker inherits
    these and starts a task from its mark's state instead of inflating all the tasks before it
    (the other workers' too: ~0.15 s CPU a worker for articles-30k). Processes that did not count
    the file (spawned workers, Ray, a counting pool's other children) have none and inflate as before.

    A state is ~42 KB: at most LIMIT are kept a file (every mark, or every 2nd, 4th, ... mark of a
    file with more), and the plan keeps only those its tasks start at (`keep_resume_points`)."""

    LIMIT = 256

    def __init__(self, ident: tuple):
        self.ident = ident  # the file as counted (inode, size, mtime): a changed file has no states
        self.states: dict[int, tuple[int, GzipState]] = {}  # by offset: (mark number, state)
        self._stride = 1

    def add(self, mark: int, offset: int, state: GzipState) -> None:
        if mark % self._stride:
            return
        self.states[offset] = (mark, state)
        if len(self.states) > self.LIMIT:  # thin out: every other kept mark
            self._stride *= 2
            self.states = {k: v for k, v in self.states.items() if v[0] % self._stride == 0}

    def nearest(self, offset: int) -> GzipState | None:
        """The kept state nearest before `offset` (decompressed), or None."""
        key = self._nearest_key(offset)
        return None if key is None else self.states[key][1]

    def keep_for(self, offsets: Iterable[int]) -> None:
        """Drop the states that no start at `offsets` would resume from."""
        keys = {self._nearest_key(offset) for offset in offsets}
        self.states = {k: v for k, v in self.states.items() if k in keys}

    def _nearest_key(self, offset: int) -> int | None:
        keys = sorted(self.states)
        at = bisect.bisect_right(keys, offset)
        return keys[at - 1] if at else None


# path -> its states, oldest first; at most TOTAL_LIMIT states in all (~21 MB): a counting pool's
# child that counts many files keeps those of the last ones
_RESUME: dict[str, _ResumePoints] = {}
TOTAL_LIMIT = 512


def _keep_points(path: Path, points: _ResumePoints) -> None:
    _RESUME.pop(str(path), None)
    _RESUME[str(path)] = points
    while sum(len(p.states) for p in _RESUME.values()) > TOTAL_LIMIT:
        del _RESUME[next(iter(_RESUME))]


def forget_resume_points() -> None:
    """Drop the states of earlier counts (an earlier plan in this process): the file may have been
    rewritten since in a way its identity does not show (in place, same size and mtime), and a plan
    that counts it in a pool's child would leave them here for its forked workers."""
    _RESUME.clear()


def keep_resume_points(starts: Iterable[tuple[str, int]]) -> None:
    """Keep only the states that tasks starting at `starts` ((path, decompressed offset)) resume
    from (the plan's tasks: the rest would only take memory)."""
    wanted: dict[str, set[int]] = {}
    for path, offset in starts:
        wanted.setdefault(path, set()).add(offset)
    for path in list(_RESUME):
        _RESUME[path].keep_for(wanted.get(path, ()))
        if not _RESUME[path].states:
            del _RESUME[path]


def _identity(path: Path) -> tuple:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _open_at(path: Path, offset: int) -> tuple[IO[bytes], tuple | None]:
    """The file positioned at `offset` (uncompressed), and the identity to park it under (.gz, .zst):
    from the parked handle or a kept inflater state, whichever is nearer before `offset`, else
    from the file's start."""
    if compression_of(path.name) == "none":
        plain = open(path, "rb")
        plain.seek(offset)
        return plain, None
    ident = _identity(path)
    parked = _PARKED.pop(str(path), None)
    fh: IO[bytes] | None = None
    if parked is not None:
        if parked[0] == ident and parked[1].tell() <= offset:
            fh = parked[1]
        else:
            parked[1].close()
    points = _RESUME.get(str(path))
    state = points.nearest(offset) if points is not None and points.ident == ident else None
    if state is not None and (fh is None or fh.tell() < state.position):
        if fh is not None:
            fh.close()
        fh = io.BufferedReader(GzipReader.resumed(open(path, "rb"), state), buffer_size=1 << 16)
    if fh is None:
        fh = open_decompressed(path)
    try:
        skip_to(fh, offset)  # forward only: inflated and discarded, no line parsing
    except BaseException:
        fh.close()
        raise
    return fh, ident


def _park(path: Path, ident: tuple, fh: IO[bytes]) -> None:
    while len(_PARKED) >= _PARK_LIMIT:
        _PARKED.pop(next(iter(_PARKED)))[1].close()
    _PARKED[str(path)] = (ident, fh)


class JsonlReader(Reader):
    """JSONL crawl records, one per non-blank line; field names from `read.jsonl_fields`."""

    extensions: ClassVar[tuple[str, ...]] = (".jsonl", ".ndjson")
    many_records = True

    @property
    def fields(self) -> dict:
        return self.options["jsonl_fields"]

    def count(self, path: Path) -> int:
        return count_jsonl_records(path, self.options)

    def index(
        self, path: Path, every: int, progress: Progress | None = None
    ) -> tuple[int, list[Seek] | None]:
        return index_jsonl_records(path, self.options, every, progress)

    def read(
        self, path: Path, provenance: dict, start: int = 0, stop: int | None = None, seek: Seek | None = None
    ) -> Iterator[Document]:
        rel = provenance["input_path"]
        record, line_no, first = -1, 0, 0
        fh, ident, parked = None, None, False
        try:
            if seek is not None:
                fh, ident = _open_at(path, seek[0])
                line_no, first, record = seek[1], start, start - 1
            else:
                fh = _open(path)
            for record, (line_no, line) in enumerate(_lines(fh, self.options["max_bytes"], line_no), first):  # noqa: B020 (resumes the count)
                if record < start:
                    continue
                if stop is not None and record >= stop:
                    return
                yield self._document(line, line_no, provenance, path)
                if ident is not None and stop is not None and record + 1 >= stop:
                    _park(path, ident, fh)  # positioned right after this task's last record
                    parked = True
                    return
            if record < 0 and start == 0:  # not one record: the file itself is reported, not lost
                doc = Document(id=rel, provenance=dict(provenance))
                doc.drop("read", "empty", f"{path}: no JSON lines (empty or blank file)", error=True)
                yield doc
        except READ_ERRORS as exc:  # truncated gzip, I/O error: what is left of the file is one error record
            if stop is None or record + 1 < stop:
                yield _cut_short(path, provenance, line_no, exc)
        finally:
            if fh is not None and not parked:
                fh.close()

    def _document(self, line: bytes | None, line_no: int, provenance: dict, path: Path) -> Document:
        where = f"{provenance['input_path']}#{line_no}"
        doc = Document(id=where, provenance={**provenance, "input_path": where, "line": line_no})
        if line is None:
            limit = self.options["max_bytes"]
            doc.drop(
                "read", "too_large", f"{path}:{line_no}: line longer than read.max_bytes={limit}", error=True
            )
            return doc
        data = _parse(doc, line, f"{path}:{line_no}")
        if data is None or not _take_body(doc, data, self.fields, f"{path}:{line_no}"):
            return doc
        for key in ("url", "title", "created"):
            value = data.get(self.fields[key]) if self.fields[key] else None
            if isinstance(value, str) and value.strip():
                doc.metadata[key] = value.strip()
        _carry_dolma_fields(doc, data)
        if "created" in doc.metadata:  # ISO 8601 like every other path, or unknown
            # fractional seconds ("11:40:22.000Z", as dolma writes) would hide the zone after them
            doc.metadata["created"] = parse_datetime(_FRACTION.sub(r"\1", doc.metadata["created"]))
        return doc


# dolma documents: {id, text, source, added, created, metadata}; url and title come from `metadata`
DOLMA_FIELDS = {"id": "id", "url": "", "html": "", "text": "text", "title": "", "created": "created"}


class DolmaReader(JsonlReader):
    """dolma files (`*.json.gz`, `*.json.zst`): one document per line, its `text` cleaned like a page dump."""

    extensions = (".json",)

    @property
    def fields(self) -> dict:
        return DOLMA_FIELDS


def _cut_short(path: Path, provenance: dict, line_no: int, exc: BaseException) -> Document:
    """The error record of what is left of a file that could not be read to its end."""
    where = f"{provenance['input_path']}#{line_no + 1}"
    doc = Document(id=where, provenance={**provenance, "input_path": where})
    detail = f"{path}: after line {line_no}: {type(exc).__name__}: {exc}"
    doc.drop("read", read_error_reason(exc), detail, error=True)
    return doc


def _parse(doc: Document, line: bytes, where: str) -> dict | None:
    """The line's JSON object, or None with `doc` dropped (not JSON, not an object)."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        doc.drop("read", "invalid_json", f"{where}: {exc}", error=True)
        return None
    if not isinstance(data, dict):
        detail = f"{where}: a JSON {type(data).__name__}, not an object"
        doc.drop("read", "invalid_record", detail, error=True)
        return None
    return data


def _take_body(doc: Document, data: dict, fields: dict, where: str) -> bool:
    """Set the document's id and its html or text from the record; False (dropped) when it has neither."""
    given_id = data.get(fields["id"]) if fields["id"] else None
    if isinstance(given_id, (str, int)) and not isinstance(given_id, bool) and str(given_id).strip():
        doc.id = str(given_id)
    html = data.get(fields["html"]) if fields["html"] else None
    text = data.get(fields["text"]) if fields["text"] else None
    if isinstance(html, str) and html.strip():
        doc.media_type, doc.text = "html", html
    elif isinstance(text, str) and text.strip():
        doc.text = text
    else:
        wanted = " or ".join(repr(fields[k]) for k in ("html", "text") if fields[k])
        doc.drop("read", "missing_field", f"{where}: no non-empty string field {wanted}", error=True)
        return False
    return True


def _carry_dolma_fields(doc: Document, data: dict) -> None:
    """What a dolma-style record (`metadata`, `source`, `added`) says is kept: its `metadata` object
    whole, as a JSON string in `metadata.input_metadata` (one Arrow type for every record, whatever
    keys each source uses; url and title are taken from it when the record has none at top level),
    its `added` as `metadata.input_added`, and its `source` becomes the record's `source` when the
    page's site is unknown (the input collection's name in dolma's convention)."""
    meta = data.get("metadata")
    if isinstance(meta, dict) and meta:
        doc.metadata["input_metadata"] = orjson.dumps(meta).decode()
        for key in ("url", "title"):
            value = meta.get(key)
            if key not in doc.metadata and isinstance(value, str) and value.strip():
                doc.metadata[key] = value.strip()
    added = data.get("added")
    if isinstance(added, str) and added.strip():
        doc.metadata["input_added"] = added.strip()
    source = data.get("source")
    if isinstance(source, str) and source.strip():
        doc.provenance["collection"] = source.strip()
