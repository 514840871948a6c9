"""language_filter: language id with py3langid (model shipped inside the package)."""

from __future__ import annotations

import functools

from pipeline.config import ConfigError
from pipeline.document import Document
from pipeline.kernels import kernels_for, preload
from pipeline.options import Schema, option
from pipeline.step import Step


@functools.lru_cache(maxsize=1)
def _identifier():
    # imported lazily: loading the model takes a moment and is needed only when this step runs
    from pipeline.s5_filter.langid_fast import load_identifier

    return load_identifier(norm_probs=True)  # py3langid's model and scores, scanned with numpy


def identify(text: str, sample_chars: int = 3000, kernels=None) -> tuple[str, float]:
    """Language and score of `text`'s first `sample_chars`; `kernels`: the compiled module of
    `pipeline.kernels` (the same result, faster) or None."""
    identifier = _identifier()
    identifier.kernels = kernels
    lang, prob = identifier.classify(text[:sample_chars])
    return lang, float(prob)


# the codes py3langid's model can return (tests/test_first_hour.py checks this against the model);
# a config naming another code ("vn") would silently drop every document
KNOWN_LANGUAGES = frozenset(
    """
    ace af am an ar ary arz as az ba bcl be bg bn br bs ca crh cs cy da de dz el en eo es et eu ext
    fa fi fo fr fuv fy ga gcf gcr gd gl gom grc gu gug guw ha hbo he hi hr ht hu hy id ig is it ja
    jv ka kab kik kk km kn ko ku ky la lb lg lij ln lo lt ltg lv mg mk ml mn mr ms mt my ne nl nn no
    nso oc om or pa pcm pl ps pt qu ro ru rw sa sdh se si sk sl sn so sq sr st sv sw ta te tg th tk
    tl tr tt ug uk ur uz uzs vec vi vo wa wuu xh yo yue zh zu zxx
""".split()
)


class LanguageFilter(Step):
    name = "language_filter"
    pipeline_stage = "filter"

    class Options(Schema):
        languages: list[str] = option([])  # keep these; empty list keeps every language (still tagged)
        # drop these even when `languages` is empty (Latin: lorem ipsum placeholders)
        exclude: list[str] = option(["la"])
        min_score: float = option(0.5, low=0, high=1)
        sample_chars: int = option(1000, low=1)

    @classmethod
    def validate(cls, options: dict, where) -> None:
        """Refuse language codes the model never returns; `where(key)` is the `file:line` of a key."""
        for key in ("languages", "exclude"):
            unknown = [code for code in options[key] if code not in KNOWN_LANGUAGES]
            if unknown:
                raise ConfigError(
                    f"{where(key)}: {cls.name}.{key}: unknown language code "
                    f"{', '.join(map(repr, unknown))} (valid: {' '.join(sorted(KNOWN_LANGUAGES))})"
                )

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._identified = 0  # documents identified in this process (when the compiled scan pays)

    def preload(self, docs_per_process: int) -> None:
        if docs_per_process > 0:
            _identifier()  # ~170 MB of tables, the same in every worker
            preload(docs_per_process)

    def unload(self) -> None:
        _identifier.cache_clear()  # the reduce after the map identifies no language

    def process(self, doc: Document) -> None:
        if not doc.text.strip():
            doc.drop(self.name, "empty_text", "nothing left after cleaning")
            return
        self._identified += 1  # small runs stay on numpy; the compiled scan once it pays (same result)
        lang, score = identify(doc.text, self.options["sample_chars"], kernels_for(self._identified))
        doc.metadata["language"], doc.metadata["language_score"] = lang, round(score, 4)
        wanted = self.options["languages"]
        if wanted and lang not in wanted:
            doc.drop(self.name, "language", f"{lang} ({score:.2f}) not in {wanted}")
        elif lang in self.options["exclude"]:
            doc.drop(self.name, "language", f"{lang} ({score:.2f}) is excluded {self.options['exclude']}")
        elif score < self.options["min_score"]:
            doc.drop(self.name, "language_score", f"{lang} score {score:.2f} < {self.options['min_score']}")
