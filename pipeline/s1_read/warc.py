"""WARC archives (`.warc`, `.warc.gz`): one document per HTTP response (or resource) record.

Streamed with warcio. A response document holds the HTTP payload (de-chunked, content
encoding undone) as `raw` with media type "html"; the `decode` step reads the charset of
the HTTP Content-Type from `provenance["http_charset"]` and `extract_html` takes the
article out. `metadata["url"]` is the WARC-Target-URI and `metadata["crawl_date"]` the
WARC-Date (when the page was fetched, not published). The id is the WARC-Record-ID.

Accounting: every response/resource record is one document. One that is not an HTML
page (image, PDF, robots.txt) or not a 2xx answer is dropped with a reason (`not_html`,
`http_status`). Request, metadata, warcinfo and revisit records hold no page: they are
not documents (as in every WARC tool) but are counted in the read stage's counters
(`warc_<type>_records`, the reader's `counters`). A truncated record, or a part of the file that is not a WARC
record, is an error record naming the file, record number and offset; reading resumes at
the next record that parses (next gzip member, or next `WARC/1.x` line), so one bad
record does not lose the rest of a large archive.

Documents are numbered in file order (`input_path` = `rel#N`, N = record number among all
the file's records), and `WarcReader.count` walks the file the same way, so a large
archive can be cut into tasks (`start`/`stop`).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # warcio is imported where a WARC file is read: it brings fsspec and urllib3 (~0.1 s)
    from warcio.archiveiterator import ArchiveIterator

from pipeline.document import Document
from pipeline.fs import INFLATE_ERRORS, open_decompressed
from pipeline.s1_read.reader import Reader, Seek

PAGE_RECORDS = ("response", "resource")  # records that hold a fetched page: one document each
HTML_TYPES = ("text/html", "application/xhtml+xml")
# errors of a broken payload (bad content encoding, cut file)


@functools.cache
def read_errors() -> tuple[type[BaseException], ...]:
    """The errors of reading a record that make it unreadable, not the run fail."""
    from warcio.exceptions import ArchiveLoadFailed

    return (ArchiveLoadFailed, EOFError, OSError, *INFLATE_ERRORS, ValueError)


GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_LINE = re.compile(rb"\nWARC/1\.[01]\r?\n")  # a record header line, at the start of a line
_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_SNIFF_HTML = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
SCAN_CHUNK = 1 << 20


@dataclass
class Broken:
    """A part of the file that is not a readable record (one error document)."""

    reason: str  # truncated | broken_record
    detail: str
    offset: int


class WarcReader(Reader):
    """WARC archives: one document per response/resource record; other records counted."""

    extensions = (".warc",)
    many_records = True

    def count(self, path: Path) -> int:
        """Number of documents `read` yields for this file (payloads are not decoded)."""
        return sum(1 for _ in _walk(path, Counter()))

    def read(
        self, path: Path, provenance: dict, start: int = 0, stop: int | None = None, seek: Seek | None = None
    ) -> Iterator[Document]:
        # records that are not documents count for the task reading the document after them (the
        # last document's task takes those after it), so tasks over one file add up to the whole
        skipped: Counter = Counter()
        last_read = False  # whether the file's last document so far is in this task's range
        for index, (number, item, offset) in enumerate(_walk(path, skipped)):
            if stop is not None and index >= stop:
                return
            last_read = index >= start
            if not last_read:
                skipped.clear()
                continue
            self._count_skipped(skipped)
            yield self._document(path, provenance, number, item, offset)
        if last_read:
            self._count_skipped(skipped)

    def _count_skipped(self, skipped: Counter) -> None:
        for rec_type, n in skipped.items():
            self.counters[f"warc_{rec_type}_records"] += n
        skipped.clear()

    def _document(self, path: Path, provenance: dict, number: int, item, offset: int) -> Document:
        where = f"{provenance['input_path']}#{number}"
        doc = Document(
            id=where,
            media_type="html",
            provenance={**provenance, "input_path": where, "record": number, "warc_offset": offset},
        )
        if isinstance(item, Broken):
            detail = f"{path}: record {number} at offset {item.offset}: {item.detail}"
            doc.drop("read", item.reason, detail, error=True)
        else:
            _fill(doc, item, path, number, self.options["max_bytes"])
        return doc


# --- one record -> one document ----------------------------------------------------------


def _fill(doc: Document, record, path: Path, number: int, max_bytes: int) -> None:
    headers = record.rec_headers
    record_id = (headers.get_header("WARC-Record-ID") or "").strip().strip("<>")
    if record_id:
        doc.id = record_id
    url = (headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
    if url:
        doc.metadata["url"] = url
    date = (headers.get_header("WARC-Date") or "").strip()
    if date:
        doc.metadata["crawl_date"] = date
    where = f"{path}: record {number}"
    try:
        verdict = _page(doc, record, where, url, max_bytes)
    except read_errors() as exc:  # e.g. a bad gzip content encoding
        verdict = ("unreadable", f"{where}: payload: {type(exc).__name__}: {exc}", True)
    # checked last: a record cut inside its HTTP headers can look like anything (an image, a 404)
    try:
        cut: bool | str = _cut_short(record)
    except read_errors() as exc:  # a .warc.gz compressed as one stream, cut inside this record
        cut = f"{type(exc).__name__}: {exc}"
    if cut:
        verdict = (
            "truncated",
            f"{where}: record cut short (file truncated?)" + (f": {cut}" if isinstance(cut, str) else ""),
            True,
        )
    if verdict is not None:
        doc.raw = None
        reason, detail, error = verdict
        doc.drop("read", reason, detail, error=error)


def _page(doc: Document, record, where: str, url: str, max_bytes: int) -> tuple[str, str, bool] | None:
    """Put the HTML payload in `doc.raw`, or say why not: (reason, detail, is an error)."""
    http = record.http_headers if record.rec_type == "response" else None
    if record.rec_type == "response" and http is None:
        return "broken_record", f"{where}: response without HTTP headers", True
    content_type = (
        http.get_header("Content-Type") if http else record.rec_headers.get_header("Content-Type")
    ) or ""
    mime = content_type.split(";")[0].strip().lower()
    if http is not None:
        status = http.get_statuscode() or ""
        if not (len(status) == 3 and status.isdigit()):
            return "broken_record", f"{where}: bad HTTP status line {http.statusline[:80]!r}", True
        doc.provenance["http_status"] = int(status)
        if not status.startswith("2"):  # redirects, 404 pages, server errors: not the article
            return "http_status", f"{where}: HTTP {status} for {url}", False
        match = _CHARSET.search(content_type)
        if match:
            doc.provenance["http_charset"] = match.group(1)
    sniff = mime in ("", "application/octet-stream", "text/plain")  # servers mislabel pages as these
    if mime not in HTML_TYPES and not sniff:
        return "not_html", f"{where}: {mime} for {url}", False
    data = record.content_stream().read(max_bytes + 1)
    if len(data) > max_bytes:
        return "too_large", f"{where}: payload larger than read.max_bytes={max_bytes}", True
    if sniff and not _SNIFF_HTML.match(data[:2048]):
        return "not_html", f"{where}: {mime or 'no content type'}, not HTML, for {url}", False
    doc.raw = data
    return None


def _cut_short(record) -> bool:
    """Read what is left of the record; True when the file ended before its Content-Length."""
    stream = record.raw_stream
    while stream.read(SCAN_CHUNK):
        pass
    return getattr(stream, "limit", 0) > 0


# --- the file -> records and broken parts ------------------------------------------------


@functools.cache
def _iterator_class() -> type[ArchiveIterator]:
    from warcio.archiveiterator import ArchiveIterator

    class _Iterator(ArchiveIterator):
        """warcio's iterator, remembering whether the last gzip member was complete: warcio ends
        quietly on a .warc.gz cut inside a member's headers."""

        gzip_complete = True

        def close(self):
            decompressor = self.reader.decompressor if self.reader else None
            if decompressor is not None:
                self.gzip_complete = decompressor.eof
            super().close()

    return _Iterator


