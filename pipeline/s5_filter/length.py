"""length_filter: drop documents with too little text left after cleaning."""

from __future__ import annotations

import re

import numpy as np

from pipeline.document import Document
from pipeline.kernels import kernels_for, preload
from pipeline.options import Schema
from pipeline.s5_filter.quality_tokens import SPACE_POINTS
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

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._counted = 0  # documents counted in this process (when the compiled count pays)

    def preload(self, docs_per_process: int) -> None:
        preload(docs_per_process)

    def process(self, doc: Document) -> None:
        self._judge(doc, len(doc.text.split()))

    def process_batch(self, docs: list[Document]) -> None:
        """The batch's word counts (`str.split`'s) from one compiled pass over its texts' code
        points instead of a list of words per document, then `process`'s judgement."""
        self._counted += len(docs)
        kernels = kernels_for(self._counted)
        if kernels is None:  # small runs: no compiled code to load
            counts = [len(doc.text.split()) for doc in docs]
        else:  # one separator character between texts: the kernel finds them by their lengths
            joined = "\n".join([doc.text for doc in docs])
            points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            lengths = np.array([len(doc.text) for doc in docs], dtype=np.int64)
            counts = kernels.word_counts(points, SPACE_POINTS, lengths).tolist()
        for doc, n_words in zip(docs, counts):
            self._judge(doc, n_words)

    def _judge(self, doc: Document, n_words: int) -> None:
        n_chars = len(doc.text)
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
