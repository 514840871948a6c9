"""Page dumps from disk to text: encodings, a byte-order mark, gzip, and files that are not text."""

from __future__ import annotations

import gzip
import unicodedata
from pathlib import Path

import pytest
from clean_helpers import P1, P2, ROOT, TITLE

from pipeline.config import load_config
from pipeline.s1_read.decode import Decode
from pipeline.s1_read.inputs import read_file

CONFIG = load_config(ROOT / "config" / "default.yaml")
TEXT = f"{TITLE}\n\n{P1}\n\n{P2}\n"
TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def cp1258_bytes(text: str) -> bytes:
    """Windows-1258 the way Vietnamese legacy software wrote it: the letter (â, ơ, ư are in the code
    page) followed by a combining tone mark, since the code page has no precomposed toned letters."""
    out = bytearray()
    for ch in text:
        letters = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in letters if c not in TONES))
        out += (base + "".join(c for c in letters if c in TONES)).encode("cp1258")
    return bytes(out)


def decoded(path: Path):
    docs = list(
        Decode(dict(CONFIG.steps)["decode"]).run(d for _n, d in read_file(path, path.parent, CONFIG.read))
    )
    assert len(docs) == 1
    return docs[0]


def test_windows_1258_with_combining_tone_marks_becomes_composed_text(tmp_path):
    data = cp1258_bytes(TEXT)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert b"\xf2" in data and b"\xec" in data  # combining dot below and acute: the legacy form
    path = tmp_path / "legacy.txt"
    path.write_bytes(data)
    doc = decoded(path)
    assert not doc.dropped, doc.drop_detail
    assert doc.provenance["encoding"] == "cp1258"
    assert doc.text == unicodedata.normalize("NFC", TEXT)
    assert unicodedata.is_normalized("NFC", doc.text)


def test_utf8_byte_order_mark_is_not_part_of_the_text(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8"))
    doc = decoded(path)
    assert doc.text == TEXT
    assert not doc.text.startswith("\ufeff")


def test_windows_line_ends_become_newlines(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(TEXT.replace("\n", "\r\n").encode("utf-8"))
    assert decoded(path).text == TEXT


def test_gzipped_page_dump(tmp_path):
    path = tmp_path / "page.txt.gz"
    path.write_bytes(gzip.compress(TEXT.encode("utf-8")))
    doc = decoded(path)
    assert not doc.dropped
    assert doc.text == TEXT


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b" \n\r\n\t \n", "empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02\x03\x04\x05\x06" * 400, "binary"),
        ("undecodable.txt", b"\x81\x8d\x8f\x90\x9d" * 200, "undecodable"),
    ],
)
def test_files_that_are_not_text_become_error_records(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    doc = decoded(path)
    assert doc.dropped and doc.is_error
    assert (doc.drop_stage, doc.drop_reason) == ("decode", reason)
    assert name in doc.drop_detail
