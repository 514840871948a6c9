"""Normalization: NFC always, whitespace, paragraphs, and Vietnamese tone-mark placement."""

from __future__ import annotations

import unicodedata

import pytest

from pipeline.config import ConfigError
from pipeline.document import Document
from pipeline.s4_normalize.normalize import Normalize, normalize_text
from pipeline.s4_normalize.tone_marks import place_tone_marks


def normalized(text: str, **options) -> Document:
    doc = Document(id="n", text=text, metadata={"title": unicodedata.normalize("NFD", "Hòa  bình\tlâu dài")})
    Normalize(options).process(doc)
    return doc


def test_decomposed_text_comes_out_composed():
    text = "Người dân Cần Thơ đón tin vui về cây cầu mới."
    doc = normalized(unicodedata.normalize("NFD", text))
    assert doc.text == text
    assert unicodedata.is_normalized("NFC", doc.text)
    assert doc.metadata["title"] == "Hòa bình lâu dài"  # metadata too: NFC and single spaces


def test_whitespace_invisibles_and_paragraphs():
    text = "  Dòng  một\u00a0có\tkhoảng trắng  \n\n\n\u200bDòng\u00ad hai\ufeff\n   \nDòng ba  "
    assert normalize_text(text) == "Dòng một có khoảng trắng\n\nDòng hai\n\nDòng ba"


def test_tone_marks_are_kept_as_written_by_default():
    text = "Hoà bình và hòa hợp, thuỷ lợi và thủy sản."
    assert normalized(text).text == text


@pytest.mark.parametrize(
    "old, new",
    [
        ("hòa", "hoà"),
        ("thủy", "thuỷ"),
        ("khỏe", "khoẻ"),
        ("Thúy", "Thuý"),
        ("họa", "hoạ"),
        ("ủy", "uỷ"),
    ],
)
def test_open_syllables_move_their_mark_and_back(old, new):
    assert place_tone_marks(old, "new") == new
    assert place_tone_marks(new, "old") == old
    assert place_tone_marks(place_tone_marks(old, "new"), "old") == old


@pytest.mark.parametrize(
    "word", ["hoàng", "tuyển", "quý", "quí", "người", "ngưỡng", "gìn", "Nguyễn", "khoản"]
)
def test_syllables_with_one_right_place_never_change(word):
    assert place_tone_marks(word, "new") == word
    assert place_tone_marks(word, "old") == word


def test_normalize_step_applies_the_configured_style():
    assert normalized("Hòa bình cho thủy thủ.", tone_marks="new").text == "Hoà bình cho thuỷ thủ."
    assert normalized("Hoà bình cho thuỷ thủ.", tone_marks="old").text == "Hòa bình cho thủy thủ."


def test_decomposed_text_with_old_style_marks_reaches_the_new_style():
    assert normalized(unicodedata.normalize("NFD", "hòa thuận"), tone_marks="new").text == "hoà thuận"


def test_unknown_tone_style_is_a_config_error():
    with pytest.raises(ConfigError):
        Normalize({"tone_marks": "modern"})
    with pytest.raises(ValueError):
        place_tone_marks("hòa", "modern")
