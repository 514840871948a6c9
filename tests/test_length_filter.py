"""length_filter: characters and words after cleaning; unspaced scripts are not undercounted."""

from __future__ import annotations

from pipeline.document import Document
from pipeline.s5_filter.length import LengthFilter

CHINESE = (
    "益水之阳，是名益阳。这个洞庭湖区的重要城市，60年前就曾在作家周立波笔下的《山乡巨变》中展现风貌。"
    "60年后，数字农业、数字治理、数字社会，无一不在继续书写这座山乡之城的新篇章。"
) * 3


def filtered(text: str) -> Document:
    doc = Document("d", text)
    LengthFilter({}).process(doc)
    return doc


def test_short_text_is_dropped_with_its_figures():
    doc = filtered("Một câu ngắn. " * 5)
    assert doc.drop_reason == "too_short" and "chars < min_chars 200" in doc.drop_detail


def test_few_long_tokens_are_too_few_words():
    doc = filtered(" ".join(["Supercalifragilisticexpialidocious"] * 20))
    assert doc.drop_reason == "too_short" and "words < min_words 30" in doc.drop_detail


def test_chinese_article_counts_its_characters_as_words():
    assert len(CHINESE) >= 200 and len(CHINESE.split()) < 30
    doc = filtered(CHINESE)
    assert not doc.dropped
    assert doc.metadata["n_words"] == len(CHINESE.split())  # the record's n_words stays whitespace words