class _Truncated(OSError):
    """A gzip stream cut short (warcio takes EOFError for a clean end of file, so it is renamed)."""


class _NoEOF:
    def __init__(self, fh):
        self.fh = fh

    def read(self, size=-1):
        try:  # read1: one raw read, so the bytes decompressed before the cut are returned first
            return self.fh.read1(size) if size and size > 0 else self.fh.read()
        except EOFError as exc:
            raise _Truncated(str(exc)) from None

    def tell(self):
        return self.fh.tell()


def _walk(path: Path, skipped: Counter) -> Iterator[tuple[int, object, int]]:
    """(record number, page record or Broken, offset) in file order; other records counted into `skipped`.

    A page record must be consumed (or not) by the caller before asking for the next one.
    """
    gz = path.name.lower().endswith(".gz")
    size = path.stat().st_size
    number = 0
    pos: int | None = 0
    resyncing = False  # after a broken part: candidates that do not parse are not reported again
    with open(path, "rb") as fh:
        while pos is not None:
            fh.seek(pos)
            it = _iterator_class()(fh)
            last_cut = False
            try:
                for record in it:
                    resyncing = False
                    number += 1
                    offset = it.offset
                    if _complete_headers(record) and record.rec_type in PAGE_RECORDS:
                        yield number, record, offset
                        last_cut = _cut_short(record)  # a cut page record is reported by the reader itself
                        continue
                    # at the end of the file a record without headers is a cut, elsewhere a malformed one
                    broken, last_cut = _not_a_page(record, skipped, lambda: _at_end(it, fh, size), offset)
                    if broken:
                        yield number, broken, offset
            except Exception as exc:  # warcio on a malformed record raises many kinds (even AttributeError)
                if gz and "non-chunked gzip" in str(exc):  # one gzip stream for the whole file
                    yield from _walk_stream(path, skipped, number)
                    return
                if not resyncing:
                    number += 1
                    detail = " ".join(str(exc).split())[:300]
                    reason = "truncated" if _at_end(it, fh, size) else "broken_record"
                    yield number, Broken(reason, f"{type(exc).__name__}: {detail}", it.offset), it.offset
                resyncing = True
                pos = _next_record_start(fh, max(it.offset, pos) + 1, gz)
                continue
            broken = None if resyncing or last_cut else _after_last_record(it, fh, size)
            if broken:
                number += 1
                yield number, broken, it.offset
            pos = None


