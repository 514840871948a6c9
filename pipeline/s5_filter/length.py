"""length_filter: drop documents with too little text left after cleaning."""

from __future__ import annotations

import re

from pipeline.document import Document
from pipeline.options import Schema
from pipeline.step import Step

# Chinese and Japanese are written without spaces: each ideograph or kana counts as a word
_UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class LengthFilter(Step):
    name = "length_filter"
    pipeline_stage = "filter"

    class Options(Schema):
        min_chars: int = 200
        min_words: int = 30
        max_chars: int = 1_000_000

    def process(self, doc: Document) -> None:
        n_chars, n_words = len(doc.text), len(doc.text.split())
        doc.word_count = (doc.text, n_words)  # reused by the output record while the text is this one
        doc.metadata["n_chars"], doc.metadata["n_words"] = n_chars, n_words
        if n_chars < self.options["min_chars"]:
            doc.drop(self.name, "too_short", f"{n_chars} chars < min_chars {self.options['min_chars']}")
        elif (
            n_words < self.options["min_words"]
            and _words_with_unspaced(doc.text, n_words) < self.options["min_words"]
        ):
            doc.drop(self.name, "too_short", f"{n_words} words < min_words {self.options['min_words']}")
        elif n_chars > self.options["max_chars"]:
            doc.drop(self.name, "too_long", f"{n_chars} chars > max_chars {self.options['max_chars']}")


def _words_with_unspaced(text: str, n_words: int) -> int:
    """Whitespace words plus one per Chinese/Japanese character (only asked of short-looking texts)."""
    return n_words + len(_UNSPACED.findall(text))
