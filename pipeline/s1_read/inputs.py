"""Walk the inputs and hand each file to the reader for its format.

Files are visited in sorted order so runs are deterministic. A file whose format is
unknown, or that cannot be read, becomes an error record: nothing is skipped silently.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Iterator

from pipeline.document import Document
from pipeline.fs import compression_of, strip_compression
from pipeline.registry import load_object
from pipeline.s7_write.safe_json import safe_str

# extension (after stripping .gz or .zst) -> reader function(path, rel, options) -> Iterator[Document]
READERS = {
    ".txt": "pipeline.s1_read.text:read_text_dump",
    ".html": "pipeline.s1_read.html:read_html_page",
    ".htm": "pipeline.s1_read.html:read_html_page",
    ".xhtml": "pipeline.s1_read.html:read_html_page",
    ".warc": "pipeline.s1_read.warc:read_warc",
    ".jsonl": "pipeline.s1_read.jsonl:read_jsonl",
    ".ndjson": "pipeline.s1_read.jsonl:read_jsonl",
    ".json": "pipeline.s1_read.jsonl:read_dolma",  # dolma documents, one JSON object per line
}
# formats holding many records: extension -> count_records(path, options), so big files can be split into tasks
RECORD_COUNTERS: dict[str, str] = {
    ".jsonl": "pipeline.s1_read.jsonl:count_jsonl_records",
    ".ndjson": "pipeline.s1_read.jsonl:count_jsonl_records",
    ".json": "pipeline.s1_read.jsonl:count_jsonl_records",
    ".warc": "pipeline.s1_read.warc:count_warc_records",
}


def input_format(path: Path) -> str:
    return os.path.splitext(strip_compression(path.name.lower()))[1]


def path_id(rel: str) -> str:
    """Id of a one-document file: its relative path without the format (and .gz/.zst) extension,
    e.g. "site/page.html.gz" -> "site/page"."""
    name = strip_compression(rel)
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in READERS and stem and not stem.endswith("/") else rel


def iter_input_files(inputs: list[str | Path]) -> Iterator[tuple[Path, Path]]:
    """Yield (file, root) for every file under the inputs, sorted, hidden files skipped."""
    for given in inputs:
        root = Path(given)
        if root.is_file():
            yield root, root.parent
        elif root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if not name.startswith("."):
                        yield Path(dirpath) / name, root
        else:
            yield root, root.parent  # missing input: reported as an error record below


def read_inputs(inputs: list[str | Path], options: dict) -> Iterator[Document]:
    for path, root in iter_input_files(inputs):
        for _record_no, doc in read_file(path, root, options):
            yield doc


def read_file(path: Path, root: Path, options: dict, records: tuple[int, int] | None = None,
              seek: tuple[int, int] | None = None) -> Iterator[tuple[int, Document]]:
    """(record number, document) for the file's records, or only those in [start, stop).

    A reader may take `start`/`stop` keyword arguments to skip records cheaply;
    otherwise skipped records are read and discarded. One that `supports_seek` also
    takes `seek`, where record `start` begins (from its counter's `seek_index`).
    """
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    rel = safe_str(rel)  # a file name that is not UTF-8: ids and records show the bad bytes escaped
    provenance = {"input_path": rel, "input_root": str(root), "file": safe_str(str(path))}
    if not path.exists():
        yield 0, error_document(rel, provenance, "missing_input", f"{path}: no such file or directory")
        return
    fmt = input_format(path)
    reader = READERS.get(fmt)
    if fmt == ".warc" and compression_of(path.name) == "zstd":  # warcio reads plain and gzipped WARC only
        reader = None
    if reader is None:
        yield 0, error_document(rel, provenance, "unsupported_format", f"{path}: no reader for '{fmt or path.name}'")
        return
    try:
        read = load_object(reader)
    except ImportError as exc:  # a reader's optional dependency missing: the file is reported, the run goes on
        yield 0, error_document(rel, provenance, "unsupported_format", f"{path}: reader unavailable: {exc}")
        return
    start, stop = records or (0, None)
    if getattr(read, "supports_ranges", False):
        extra = {"seek": seek} if seek is not None and getattr(read, "supports_seek", False) else {}
        records_read = zip(itertools.count(start), read(path, rel, provenance, options, start=start, stop=stop,
                                                        **extra))
    else:
        records_read = itertools.islice(enumerate(read(path, rel, provenance, options)), start, stop)
    record_no = start - 1
    try:
        for record_no, doc in records_read:
            yield record_no, doc
    except Exception as exc:  # a reader bug or a file it did not foresee: the rest of the file is one error record
        yield record_no + 1, error_document(f"{rel}#{record_no + 1}", provenance, "reader_error",
                                            f"{path}: {type(exc).__name__}: {exc} (after record {record_no})")


def error_document(doc_id: str, provenance: dict, reason: str, detail: str) -> Document:
    doc = Document(id=doc_id, provenance=dict(provenance))
    doc.drop("read", reason, detail, error=True)
    return doc