def _not_a_page(record, skipped: Counter, at_end, offset: int) -> tuple[Broken | None, bool]:
    """(the error of a record that is not a page, or None; whether it was cut short). A record
    without WARC-Type or Content-Length is `truncated` when `at_end()`, else `broken_record`; one
    that is not a page (request, metadata, warcinfo) is counted in `skipped`."""
    if not _complete_headers(record):
        _cut_short(record)  # what is left of it read, so the next record can be found
        reason = "truncated" if at_end() else "broken_record"
        return Broken(reason, "WARC headers without WARC-Type or Content-Length", offset), True
    skipped[record.rec_type] += 1
    last_cut = _cut_short(record)
    return (
        Broken("truncated", f"{record.rec_type} record cut short", offset) if last_cut else None
    ), last_cut


def _after_last_record(it: ArchiveIterator, fh: IO[bytes], size: int) -> Broken | None:
    """What is wrong with the end of the file after warcio's last record: a gzip member cut short,
    or bytes that are not a complete record; None when the file ends cleanly."""
    if not it.gzip_complete:
        return Broken("truncated", "gzip member cut short", it.offset)
    if it.offset < size and _has_data(fh, it.offset):
        return Broken("truncated", f"{size - it.offset} bytes that are not a complete record", it.offset)
    return None


def _walk_stream(path: Path, skipped: Counter, done: int) -> Iterator[tuple[int, object, int]]:
    """A .warc.gz compressed as one stream: read through gzip (no resync), skipping the `done` records seen."""
    number = 0
    from warcio.archiveiterator import ArchiveIterator

    with open_decompressed(path) as fh:  # zlib-ng, as every .gz input
        it = ArchiveIterator(_NoEOF(fh))
        last_cut = False
        try:
            for record in it:
                number += 1
                if number <= done:
                    continue
                if _complete_headers(record) and record.rec_type in PAGE_RECORDS:
                    yield number, record, it.offset
                    last_cut = _cut_short(record)
                    continue
                broken, last_cut = _not_a_page(record, skipped, lambda: False, it.offset)
                if broken:
                    yield number, broken, it.offset
        except Exception as exc:
            if not last_cut:
                number = max(number, done) + 1
                yield (
                    number,
                    Broken(
                        "truncated" if isinstance(exc, _Truncated) else "broken_record",
                        f"{type(exc).__name__}: {exc} (offset in the uncompressed stream)",
                        it.offset,
                    ),
                    it.offset,
                )


def _complete_headers(record) -> bool:
    length = record.rec_headers.get_header("Content-Length") or ""
    return bool(record.rec_type) and length.strip().isdigit()


def _at_end(it: ArchiveIterator, fh: IO[bytes], size: int) -> bool:
    """True when the record that failed was the last thing in the file (so the file was cut)."""
    reader = it.reader
    return fh.tell() >= size and (reader is None or not reader.rem_length())


def _has_data(fh: IO[bytes], offset: int) -> bool:
    fh.seek(offset)
    while True:
        chunk = fh.read(SCAN_CHUNK)
        if not chunk:
            return False
        if chunk.strip():
            return True


def _next_record_start(fh: IO[bytes], pos: int, gz: bool) -> int | None:
    """Offset of the next place a record may start (gzip member, or a `WARC/1.x` line), or None."""
    fh.seek(pos)
    base, tail = pos, b""
    while True:
        chunk = fh.read(SCAN_CHUNK)
        if not chunk:
            return None
        data = tail + chunk
        if gz:
            found = data.find(GZIP_MAGIC)
            if found >= 0:
                return base + found
        else:
            m = WARC_LINE.search(data)
            if m:
                return base + m.start() + 1
        keep = 16  # a marker split across two chunks
        tail = data[-keep:]
        base += len(data) - len(tail)
