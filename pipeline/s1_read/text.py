"""Page dumps (`.txt`, `.txt.gz`): one document per file, bytes decoded by the `decode` step."""

from __future__ import annotations

from pipeline.s1_read.reader import PageReader


class TextReader(PageReader):
    """A page dump; its id is the path relative to the input folder."""

    extensions = (".txt",)
    media_type = "text"
