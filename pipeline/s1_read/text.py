"""Page dumps (`.txt`, `.txt.gz`): one document per file, bytes decoded by the `decode` step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.document import Document
from pipeline.s1_read.files import READ_ERRORS, read_capped, read_error_reason


def read_text_dump(path: Path, rel: str, provenance: dict, options: dict) -> Iterator[Document]:
    doc = Document(id=rel, media_type="text", provenance=dict(provenance))
    try:
        doc.raw = read_capped(path, options["max_bytes"])
    except READ_ERRORS as exc:
        doc.drop("read", read_error_reason(exc), f"{path}: {type(exc).__name__}: {exc}", error=True)
    yield doc
