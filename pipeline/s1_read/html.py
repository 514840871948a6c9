"""Saved HTML pages (`.html`, `.htm`, and their `.gz`): one document per file.

The bytes are decoded by the `decode` step (HTTP/meta charset, UTF-8, fallbacks) and the
article is taken out by `extract_html`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.document import Document
from pipeline.s1_read.files import READ_ERRORS, read_capped, read_error_reason
from pipeline.s1_read.inputs import path_id


def read_html_page(path: Path, rel: str, provenance: dict, options: dict) -> Iterator[Document]:
    doc = Document(id=path_id(rel), media_type="html", provenance=dict(provenance))
    try:
        doc.raw = read_capped(path, options["max_bytes"])
    except READ_ERRORS as exc:
        doc.drop("read", read_error_reason(exc), f"{path}: {type(exc).__name__}: {exc}", error=True)
    yield doc
