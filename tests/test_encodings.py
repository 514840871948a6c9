"""Encodings: a page in legacy or broken bytes yields the same text as its clean UTF-8 twin."""

from __future__ import annotations

import codecs
import unicodedata

import ftfy.bad_codecs  # noqa: F401 - registers sloppy-windows-1252, a real browser's misreading
import pytest
from corpus_helpers import article

from pipeline.document import Document
from pipeline.s1_read.decode import Decode, DecodeError, decode_bytes

FALLBACKS = ["cp1258", "cp1252"]
TEXT = unicodedata.normalize(
    "NFC", article(7) + "Thủ tướng nói: “Quyết liệt hơn nữa” — Đà Nẵng, Huế, Hạ Long.\n"
)
TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"  # grave, acute, tilde, hook above, dot below


def to_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese legacy software wrote it: base letter (â, ơ, ư... precomposed
    where the code page has it) followed by a combining tone mark."""
    out = []
    for ch in text:
        try:
            out.append(ch.encode("cp1258"))
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in TONE_MARKS))
        marks = "".join(c for c in decomposed if c in TONE_MARKS)
        out.append((base + marks).encode("cp1258"))
    return b"".join(out)


def decoded(data: bytes) -> str:
    doc = Document(id="x", raw=data)
    Decode().process(doc)
    assert not doc.dropped, doc.drop_detail
    return doc.text


def test_cp1258_bytes_use_combining_tone_marks():
    data = to_cp1258(TEXT)
    assert b"\xf2" in data or b"\xec" in data  # combining dot below / acute: the legacy form, not precomposed
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_windows_1258_equals_utf8_twin_after_nfc():
    text, encoding = decode_bytes(to_cp1258(TEXT), FALLBACKS)
    assert encoding == "cp1258"
    assert text != TEXT  # combining marks before NFC
    assert decoded(to_cp1258(TEXT)) == decoded(TEXT.encode("utf-8")) == TEXT


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_equals_utf8_twin(encoding):
    bom = {"utf-16": b"", "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}[encoding]
    data = bom + TEXT.encode(encoding)  # Python's "utf-16" writes its own BOM
    assert data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    assert decoded(data) == TEXT


def test_utf16_without_bom_is_recognized():
    assert decoded(TEXT.encode("utf-16-le")) == TEXT
    assert decoded(TEXT.encode("utf-16-be")) == TEXT


def test_utf8_misread_as_latin1_is_repaired_like_its_twin():
    mojibake = TEXT.encode("utf-8").decode("latin-1").encode("utf-8")  # read as Latin-1, saved as UTF-8
    assert "Viá»" in mojibake.decode("utf-8") or "á»" in mojibake.decode("utf-8")
    doc = Document(id="x", raw=mojibake)
    step = Decode()
    step.process(doc)
    assert doc.text == TEXT
    assert doc.metadata["mojibake_repaired"] is True and step.stats.counters["mojibake_repaired"] == 1


def test_utf8_misread_as_windows_1252_is_repaired_like_its_twin():
    mojibake = TEXT.encode("utf-8").decode("sloppy-windows-1252").encode("utf-8")
    assert decoded(mojibake) == TEXT


def test_clean_text_is_not_touched_by_the_repair():
    doc = Document(id="x", raw=TEXT.encode("utf-8"))
    Decode().process(doc)
    assert doc.text == TEXT and "mojibake_repaired" not in doc.metadata


def test_western_windows_1252_page_is_not_read_as_vietnamese():
    page = "A informação não põe em causa a decisão. Così è la vita, señor. “Quoted” — done.\n" * 5
    text, encoding = decode_bytes(page.encode("cp1252"), FALLBACKS)
    assert encoding == "cp1252" and text == page


def test_stray_nul_bytes_are_removed_from_good_text():
    data = TEXT.encode("utf-8")
    data = data[:100] + b"\x00" + data[100:200] + b"\x00" + data[200:]
    doc = Document(id="x", raw=data)
    step = Decode()
    step.process(doc)
    assert not doc.dropped and "\x00" not in doc.text
    assert step.stats.counters["control_chars_removed"] == 2


@pytest.mark.parametrize(
    "data, reason",
    [
        (bytes(range(32)) * 40 + b"some text", "binary"),  # valid UTF-8, but control characters throughout
        (bytes(range(256)) * 40, "undecodable"),  # bytes no code page in the list defines
        (b"\x00" * 500 + b"text" + b"\x00" * 500, "binary"),
        (b"plain words " + b"\x81\x8d\x8f\x90\x9d" * 50, "undecodable"),
        (codecs.BOM_UTF16_LE + b"\x00\xd8\x41", "undecodable"),  # odd length, lone surrogate after the BOM
        (b" \n\t ", "empty"),
    ],
)
def test_bytes_that_are_not_text_become_error_records(data, reason):
    with pytest.raises(DecodeError) as err:
        decode_bytes(data, FALLBACKS)
    assert err.value.reason == reason
    doc = Document(id="x", raw=data)
    Decode().process(doc)
    assert doc.dropped and doc.is_error and doc.drop_reason == reason


def test_twins_end_to_end_are_exact_duplicates_of_the_utf8_page(tmp_path):
    """Through a whole run: every twin yields the UTF-8 page's text, so exact dedup keeps one."""
    import gzip
    import json

    from corpus_helpers import small_config

    from pipeline.cli import main

    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a-utf8.txt").write_bytes(TEXT.encode("utf-8"))
    (inputs / "b-cp1258.txt").write_bytes(to_cp1258(TEXT))
    (inputs / "c-utf16.txt").write_bytes(TEXT.encode("utf-16"))
    (inputs / "d-mojibake.txt").write_bytes(TEXT.encode("utf-8").decode("latin-1").encode("utf-8"))
    out = tmp_path / "out"
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    run = next((out / "runs").iterdir())
    kept = [json.loads(line) for f in sorted(run.glob("part-*.jsonl.gz")) for line in gzip.open(f, "rt")]
    rejects = [
        json.loads(line) for f in sorted(run.glob("rejects-*.jsonl.gz")) for line in gzip.open(f, "rt")
    ]
    assert [r["id"] for r in kept] == ["a-utf8.txt"]
    assert sorted((r["id"], r["reason"], r.get("dup_of")) for r in rejects) == [
        (f"{name}.txt", "exact_duplicate", "a-utf8.txt") for name in ("b-cp1258", "c-utf16", "d-mojibake")
    ]
