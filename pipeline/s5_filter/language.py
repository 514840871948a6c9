"""language_filter: language id with py3langid (model shipped inside the package)."""

from __future__ import annotations

import functools

from pipeline.document import Document
from pipeline.step import Step


@functools.lru_cache(maxsize=1)
def _identifier():
    # imported lazily: loading the model takes a moment and is needed only when this step runs
    from pipeline.s5_filter.langid_fast import load_identifier
    return load_identifier(norm_probs=True)  # py3langid's model and scores, scanned with numpy


def identify(text: str, sample_chars: int = 3000) -> tuple[str, float]:
    lang, prob = _identifier().classify(text[:sample_chars])
    return lang, float(prob)


class LanguageFilter(Step):
    name = "language_filter"
    defaults = {
        "languages": [],  # keep these; empty list keeps every language (still tagged)
        "exclude": ["la"],  # drop these even when `languages` is empty (Latin: lorem ipsum placeholders)
        "min_score": 0.5,
        "sample_chars": 1000,
    }

    def process(self, doc: Document) -> None:
        if not doc.text.strip():
            doc.drop(self.name, "empty_text", "nothing left after cleaning")
            return
        lang, score = identify(doc.text, self.options["sample_chars"])
        doc.metadata["language"], doc.metadata["language_score"] = lang, round(score, 4)
        wanted = self.options["languages"]
        if wanted and lang not in wanted:
            doc.drop(self.name, "language", f"{lang} ({score:.2f}) not in {wanted}")
        elif lang in self.options["exclude"]:
            doc.drop(self.name, "language", f"{lang} ({score:.2f}) is excluded {self.options['exclude']}")
        elif score < self.options["min_score"]:
            doc.drop(self.name, "language_score", f"{lang} score {score:.2f} < {self.options['min_score']}")
