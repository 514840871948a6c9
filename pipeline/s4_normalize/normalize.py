"""normalize: Unicode NFC, whitespace, optional tone-mark placement; lines -> paragraphs."""

from __future__ import annotations

import re
import unicodedata

from pipeline.document import Document
from pipeline.options import Schema, option
from pipeline.s4_normalize.tone_marks import place_tone_marks
from pipeline.step import Step

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200c\u200d\u2060\ufeff\u00ad]")
# The regexes scan non-ASCII text at ~30 ns a character; most texts hold none of what they
# replace (a single " " stays " "), which a few substring searches (memchr speed) tell first.
_SPACE_CHARS = "\t\u00a0" + "".join(map(chr, range(0x2000, 0x200C))) + "\u202f\u205f\u3000"
_INVISIBLE_CHARS = "\u200c\u200d\u2060\ufeff\u00ad"


class Normalize(Step):
    name = "normalize"
    pipeline_stage = "normalize"

    class Options(Schema):
        tone_marks: str = option("keep", choices=("keep", "new", "old"))  # keep | new | old
        paragraph_separator: str = "\n\n"

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        if self.options["tone_marks"] not in ("keep", "new", "old"):
            from pipeline.config import ConfigError

            raise ConfigError(
                f"normalize.tone_marks must be keep, new or old, not {self.options['tone_marks']!r}"
            )

    def process(self, doc: Document) -> None:
        doc.text = normalize_text(doc.text, self.options["tone_marks"], self.options["paragraph_separator"])
        for key in ("title", "author", "section"):
            if isinstance(doc.metadata.get(key), str):
                doc.metadata[key] = normalize_text(doc.metadata[key], "keep", " ")


def normalize_text(text: str, tone_marks: str = "keep", separator: str = "\n\n") -> str:
    if any(c in text for c in _INVISIBLE_CHARS):
        text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFC", text)
    if tone_marks != "keep":
        text = place_tone_marks(text, tone_marks)
    if "  " in text or any(c in text for c in _SPACE_CHARS):
        text = _SPACES.sub(" ", text)  # the class holds no newline: the same as line by line
    return separator.join(filter(None, map(str.strip, text.split("\n"))))  # the non-blank lines, stripped
