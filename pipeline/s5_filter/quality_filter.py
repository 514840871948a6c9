"""quality_filter: drop documents whose stored quality signals break their language's thresholds.

Reads `metadata.quality` (written by quality_signals; computed here if missing, e.g.
for an old corpus) and the profile of `metadata.language`. The first threshold that
fails, in profile order, is the drop: reason `quality:<signal>`, detail naming the
value, the limit and where the limit is defined. Documents of a language with no
profile and no fallback pass unfiltered, counted as `quality.no_profile`.
"""

from __future__ import annotations

from pipeline.document import Document
from pipeline.options import Schema, option
from pipeline.s5_filter.quality_profiles import LangProfile, Threshold, profiles_for
from pipeline.s5_filter.quality_signals import compute_signals
from pipeline.step import Step


def first_failure(signals: dict, profile: LangProfile) -> tuple[Threshold, str] | None:
    """The first threshold of `profile` that `signals` fail, with the failure detail."""
    for threshold in profile.thresholds:
        value = signals.get(threshold.signal)
        if value is None:
            continue
        detail = threshold.failure(value)
        if detail:
            return threshold, detail
    return None


class QualityFilter(Step):
    name = "quality_filter"
    pipeline_stage = "filter"

    class Options(Schema):
        # language -> profile file
        profiles: dict[str, str] = option({"vi": "quality/vi.yaml", "en": "quality/en.yaml"})
        fallback: str = ""  # profile for other languages; "" = keep them unfiltered (counted)

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.profiles, self.fallback = profiles_for(self)

    def process(self, doc: Document) -> None:
        profile = self.profiles.get(doc.metadata.get("language")) or self.fallback
        if profile is None:
            self.stats.counters["quality.no_profile"] += 1
            return
        signals = doc.metadata.get("quality")
        if not isinstance(signals, dict):
            signals = doc.metadata["quality"] = compute_signals(doc.text, profile)
            self.stats.counters["quality.recomputed"] += 1
        failed = first_failure(signals, profile)
        if failed:
            threshold, detail = failed
            doc.drop(self.name, f"quality:{threshold.signal}", detail)
