"""Rule files (config/rules/*.yaml) compiled for fast matching.

Each rule keeps the rule name and `file:line` it came from, so every removal can
say why and where the rule lives. A line costs at most one dict lookup (all
phrases, keyed by `phrase_key`) and one combined regex (all patterns, one
alternation with a group per pattern, matched at the start of the line).

Rule kinds: `end` rules end the article (related lists, comment sections),
`line` rules remove one line, `teaser` rules find the meta line of a teaser card.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import ConfigError, LocatedDict, LocatedList, load_yaml
from pipeline.s3_clean.regex_ends import first_chars, last_chars, nested_repeat, required_literals
from pipeline.s4_normalize.tone_marks import place_tone_marks

SECTIONS = ("end_markers", "end_patterns", "line_phrases", "line_patterns", "teaser_meta", "metadata")
METADATA_KEYS = (
    "source_attribution",
    "byline",
    "author_line",
    "credit_line",
    "signature_suffixes",
    "signature_prefixes",
    "sections",
    "not_name_words",
    "honorifics",
)
# metadata keys that are plain word lists (compared casefolded), not regexes
_WORD_LISTS = ("signature_suffixes", "signature_prefixes", "sections", "not_name_words", "honorifics")
_KIND = {"end_markers": "end", "end_patterns": "end", "line_phrases": "line", "line_patterns": "line"}

# bullets and punctuation stripped from both ends before a phrase lookup
_EDGE = " \t\u00a0•·*►▶»«>–—-:|.,;!?()[]\"'“”"
# a line longer than the longest phrase by more than this cannot be a phrase (edge bullets aside)
_PHRASE_SLACK = 12


# the vowel pairs whose tone mark has two accepted places (hòa/hoà, hòe/hoè, thủy/thuỷ): only words
# holding one need their placement folded (folding every word is slow)
# (the pairs [òóỏõọ][ae] | o[àáảãạèéẻẽẹ] | [ùúủũụ]y | u[ỳýỷỹỵ], written to open with one character set,
# which lets the regex engine skip ahead to its characters: the search over every line costs less)
_TWO_PLACES = re.compile("[òóỏõọoùúủũụu](?:(?<=[òóỏõọ])[ae]|(?<=o)[àáảãạèéẻẽẹ]|(?<=[ùúủũụ])y|(?<=u)[ỳýỷỹỵ])")


def phrase_key(line: str) -> str:
    return folded_key(plain_key(line))


def plain_key(line: str) -> str:
    """The line casefolded, its edges stripped, one space between words: `phrase_key` before the
    tone marks are folded. Folding keeps every word and space where it is (`folded_key`)."""
    return " ".join(unicodedata.normalize("NFC", line).strip(_EDGE).casefold().split())


def line_plain_keys(text: str) -> list[str]:
    """`plain_key(line.strip())` of every line of `text` ("\n"-split), in one casefold of the whole
    text: the per-line NFC test, casefold and split-and-join were most of repeated_lines' time.
    Same keys: a line of an NFC text is NFC ("\n" composes with nothing); casefold maps no
    character to or from whitespace and keeps the edge characters (`_EDGE`) as they are, while
    no other character folds to one (tests/test_text_speed_paths.py checks all code points)."""
    if not unicodedata.is_normalized("NFC", text):
        return [plain_key(line.strip()) for line in text.split("\n")]
    return [one_space(line.strip().strip(_EDGE)) for line in text.casefold().split("\n")]


def one_space(text: str) -> str:
    """`" ".join(text.split())` for a text without whitespace at its ends, without the split when it
    has no double space and no whitespace but " " (the only whitespace str.isprintable allows)."""
    return text if "  " not in text and text.isprintable() else " ".join(text.split())


def folded_key(key: str) -> str:
    """A `plain_key` with its tone marks placed the new way, word by word."""
    if key.isascii() or not _TWO_PLACES.search(key):
        return key
    # "toà soạn" and "tòa soạn" are one phrase: tone-mark placement folded, as the normalize step can
    out, done = [], 0
    for match in _TWO_PLACES.finditer(key):
        start = key.rfind(" ", 0, match.start()) + 1  # the word around the match
        if start < done:
            continue  # a second pair in a word already folded
        end = key.find(" ", match.end())
        end = len(key) if end < 0 else end
        out += [key[done:start], _fold_word(key[start:end])]
        done = end
    return "".join(out) + key[done:]


def folded_word(word: str) -> str:
    """One word of a `plain_key` as `folded_key` leaves it."""
    return _fold_word(word) if not word.isascii() and _TWO_PLACES.search(word) else word


@functools.lru_cache(maxsize=1 << 14)  # few distinct such words (hoà, thuỷ, khoẻ...) recur in every page
def _fold_word(word: str) -> str:
    return place_tone_marks(word, "new")


@dataclass
class Rule:
    name: str  # rule family, e.g. "weather_widget"
    source: str  # "config/rules/vi.yaml:12"
    pattern: str
    kind: str = "line"  # end | line | teaser


@dataclass
class PatternSet:
    r"""Many regexes matched in one pass; `match(line)` returns the Rule that hit.

    Patterns are matched case-insensitively at the start of the (stripped) line. A
    pattern anchored with `^` costs one attempt at position 0; an unanchored one is
    scanned for (`.*?`), which costs more, so rule files anchor whatever they can.

    Speed: from each regex we work out which characters a match can start with and
    (for `$`-anchored ones) end with, so a line is tried against one alternation
    holding only the patterns that could match a line with its first and last
    characters (compiled on first use, cached). A pattern that may start with any character (it
    scans the line: `.{1,60}\s-\s\d+ phút trước$`) but needs a word of its own ("trước", within a
    few characters of the end) is kept out of the alternations and tried alone on the lines that hold
    that word: inside an alternation it was tried on every line with a fitting last character (most
    lines end in "."). The first pattern in file order that matches still wins.
    """

    rules: list[Rule] = field(default_factory=list)
    _bodies: list[str] | None = None
    _ends: list[tuple] = field(default_factory=list)  # (first chars, last chars) per pattern, None = any
    _cache: dict = field(default_factory=dict)  # (first char, last char) -> alternation or None
    _compiled: dict = field(
        default_factory=dict
    )  # picked pattern indices -> alternation (shared by many keys)
    # patterns tried alone: (index, last chars or None, words one of which the line must hold, within
    # how many characters of its end (None: anywhere), the compiled pattern)
    _alone: list[tuple] = field(default_factory=list)
    _alone_cache: dict = field(default_factory=dict)  # last char -> the patterns of _alone it may end
    # a line's (first, last) characters as they are -> (alternation, patterns tried alone): one dict
    # lookup per line instead of lowering both characters and two lookups
    _by_ends: dict = field(default_factory=dict)

    def add(self, rule: Rule) -> None:
        try:
            re.compile(rule.pattern)
        except re.error as exc:
            raise ConfigError(f"{rule.source}: {rule.name}: bad regex {rule.pattern!r}: {exc}") from None
        refuse_catastrophic(rule.pattern, f"{rule.source}: {rule.name}")
        self.rules.append(rule)
        self._bodies = None

    def _prepare(self) -> None:
        self._bodies, self._ends, self._cache, self._compiled = [], [], {}, {}
        self._alone, self._alone_cache, self._by_ends = [], {}, {}
        for i, rule in enumerate(self.rules):
            # named groups in user patterns would clash with ours: make them plain groups
            body = re.sub(r"[(][?]P<[^>]+>", "(?:", unicodedata.normalize("NFC", rule.pattern))
            body = body[1:] if body.startswith("^") else f".*?(?:{body})"
            self._bodies.append(body)
            firsts, lasts = first_chars(body), last_chars(body)
            needs = required_literals(body) if firsts is None else None
            if needs:
                words, tail = needs
                reach = None if tail is None else tail + max(map(len, words))
                alone = re.compile(f"(?P<r{i}>{body})", re.IGNORECASE)
                self._alone.append((i, lasts, words, reach, alone))
                firsts = lasts = frozenset()  # in no alternation
            self._ends.append((firsts, lasts))

    def _alternation(self, first: str, last: str) -> re.Pattern | None:
        key = (first, last)
        if key not in self._cache:
            picked = tuple(
                i
                for i, (firsts, lasts) in enumerate(self._ends)
                if (firsts is None or first in firsts) and (lasts is None or last in lasts)
            )
            # thousands of (first, last) pairs pick a few dozen distinct pattern sets: compile each set once
            regex = self._compiled.get(picked)
            if regex is None and picked:
                bodies = self._bodies or []  # _prepare() has filled it
                regex = self._compiled[picked] = re.compile(
                    "|".join(f"(?P<r{i}>{bodies[i]})" for i in picked), re.IGNORECASE
                )
            self._cache[key] = regex
        return self._cache[key]

    def match(self, text: str) -> Rule | None:
        if not text or not self.rules:
            return None
        if self._bodies is None:
            self._prepare()
        picked = self._by_ends.get((text[0], text[-1]))
        if picked is None:
            last = text[-1].lower()
            picked = self._by_ends[text[0], text[-1]] = (
                self._alternation(text[0].lower(), last),
                self._alone_for(last),
            )
        regex, alone = picked
        m = regex.match(text) if regex is not None else None
        found = int(m.lastgroup[1:]) if m and m.lastgroup else len(self.rules)  # group r<i>: rule i
        for i, words, reach, pattern in alone:
            if i > found:
                break  # an earlier pattern of the alternation matched: it wins, as in one alternation
            end = (text if reach is None else text[-reach:]).lower()  # compared as the regex does
            for word in words:
                if word in end:
                    if pattern.match(text):
                        return self.rules[i]
                    break
        return self.rules[found] if found < len(self.rules) else None

    def _alone_for(self, last: str) -> tuple:
        """The patterns tried alone that a line ending in `last` may match, in file order."""
        picked = self._alone_cache.get(last)
        if picked is None:
            picked = self._alone_cache[last] = tuple(
                (i, words, reach, alone)
                for i, lasts, words, reach, alone in self._alone
                if lasts is None or last in lasts
            )
        return picked

    def __bool__(self) -> bool:
        return bool(self.rules)


@dataclass
class RuleSet:
    phrases: dict[str, Rule] = field(default_factory=dict)  # phrase key -> rule (kind end or line)
    patterns: PatternSet = field(default_factory=PatternSet)  # kinds end, line and teaser
    max_phrase_chars: int = 0
    source_attribution: list[tuple[re.Pattern, Rule]] = field(default_factory=list)
    byline: list[tuple[re.Pattern, Rule]] = field(default_factory=list)
    author_line: list[tuple[re.Pattern, Rule]] = field(default_factory=list)
    credit_line: list[tuple[re.Pattern, Rule]] = field(default_factory=list)
    signature_suffixes: list[str] = field(default_factory=list)
    signature_prefixes: list[str] = field(default_factory=list)
    sections: set[str] = field(default_factory=set)
    not_name_words: set[str] = field(default_factory=set)
    honorifics: set[str] = field(
        default_factory=set
    )  # "anh", "bà", "mr": a name after them is not a signature
    files: list[str] = field(default_factory=list)

    def classify(self, text: str) -> Rule | None:
        """The rule for this (stripped) line, if any: phrases first, then patterns."""
        if len(text) <= self.max_phrase_chars + _PHRASE_SLACK:
            rule = self.phrases.get(phrase_key(text))
            if rule:
                return rule
        return self.patterns.match(text)

    def size(self) -> int:
        """Rules and words loaded so far (a file that adds none is a mistake)."""
        metadata = sum(len(getattr(self, name)) for name in METADATA_KEYS)
        return len(self.phrases) + len(self.patterns.rules) + metadata

    def is_section(self, text: str) -> bool:
        return phrase_key(text) in self.sections


def load_rules(paths: list[str | Path]) -> RuleSet:
    rules = RuleSet()
    for path in paths:
        data = load_yaml(path)
        shown = getattr(data, "file", str(path))
        rules.files.append(shown)
        if data is None:  # a file emptied by mistake would silently switch its rules off
            raise ConfigError(f"{shown}: empty rule file (expected sections: {', '.join(SECTIONS)})")
        if not isinstance(data, LocatedDict):  # the loader makes every mapping one
            raise ConfigError(f"{shown}: a rule file must be a mapping of sections ({', '.join(SECTIONS)})")
        before = rules.size()
        for section, body in data.items():
            if section not in SECTIONS:
                raise ConfigError(
                    f"{data.where(section)}: unknown section {section!r} (known: {', '.join(SECTIONS)})"
                )
            _load_section(rules, section, body, data.where(section))
        if rules.size() == before:
            raise ConfigError(f"{shown}: the rule file holds no rule (every section is empty)")
    return rules


def refuse_catastrophic(pattern: str, where: str) -> None:
    """A user regex that can backtrack exponentially (one 36-character line hung a run) is a config error."""
    problem = nested_repeat(pattern)
    if problem:
        raise ConfigError(
            f"{where}: regex {pattern!r} can take exponential time ({problem}); "
            "rewrite it without the nested repeat"
        ) from None


def _items(body, where: str, what: str) -> list[tuple[str, str]]:
    """(value, file:line) for each string in a list."""
    if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
        raise ConfigError(f"{where}: {what} must be a list of strings")
    return [(x, body.where(i) if isinstance(body, LocatedList) else where) for i, x in enumerate(body)]


def _families(body, where: str, section: str) -> list[tuple[str, str, str]]:
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: {section} must map a rule name to a list")
    out = []
    for name, values in body.items():
        loc = body.where(name) if isinstance(body, LocatedDict) else where
        out += [(name, value, src) for value, src in _items(values, loc, f"{section}.{name}")]
    return out


def _add_phrase(rules: RuleSet, rule: Rule) -> None:
    """First definition wins, except that an end marker beats a single-line phrase."""
    key = phrase_key(rule.pattern)
    old = rules.phrases.get(key)
    if old is None or (old.kind == "line" and rule.kind == "end"):
        rules.phrases[key] = rule
        rules.max_phrase_chars = max(rules.max_phrase_chars, len(rule.pattern))


def _load_section(rules: RuleSet, section: str, body, where: str) -> None:
    if section in ("end_markers", "line_phrases"):
        for name, phrase, src in _families(body, where, section):
            _add_phrase(rules, Rule(name, src, phrase, _KIND[section]))
    elif section in ("end_patterns", "line_patterns"):
        for name, pattern, src in _families(body, where, section):
            rules.patterns.add(Rule(name, src, pattern, _KIND[section]))
    elif section == "teaser_meta":
        for pattern, src in _items(body, where, section):
            rules.patterns.add(Rule("teaser_card", src, pattern, "teaser"))
    elif section == "metadata":
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: metadata must be a mapping")
        for key, values in body.items():
            loc = body.where(key) if isinstance(body, LocatedDict) else where
            if key not in METADATA_KEYS:
                raise ConfigError(f"{loc}: unknown metadata key {key!r} (known: {', '.join(METADATA_KEYS)})")
            for value, src in _items(values, loc, f"metadata.{key}"):
                if key in _WORD_LISTS:
                    target = getattr(rules, key)
                    word = phrase_key(value) if isinstance(target, set) else value.casefold()
                    target.add(word) if isinstance(target, set) else target.append(word)
                    continue
                try:
                    regex = re.compile(value, re.IGNORECASE)
                except re.error as exc:
                    raise ConfigError(f"{src}: metadata.{key}: bad regex {value!r}: {exc}") from None
                refuse_catastrophic(value, f"{src}: metadata.{key}")
                getattr(rules, key).append((regex, Rule(key, src, value)))
