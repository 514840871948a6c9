"""JSONL crawl files (`.jsonl`, `.ndjson`, and their `.gz`): one document per non-blank line.

Field names come from `read.jsonl_fields` (id, url, html, text, title, created). A
record with HTML goes through `extract_html`; one with only text is cleaned like a page
dump. A line that is not JSON, not an object, or has neither html nor text becomes an
error record naming the file and line; a truncated gzip ends the file with one error
record for what could not be read. Records are numbered by non-blank line, so a large
file can be cut into tasks (`start`/`stop`) and `count_jsonl_records` agrees with the reader.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import IO, Iterator

import orjson

from pipeline.document import Document
from pipeline.s3_clean.dates import parse_datetime

READ_ERRORS = (OSError, EOFError, zlib.error)


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _lines(fh: IO[bytes], max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for non-blank lines; None for a line longer than max_bytes (skipped to its end)."""
    line_no = 0
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
    """Number of records the reader will yield (non-blank lines). Raises if the file is unreadable."""
    with _open(path) as fh:
        return sum(1 for _ in _lines(fh, options["max_bytes"]))


def read_jsonl(path: Path, rel: str, provenance: dict, options: dict,
               start: int = 0, stop: int | None = None) -> Iterator[Document]:
    fields = options["jsonl_fields"]
    record = -1
    line_no = 0
    try:
        with _open(path) as fh:
            for record, (line_no, line) in enumerate(_lines(fh, options["max_bytes"])):
                if record < start:
                    continue
                if stop is not None and record >= stop:
                    return
                yield _document(line, line_no, rel, provenance, fields, path, options["max_bytes"])
    except READ_ERRORS as exc:  # truncated gzip, I/O error: what is left of the file is one error record
        if stop is not None and record + 1 >= stop:
            return
        where = f"{rel}#{line_no + 1}"
        doc = Document(id=where, provenance={**provenance, "input_path": where})
        doc.drop("read", "truncated" if isinstance(exc, EOFError) else "unreadable",
                 f"{path}: after line {line_no}: {type(exc).__name__}: {exc}", error=True)
        yield doc


read_jsonl.supports_ranges = True


def _document(line: bytes | None, line_no: int, rel: str, provenance: dict, fields: dict,
              path: Path, max_bytes: int) -> Document:
    where = f"{rel}#{line_no}"
    doc = Document(id=where, provenance={**provenance, "input_path": where, "line": line_no})
    if line is None:
        doc.drop("read", "too_large", f"{path}:{line_no}: line longer than read.max_bytes={max_bytes}", error=True)
        return doc
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        doc.drop("read", "invalid_json", f"{path}:{line_no}: {exc}", error=True)
        return doc
    if not isinstance(data, dict):
        doc.drop("read", "invalid_record", f"{path}:{line_no}: a JSON {type(data).__name__}, not an object",
                 error=True)
        return doc
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
        doc.drop("read", "missing_field", f"{path}:{line_no}: no non-empty string field {wanted}", error=True)
        return doc
    for key in ("url", "title", "created"):
        value = data.get(fields[key]) if fields[key] else None
        if isinstance(value, str) and value.strip():
            doc.metadata[key] = value.strip()
    if "created" in doc.metadata:  # ISO 8601 like every other path, or unknown
        doc.metadata["created"] = parse_datetime(doc.metadata["created"])
    return doc
