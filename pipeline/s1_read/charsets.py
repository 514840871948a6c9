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

# a UTF-8 lead byte read as Latin-1/Windows-1252 (Â-ô), then a continuation byte read the same way
_MOJIBAKE_HINT = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
    "\u02c6\u02dc\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030"
    "\u2039\u203a\u20ac\u2122]"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Byte-level pre-tests (a scan of the bytes in C, ~10x cheaper than a regex over the decoded text):
# codecs whose text holds a C0 control only where the bytes hold that same byte (every byte below 0x80
# is the ASCII character, no byte above it decodes to one)
_ASCII_SUPERSETS = ("utf-8", "cp125", "iso8859-", "ascii")
# every byte except the controls _CONTROLS matches: deleting them leaves the controls
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not _CONTROLS.match(chr(b)))
# a _MOJIBAKE_HINT pair in UTF-8: U+00C2-U+00F4, then the lead byte of any of the second characters
# (U+0080-U+00BF: C2; Œ œ Š š Ÿ Ž ž: C5; ƒ: C6; ˆ ˜: CB; the punctuation, € and ™: E2)
_MOJIBAKE_HINT_UTF8 = re.compile(rb"\xc3[\x82-\xb4][\xc2\xc5\xc6\xcb\xe2]")
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


def has_no_controls(data: bytes, encoding: str) -> bool:
    """True when `data` decoded as `encoding` (a codecs name) surely holds no C0 control character that
    `strip_controls` removes; False when it may (then the text is searched)."""
    return encoding.startswith(_ASCII_SUPERSETS) and not data.translate(None, _NOT_CONTROL_BYTES)


def may_hold_mojibake(data: bytes, encoding: str) -> bool:
    """False when `data` decoded as `encoding` surely has no `_MOJIBAKE_HINT` pair: UTF-8 whose bytes hold
    no such pair's encoding (the decoded text must not have lost characters in between)."""
    return not encoding.startswith("utf-8") or _MOJIBAKE_HINT_UTF8.search(data) is not None


def repair_mojibake(text: str) -> tuple[str, bool]:
    """(text, repaired?): UTF-8 misread as Latin-1/Windows-1252 put right; other text unchanged."""
    # line by line, and only the lines the hint sees: ftfy over a whole 150 KB HTML page costs
    # ~50 ms, and a page with one misread line keeps its good lines as they are. The lines are found
    # from the hits of one search over the text (a hint pair holds no newline), not by a search per line
    starts = sorted({text.rfind("\n", 0, m.start()) + 1 for m in _MOJIBAKE_HINT.finditer(text)})
    if not starts:
        return text, False
    import ftfy  # here: most runs meet no mojibake, and ftfy takes ~50 ms to import

    pieces, done = [], 0
    for start in starts:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        pieces += [text[done:start], ftfy.fix_encoding(text[start:end])]
        done = end
    pieces.append(text[done:])
    fixed = "".join(pieces)
    return fixed, fixed != text


_SURROGATE = re.compile("[\ud800-\udfff]")


# a surrogate (U+D800-U+DFFF) in UTF-8 written with "surrogatepass"
_SURROGATE_UTF8 = re.compile(rb"\xed[\xa0-\xbf]")


def has_surrogates(data: bytes) -> bool:
    """Whether `text.encode("utf-8", "surrogatepass")` = `data` holds a surrogate (a byte search)."""
    return b"\xed" in data and _SURROGATE_UTF8.search(data) is not None


def fix_surrogates(text: str) -> str:
    """Surrogate pairs joined, lone surrogates (JSON "\\ud800" escapes) made U+FFFD: text that UTF-8 can hold."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def strip_controls(text: str) -> tuple[str, int]:
    """(text without C0 control characters other than tab/newlines, how many were removed)."""
    cleaned, n = _CONTROLS.subn("", text)
    return cleaned, n
