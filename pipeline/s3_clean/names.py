"""Is this short line a person's name (an author signature) or a publication's name?

Vietnamese names capitalise every syllable ("Nguyễn Văn An", "PV", "NHÓM PV"),
which tells them apart from sentences and most captions. Word lists that vary by
language (suffixes such as "tổng hợp", prefixes such as "Bài và ảnh:", words that
are never names) come from the rule files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"^[^\W\d_][\w'’.-]*$")
_INITIALS = re.compile(r"^(?:[^\W\d_]{1,3}\.)+[^\W\d_]{0,3}\.?$")  # "Q.L", "N.H.", "D.T", "Th.S"
_TRAILING_GROUP = re.compile(r"\s*[(\[][^()\[\]]{0,40}[)\]]\s*$")  # "(tổng hợp)", "(TTXVN)"
_PARTS = re.compile(r"\s*(?:\s[-–—]\s|,|;|&|\s(?:và|and)\s)\s*", re.IGNORECASE)
# "Minh Thu - Ảnh: Quang Hiếu": a credit after the name, cut before validating
_CREDIT = re.compile(
    r"\s*[-–—,;|]\s*(?:ảnh|video|clip|đồ\s*họa|đồ\s*hoạ|thiết kế|photos?|graphics?)\s*:.*$", re.IGNORECASE
)


def _is_name_token(token: str, stop: set[str] | frozenset[str]) -> bool:
    if token.casefold() in stop or not _TOKEN.match(token):
        return False
    if not token[0].isupper():
        return False
    # a trailing dot belongs to initials ("Q.L.", "H."), not to a word ending a caption ("Đền Quán Thánh.")
    return not token.endswith(".") or bool(_INITIALS.match(token))


def _is_name_part(part: str, stop: set[str] | frozenset[str], max_words: int) -> bool:
    tokens = part.split()
    return 1 <= len(tokens) <= max_words and all(_is_name_token(t, stop) for t in tokens)


@dataclass(frozen=True)
class NameWords:
    """The word lists of the rule files that tell a name line apart (`metadata` of rules/*.yaml)."""

    suffixes: tuple | list = ()  # "(tổng hợp)", "tổng hợp": after a signature
    prefixes: tuple | list = ()  # "bài và ảnh", "theo": before a signature
    stop: set[str] | frozenset = frozenset()  # words that are never part of a name
    honorifics: set[str] | frozenset = frozenset()  # "anh", "mr": a person in a caption, not a byline


def looks_like_name(
    text: str, words: NameWords = NameWords(), max_chars: int = 60, max_words: int = 5
) -> str | None:
    """The name(s) in an author line ("Hoàng Thư", "PV/VOV", "Minh Thu (tổng hợp)",
    "Nguyễn An - Trần Bình", "Bài và ảnh: Lê Chi", "Thu Hà - Ảnh: Quang Hiếu"), or None."""
    core = _without_credits(text, words)
    if not core or len(core) > max_chars or any(map(str.isdigit, core)):
        return None
    parts = [p for p in _PARTS.split(core) if p]
    if not 1 <= len(parts) <= 4 or not all(_is_name_part(p, words.stop, max_words) for p in parts):
        return None
    # "Anh Ngô Minh Hải", "Mr Smith": a person in a caption, not a signature
    if any(p.split()[0].casefold() in words.honorifics for p in parts):
        return None
    return core


def _without_credits(text: str, words: NameWords) -> str:
    """The line without its trailing group, photo credit, agency after a slash, prefix and suffixes."""
    # each pattern is tried only on lines holding what it needs (a paragraph scanned for nothing
    # was most of this step's time): a closing bracket at the end, a colon, a slash
    core = text.strip()
    if core.endswith((")", "]")):
        core = _TRAILING_GROUP.sub("", core).strip()
    if ":" in core:
        core = _CREDIT.sub("", core).strip()
    if "/" in core:
        core = re.split(r"\s*/\s*", core)[0]  # "PV/VOV": the agency after the slash
    lowered = core.casefold()
    for prefix in sorted(words.prefixes, key=len, reverse=True):  # "Bài và ảnh:" before "Bài:"
        if lowered.startswith(prefix) and lowered[len(prefix) : len(prefix) + 1] in (" ", ":"):
            core = core[len(prefix) :].strip(" :")
            lowered = core.casefold()
            break
    for suffix in words.suffixes:
        if lowered.endswith(" " + suffix):
            core = core[: -len(suffix) - 1].strip(" -–,:")
            lowered = core.casefold()
    return core


def looks_like_publication(
    text: str, stop: set[str] | frozenset = frozenset(), max_chars: int = 50, max_words: int = 6
) -> bool:
    """ "VnExpress", "Dân trí", "Reuters, AFP", "TTXVN", "The Guardian": a short name that starts
    with a capital in every comma-separated part, and no sentence."""
    text = text.strip().rstrip(".")
    if not text or len(text) > max_chars or len(text.split()) > max_words:
        return False
    if any(c in text for c in '.!?;:"“”') and not re.fullmatch(r"[\w .&'’,/-]+", text):
        return False
    parts = [p.strip() for p in re.split(r",|\s(?:và|and|&)\s", text) if p.strip()]
    return all(p[0].isupper() or p[0].isdigit() for p in parts) and parts[0].split()[0].casefold() not in stop
