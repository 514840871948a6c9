"""Saved HTML pages (`.html`, `.htm`, and their `.gz`): one document per file.

The bytes are decoded by the `decode` step (HTTP/meta charset, UTF-8, fallbacks) and the
article is taken out by `extract_html`.
"""

from __future__ import annotations

import os

from pipeline.fs import strip_compression
from pipeline.s1_read.reader import PageReader


class HtmlReader(PageReader):
    """A saved page; its id is the relative path without the extension ("site/page.html.gz" -> "site/page")."""

    extensions = (".html", ".htm", ".xhtml")
    media_type = "html"

    def doc_id(self, rel: str) -> str:
        stem, ext = os.path.splitext(strip_compression(rel))
        return stem if ext.lower() in self.extensions and stem and not stem.endswith("/") else rel
