"""Vietnamese tone-mark placement: "hòa" (old style) vs "hoà" (new style).

Both spellings are correct and common; they differ only in which vowel of
oa/oe/uy carries the tone mark. `place_tone_marks(text, "new"|"old")` rewrites
every syllable to one style; dedup keys use it to fold the two together.
"""

from __future__ import annotations

import re
import unicodedata

TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền, sắc, ngã, hỏi, nặng
_VOWELS = set("aeiouy")
_QUALITY = {"\u0302", "\u0306", "\u031b"}  # circumflex, breve, horn: â ă ê ô ơ ư
_WORD = re.compile(r"[^\W\d_]+")


def _syllable(word: str, style: str) -> str:
    chars = list(unicodedata.normalize("NFD", word))
    tone = None
    base: list[list[str]] = []  # each letter with its non-tone marks
    for c in chars:
        if c in TONES:
            tone = c
        elif unicodedata.combining(c) and base:
            base[-1].append(c)
        else:
            base.append([c])
    if tone is None:
        return word
    letters = [b[0].lower() for b in base]
    # the vowel nucleus: skip initial consonants, and the glide of "qu" / "gi"
    start = 0
    while start < len(letters) and letters[start] not in _VOWELS:
        start += 1
    if (
        start < len(letters)
        and start > 0
        and (letters[start - 1], letters[start]) in (("q", "u"), ("g", "i"))
        and start + 1 < len(letters)
        and letters[start + 1] in _VOWELS
    ):
        start += 1
    end = start
    while end < len(letters) and letters[end] in _VOWELS:
        end += 1
    nucleus = list(range(start, end))
    if not nucleus:
        return word
    quality = [i for i in nucleus if any(m in _QUALITY for m in base[i][1:])]
    if quality:
        target = quality[-1]  # ươ: the tone goes on ơ
    elif len(nucleus) == 1:
        target = nucleus[0]
    elif end < len(letters):  # closed syllable: tone on the last vowel ("hoàng", "tuyển")
        target = nucleus[-1]
    elif len(nucleus) == 3:
        target = nucleus[1]
    elif style == "new" and "".join(letters[i] for i in nucleus) in ("oa", "oe", "uy"):
        target = nucleus[1]
    else:
        target = nucleus[0]
    base[target].append(tone)
    return unicodedata.normalize("NFC", "".join("".join(b) for b in base))


def place_tone_marks(text: str, style: str) -> str:
    """Rewrite tone-mark placement to `style` ("new": hoà, thuỷ; "old": hòa, thủy)."""
    if style not in ("new", "old"):
        raise ValueError(f"tone mark style must be 'new' or 'old', not {style!r}")
    return _WORD.sub(lambda m: _syllable(m.group(0), style) if len(m.group(0)) <= 7 else m.group(0), text)
