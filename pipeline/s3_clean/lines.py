"""Helpers shared by the line-based steps.

Line steps never delete lines: a removed line is blanked in place, so line numbers
stay those of the input for every later step and for `newsclean explain`. The
normalize step turns the remaining lines into paragraphs.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

from pipeline.config import data_file
from pipeline.document import Document, Removal
from pipeline.s3_clean.rules import RuleSet, load_rules


def rules_for(step) -> RuleSet:
    """The compiled rule files named by a step's `rules` option (relative to the config file)."""
    base = step.context.get("config_dir", ".")
    return _cached_rules(tuple(str(data_file(base, p)) for p in step.options["rules"]))


@functools.lru_cache(maxsize=8)
def _cached_rules(paths: tuple[str, ...]) -> RuleSet:
    return load_rules([Path(p) for p in paths])


def split_lines(doc: Document) -> list[str]:
    return doc.text.split("\n")


def remove_line(doc: Document, lines: list[str], index: int, rule: str, source: str = "") -> None:
    if lines[index].strip():
        doc.removed.append(Removal(index + 1, rule, lines[index].strip(), source))
    lines[index] = ""


def kept_indices(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.strip()]


_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def fold_accents(text: str) -> str:
    """ASCII-ish key: diacritics removed, đ -> d, lowercase (for slug lines)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# how a sentence of running prose ends: . … or a closing quote/bracket after . ! ?
# (what the regex `(?:[.…]|[.!?…]["'”’»)\]])$` finds, read off the last two characters: searching
# a paragraph for it tried the pattern at every position, the line loops' largest single cost)
_STOPS, _END_STOPS, _CLOSERS = ".…", ".!?…", "\"'”’»)]"


def _ends_like_sentence(text: str) -> bool:
    if not text:
        return False
    if text[-1] in _STOPS:
        return True
    return text[-1] in _CLOSERS and len(text) >= 2 and text[-2] in _END_STOPS


def is_sentence(text: str, min_words: int = 6) -> bool:
    """A line of running prose: ends like a sentence and has a few words."""
    # `$` also matched before a final newline: a line given with its "\n" ends where the regex saw it
    ends = _ends_like_sentence(text) or (text[-1:] == "\n" and _ends_like_sentence(text[:-1]))
    return ends and text.count(" ") + 1 >= min_words
