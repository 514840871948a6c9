"""The byte-level pre-tests of `decode` never skip a repair the text needs: a control character or a
mojibake pair in the decoded text is always seen in the bytes, and the repairs give what they gave
without the pre-tests."""

from __future__ import annotations

import pytest

from pipeline.document import Document
from pipeline.s1_read import charsets
from pipeline.s1_read.charsets import has_no_controls, may_hold_mojibake, repair_mojibake
from pipeline.s1_read.decode import Decode

CONTROLS = [chr(c) for c in (*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F)]
# every character of the hint's two classes (the second class: U+0080-U+00BF and Windows-1252's extras)
FIRST = [chr(c) for c in range(0xC2, 0xF5)]
SECOND = [chr(c) for c in range(0x80, 0xC0)] + list("ŒœŠšŸŽžƒˆ˜–—‘’‚“”„†‡•…‰‹›€™")


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "iso8859-2", "cp1258"])
def test_every_control_character_is_seen_in_the_bytes(encoding):
    text = "Tin tức hôm nay" if encoding == "utf-8" else "Nachrichten heute"
    assert has_no_controls(text.encode(encoding), encoding)
    for control in CONTROLS:
        assert not has_no_controls((text + control + text).encode(encoding), encoding), repr(control)
    assert has_no_controls("tab\tnewline\ncarriage return\rform feed\f".encode(encoding), encoding)


def test_other_codecs_always_search_the_text():
    assert not has_no_controls("plain text".encode("utf-16"), "utf-16")
    assert not has_no_controls("plain text".encode("cp037"), "cp037")


def test_every_mojibake_pair_is_seen_in_utf8_bytes():
    assert all(charsets._MOJIBAKE_HINT.search(a + b) for a in FIRST for b in SECOND)  # the classes above
    for a in FIRST:
        for b in SECOND:
            assert may_hold_mojibake(f"Viet {a}{b} Nam".encode(), "utf-8"), (a, b)
    assert not may_hold_mojibake("Việt Nam: “Hà Nội” – Äpfel für Gäste, café".encode(), "utf-8")
    assert may_hold_mojibake(b"any text", "cp1252")  # only UTF-8 bytes can tell


def test_repair_fixes_each_hinted_line_and_nothing_else():
    good = "Việt Nam"
    bad = good.encode("utf-8").decode("cp1252")  # "Viá»‡t Nam"
    text = f"{good}\n{bad} đứng đầu\n\n{bad}\nlast line {bad}"
    fixed, repaired = repair_mojibake(text)
    assert repaired and fixed == f"{good}\n{good} đứng đầu\n\n{good}\nlast line {good}"
    assert repair_mojibake(good) == (good, False)
    assert repair_mojibake(bad) == (good, True)  # one line, no newline


@pytest.mark.parametrize(
    "text",
    [
        "Việt Nam\r\nTin tức\rHà Nội",
        "Nul\x00 byte and a bell\x07 in good text " * 3,
        "Viá\x01»‡t Nam",  # a control between the two characters of a mojibake pair
        "Viá»‡t Nam\nđúng",
        "plain ascii",
    ],
)
def test_decode_gives_what_it_gave_without_the_pre_tests(monkeypatch, text):
    def decode(raw: bytes) -> tuple[str, dict]:
        step = Decode()
        doc = Document(id="x", raw=raw)
        step.process(doc)
        return doc.text, dict(step.stats.counters)

    data = text.encode("utf-8")
    fast = decode(data)
    monkeypatch.setattr("pipeline.s1_read.decode.has_no_controls", lambda data, encoding: False)
    monkeypatch.setattr("pipeline.s1_read.decode.may_hold_mojibake", lambda data, encoding: True)
    assert decode(data) == fast


@pytest.mark.parametrize(
    "text",
    [
        "Việt Nam\r\nTin tức\rHà Nội",
        "Nul\x00 byte and a bell\x07 in good text " * 3,
        "Viá\x01»‡t Nam",
        "Viá»‡t Nam\nđúng",
        "a lone \ud800 surrogate and a pair \ud83d\ude42, Viá»‡t Nam\x00",
        "Hangul 한국어 (UTF-8 lead byte ED, not a surrogate) \ud7a3",
        "plain ascii",
    ],
)
def test_reader_text_gives_what_it_gave_without_the_pre_tests(monkeypatch, text):
    """Text from a reader (JSONL) is tested through its UTF-8, as decoded pages are through their bytes."""

    def decode(text: str) -> tuple[str, dict, dict]:
        step = Decode()
        doc = Document(id="x", text=text)
        step.process(doc)
        return doc.text, doc.metadata, dict(step.stats.counters)

    fast = decode(text)
    monkeypatch.setattr("pipeline.s1_read.decode.has_no_controls", lambda data, encoding: False)
    monkeypatch.setattr("pipeline.s1_read.decode.may_hold_mojibake", lambda data, encoding: True)
    monkeypatch.setattr("pipeline.s1_read.decode.has_surrogates", lambda data: True)
    assert decode(text) == fast
    assert "\ud800" not in fast[0] and "\x00" not in fast[0]
