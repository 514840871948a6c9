"""Names used in config -> where the code lives. Imports are lazy so that an
unused heavy step (or optional extra) is never imported."""

from __future__ import annotations

import importlib

STEPS = {
    "decode": "pipeline.s1_read.decode:Decode",
    "extract_html": "pipeline.s2_extract.html:ExtractHtml",
    "article_region": "pipeline.s3_clean.region:ArticleRegion",
    "template_lines": "pipeline.s3_clean.template_lines:TemplateLines",
    "clean_lines": "pipeline.s3_clean.clean:CleanLines",
    "dump_metadata": "pipeline.s3_clean.dump_metadata:DumpMetadata",
    "repeated_lines": "pipeline.s3_clean.repeats:RepeatedLines",
    "normalize": "pipeline.s4_normalize.normalize:Normalize",
    "language_filter": "pipeline.s5_filter.language:LanguageFilter",
    "length_filter": "pipeline.s5_filter.length:LengthFilter",
    "pii_mask": "pipeline.s5_filter.pii:PiiMask",
    "quality_signals": "pipeline.s5_filter.quality_signals:QualitySignals",
    "quality_filter": "pipeline.s5_filter.quality_filter:QualityFilter",
    "exact_dedup": "pipeline.s6_dedup.exact:ExactDedup",
    "near_dedup": "pipeline.s6_dedup.near:NearDedup",
}


def load_object(dotted: str):
    module, _, attr = dotted.partition(":")
    return getattr(importlib.import_module(module), attr)


def step_class(name: str):
    return load_object(STEPS[name])
