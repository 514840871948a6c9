"""The reader contract: one class per input format.

A reader names the file extensions it takes (after `.gz`/`.zst` is stripped), says how
many records a file holds when it holds many (`count`, so a big file can be cut into
tasks), and yields the documents of records [start, stop). What it passes over without
making a document of it (e.g. WARC request records) goes into its `counters`, which the
task adds to the read stage's figures in the manifest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

from pipeline.document import Document
from pipeline.s1_read.files import READ_ERRORS, read_capped, read_error_reason

Seek = tuple[int, int]  # where a record starts: (byte offset, lines before it), from `index`
Progress = Callable[[int], None]  # told the records counted so far, while `index` counts a file


class Reader:
    """Base class of the readers; `options` are the config's `read` section."""

    extensions: ClassVar[tuple[str, ...]] = ()
    # False: one document per file (files are grouped into tasks); True: a file of records, counted
    # by `count` and read by ranges of records
    many_records: ClassVar[bool] = False

    def __init__(self, options: dict):
        self.options = options
        self.counters: Counter = Counter()  # name -> count of what was read but is not a document

    def count(self, path: Path) -> int:
        """Number of documents `read` yields for the whole file (a file of records); raises when
        the file cannot be read (the reader then reports it)."""
        return 1

    def index(
        self, path: Path, every: int, progress: Progress | None = None
    ) -> tuple[int, list[Seek] | None]:
        """(`count`, where records 0, every, 2 * every, ... start, or None when the format cannot seek).
        `progress`, if the reader reports it, is called with the records counted so far as it goes."""
        return self.count(path), None

    def read(
        self, path: Path, provenance: dict, start: int = 0, stop: int | None = None, seek: Seek | None = None
    ) -> Iterator[Document]:  # pragma: no cover - interface
        """The documents of records [start, stop); `seek` is where record `start` begins (from `index`).
        `provenance` is what every document of the file carries; its `input_path` is the file's path
        relative to its input folder (the base of the documents' ids)."""
        raise NotImplementedError


class PageReader(Reader):
    """One page per file: its bytes, decoded by the `decode` step."""

    media_type: ClassVar[str] = "text"

    def doc_id(self, rel: str) -> str:
        return rel

    def read(
        self, path: Path, provenance: dict, start: int = 0, stop: int | None = None, seek: Seek | None = None
    ) -> Iterator[Document]:
        rel = provenance["input_path"]
        if start > 0 or (stop is not None and stop <= 0):  # the file's one record is outside the range
            return
        doc = Document(id=self.doc_id(rel), media_type=self.media_type, provenance=dict(provenance))
        try:
            doc.raw = read_capped(path, self.options["max_bytes"])
        except READ_ERRORS as exc:
            doc.drop("read", read_error_reason(exc), f"{path}: {type(exc).__name__}: {exc}", error=True)
        yield doc
