"""Charset judgement and text repairs used by the `decode` step.

- UTF-16 without a BOM (NUL in every other byte of mostly-ASCII text);
- Windows-1258 only when the result reads as Vietnamese: it decodes almost any
  byte string, so a Western page in Windows-1252 would otherwise come out wrong
  (ã -> ă, õ -> ơ);
- mojibake: UTF-8 that was once read as Latin-1/Windows-1252 and saved again
  ("Viá»‡t Nam"), repaired with ftfy, which only changes text it can show is
  mis-decoded; a cheap regex gates it so clean text costs one scan;
- stray C0 control characters (NUL...) in otherwise good text are removed, and
  lone surrogates (from JSON escapes) replaced, so every text can be written as UTF-8.
"""

from __future__ import annotations

import codecs
import re

import ftfy

# a UTF-8 lead byte read as Latin-1/Windows-1252 (Â-ô), then a continuation byte read the same way
_MOJIBAKE_HINT = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
    "\u02c6\u02dc\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030"
    "\u2039\u203a\u20ac\u2122]"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# letters only Vietnamese writes (Latin Extended Additional: ạ ả ấ ầ ệ ộ ữ...); not ơ/ư/ă, which a
# Western page read as Windows-1258 also shows (õ -> ơ, ý -> ư, ã -> ă)
_VIETNAMESE_ONLY = re.compile("[\u1ea0-\u1ef9]")
_NON_ASCII_LETTER = re.compile(r"[^\W\d_a-zA-Z]")


def utf16_without_bom(data: bytes) -> str | None:
    """`data` decoded as UTF-16 when it looks like BOM-less UTF-16 text (NULs in one byte column)."""
    if len(data) < 4 or len(data) % 2:
        return None
    sample = data[:4096]
    even_nul, odd_nul = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nul > 0.6 * half and even_nul < 0.05 * half:
        encoding = "utf-16-le"
    elif even_nul > 0.6 * half and odd_nul < 0.05 * half:
        encoding = "utf-16-be"
    else:
        return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def reads_as(text: str, encoding: str) -> bool:
    """Is `text` a plausible reading of its bytes in `encoding`? (only Windows-1258 needs proof)"""
    if codecs.lookup(encoding).name != "cp1258":
        return True
    import unicodedata

    text = unicodedata.normalize("NFC", text[:200_000])
    vietnamese = len(_VIETNAMESE_ONLY.findall(text))
    return vietnamese > 0 and vietnamese >= 0.1 * len(_NON_ASCII_LETTER.findall(text))


def repair_mojibake(text: str) -> tuple[str, bool]:
    """(text, repaired?): UTF-8 misread as Latin-1/Windows-1252 put right; other text unchanged."""
    if not _MOJIBAKE_HINT.search(text):
        return text, False
    # line by line, and only the lines the hint sees: ftfy over a whole 150 KB HTML page costs
    # ~50 ms, and a page with one misread line keeps its good lines as they are
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _MOJIBAKE_HINT.search(line):
            lines[i] = ftfy.fix_encoding(line)
    fixed = "\n".join(lines)
    return fixed, fixed != text


_SURROGATE = re.compile("[\ud800-\udfff]")


def fix_surrogates(text: str) -> str:
    """Surrogate pairs joined, lone surrogates (JSON "\\ud800" escapes) made U+FFFD: text that UTF-8 can hold."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def strip_controls(text: str) -> tuple[str, int]:
    """(text without C0 control characters other than tab/newlines, how many were removed)."""
    cleaned, n = _CONTROLS.subn("", text)
    return cleaned, n
