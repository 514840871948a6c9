"""The shipped filter defaults: every language is kept and tagged, placeholder text is dropped
in any language (Latin excluded, C4's lorem ipsum rule); the language-independent profile
(quality/generic.yaml) filters other languages when chosen as quality_filter's fallback."""

from __future__ import annotations

import random

import pytest
from quality_junk import junk_set

from pipeline.config import load_config
from pipeline.document import Document
from pipeline.runner import build_pipeline
from pipeline.s5_filter.quality_signals import compute_signals

GERMAN = (
    "Die Stadtverwaltung hat am Montag neue Pläne für den Ausbau des öffentlichen Nahverkehrs vorgestellt. "
    "Nach Angaben des Bürgermeisters sollen bis zum Jahr 2030 drei neue Straßenbahnlinien entstehen. "
    "Kritiker bemängeln jedoch die hohen Kosten und die lange Bauzeit der geplanten Strecken. "
    "Die Opposition fordert eine unabhängige Prüfung der Finanzierung durch den Landesrechnungshof. "
)


@pytest.fixture(scope="module")
def steps():
    config = load_config("config/default.yaml")
    return build_pipeline(config, "2026-01-01T00:00:00Z", "test").per_document


def run(steps, text: str) -> Document:
    doc = Document("d", text)
    for step in steps:
        if doc.dropped:
            break
        step.process(doc)
    return doc


def test_an_article_in_another_language_is_kept_and_tagged(steps):
    doc = run(
        steps,
        GERMAN + "\n\nIm Stadtrat wurde der Vorschlag lebhaft diskutiert, eine Entscheidung fällt im Herbst.",
    )
    assert not doc.dropped, (doc.drop_reason, doc.drop_detail)
    assert doc.metadata["language"] == "de"


def test_repetitive_page_in_another_language_is_dropped_by_the_generic_profile():
    from pipeline.s5_filter.quality_filter import QualityFilter
    from pipeline.s5_filter.quality_signals import QualitySignals

    context = {"config_dir": "config"}
    steps = [
        *(
            s
            for s in build_pipeline(
                load_config("config/default.yaml"), "2026-01-01T00:00:00Z", "test"
            ).per_document
            if not s.name.startswith("quality")
        ),
        QualitySignals({}, context),
        QualityFilter({"fallback": "quality/generic.yaml"}, context),
    ]
    # distinct lines (the cleaner removes repeated ones), one sales pitch: duplicated 5-grams
    spam = "\n".join(
        [f"Jetzt günstig kaufen und sparen, nur heute im großen Angebot Nummer {i}!" for i in range(12)]
        + [GERMAN]
    )
    doc = run(steps, spam)
    assert doc.dropped and doc.drop_stage == "quality_filter", (doc.drop_reason, doc.drop_detail)
    assert "generic.yaml" in doc.drop_detail


def test_lorem_ipsum_is_dropped_whatever_its_wording(steps):
    pages = [text for kind, _lang, text in junk_set(seed=31, per_kind=10) if kind == "lorem_ipsum"]
    assert pages
    for text in pages:
        doc = run(steps, text)
        assert doc.dropped and doc.drop_reason == "language" and "excluded" in doc.drop_detail


def test_c4_lorem_ipsum_rule_inside_a_real_article():
    text = GERMAN + "\n\nLorem ipsum dolor sit amet, consectetur adipiscing elit."
    assert compute_signals(text)["lorem_ipsum"] == 1
    assert compute_signals(GERMAN)["lorem_ipsum"] == 0


def test_the_junk_set_through_the_default_steps_is_dropped_at_95_percent(steps):
    junk = junk_set(seed=random.Random(5).randint(0, 10_000), per_kind=10)
    dropped = sum(run(steps, text).dropped for _kind, _lang, text in junk)
    assert dropped >= 0.95 * len(junk), f"{dropped}/{len(junk)}"
