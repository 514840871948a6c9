"""Per-language quality profiles (config/quality/*.yaml): stop words and thresholds.

A profile file looks like

    stop_words: [là, và, của, ...]     # counted by the stop_word_* signals
    common_bigrams: vi-bigrams.txt     # word pairs of real prose, one a line (common_bigram_frac, _lift)
    short_line_chars: 30               # a line this short or shorter is "short"
    thresholds:                        # checked in this order; the first failure names the drop
      vi_letter_frac: {min: 0.97}
      dup_line_frac: {max: 0.293}

Profile paths are relative to the pipeline config file, like the `rules` of
clean_lines; a bigram file is relative to its profile.
Every threshold keeps its `file:line`, so a drop can say where its limit lives.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config import ConfigError, LocatedDict, data_file, display_path, load_yaml
from pipeline.s5_filter.quality_tokens import word_hashes

MAX_BIGRAM_WORDS = 4000
# the signals quality_signals computes, in record order (the names a threshold may use)
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
SIGNAL_NAMES = (
    "n_words",
    "n_chars",
    "n_lines",
    "n_paragraphs",
    "mean_word_len",
    "alpha_word_frac",
    "stop_word_hits",
    "stop_word_frac",
    "common_bigram_frac",
    "common_bigram_lift",
    "dup_line_frac",
    "dup_line_char_frac",
    "dup_para_frac",
    "dup_para_char_frac",
    *(f"top_{n}gram_char_frac" for n in TOP_NGRAMS),
    *(f"dup_{n}gram_char_frac" for n in DUP_NGRAMS),
    "line_punct_frac",
    "ellipsis_line_frac",
    "bullet_line_frac",
    "short_line_frac",
    "newline_per_word",
    "hash_per_word",
    "ellipsis_per_word",
    "nav_symbol_per_word",
    "mojibake_per_word",
    "vi_letter_frac",
    "vi_diacritic_frac",
    "lorem_ipsum",
)

INT_SIGNALS = (
    "n_words",
    "n_chars",
    "n_lines",
    "n_paragraphs",
    "stop_word_hits",
    "lorem_ipsum",
)  # the rest are floats
PROFILE_KEYS = ("stop_words", "common_bigrams", "short_line_chars", "thresholds", "description")
# punctuation that may stick to a stop word in whitespace tokens ("năm," "và...")
_STOP_SUFFIXES = ("", ",", ".", ";", ":", "!", "?", ")", '"', "”", "...", "…")


@dataclass(frozen=True)
class Threshold:
    signal: str
    min: float | None
    max: float | None
    source: str  # "config/quality/vi.yaml:12"

    def failure(self, value: float) -> str | None:
        """None if `value` passes, else a detail such as 'dup_line_frac=0.41 > max 0.293'."""
        if self.min is not None and value < self.min:
            return f"{self.signal}={value:g} < min {self.min:g} ({self.source})"
        if self.max is not None and value > self.max:
            return f"{self.signal}={value:g} > max {self.max:g} ({self.source})"
        return None


@dataclass(frozen=True)
class LangProfile:
    path: str
    stop_words: frozenset[str]
    stop_tokens: frozenset[str]  # stop words with the punctuation that may stick to them
    short_line_chars: int
    thresholds: tuple[Threshold, ...]
    # common bigrams: a (V+1) x (V+1) table of word ids (1..V), true for listed pairs
    bigram_table: np.ndarray | None = field(default=None, compare=False)
    # the same pairs as two arrays of word ids (first words, second words), each pair once
    bigram_pairs: tuple[np.ndarray, ...] | None = field(default=None, compare=False)
    # listed tokens, by token hash (sorted), and their codes: 2 * (word id in the bigram
    # table, 0 if none) + (1 if a stop token); one lookup per token answers both questions
    code_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64), compare=False)
    code_values: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), compare=False)
    # the same lookup as a hash table for the compiled path: slot -> index in code_hashes, -1 empty
    code_slots: np.ndarray = field(default_factory=lambda: code_slots(np.zeros(0, np.uint64)), compare=False)


def make_profile(
    stop_words=(), thresholds=(), short_line_chars: int = 30, path: str = "(inline)", common_bigrams=()
) -> LangProfile:
    words = frozenset(w.lower() for w in stop_words)
    tokens = frozenset(w + s for w in words for s in _STOP_SUFFIXES) | frozenset("(" + w for w in words)
    bigram_words: dict[str, int] = {}
    pairs = []
    for first, second in common_bigrams:
        pairs.append(
            (
                bigram_words.setdefault(first.lower(), len(bigram_words) + 1),
                bigram_words.setdefault(second.lower(), len(bigram_words) + 1),
            )
        )
    if len(bigram_words) > MAX_BIGRAM_WORDS:
        raise ConfigError(
            f"{path}: common_bigrams use {len(bigram_words)} distinct words; at most "
            f"{MAX_BIGRAM_WORDS} (the pair table is words x words)"
        )
    table = pair_ids = None
    if pairs:
        table = np.zeros((len(bigram_words) + 1, len(bigram_words) + 1), dtype=bool)
        table[tuple(np.array(pairs).T)] = True
        pair_ids = np.nonzero(table)
    codes = {word: 2 * number for word, number in bigram_words.items()}
    for token in tokens:
        codes[token] = codes.get(token, 0) | 1
    hashes = word_hashes(list(codes))
    order = np.argsort(hashes)
    values = np.fromiter(codes.values(), dtype=np.int64, count=len(codes))
    return LangProfile(
        path,
        words,
        tokens,
        short_line_chars,
        tuple(thresholds),
        table,
        pair_ids,
        hashes[order],
        values[order],
        code_slots(hashes[order]),
    )


SLOT_MULT = 0x9E3779B97F4A7C15  # a slot is the top bits of hash * SLOT_MULT (mod 2**64)


def code_slots(hashes: np.ndarray) -> np.ndarray:
    """An open-addressing table (linear probing, a quarter full at most) over the sorted token
    hashes: slot -> index of the hash in `hashes`, -1 where empty. Of equal hashes the first
    is found, as np.searchsorted finds it; `_jit.profile_counts` looks tokens up in it."""
    bits = max(4, (4 * len(hashes)).bit_length())
    slots = np.full(1 << bits, -1, dtype=np.int64)
    mask = len(slots) - 1
    for i, h in enumerate(hashes.tolist()):
        slot = ((h * SLOT_MULT) & 0xFFFFFFFFFFFFFFFF) >> (64 - bits)
        while slots[slot] >= 0 and int(hashes[slots[slot]]) != h:
            slot = (slot + 1) & mask
        if slots[slot] < 0:
            slots[slot] = i
    return slots


EMPTY_PROFILE = make_profile(path="(none)")


def read_bigrams(path: Path, where: str) -> list[tuple[str, str]]:
    """A bigram file: one pair of words a line, separated by a space; '#' starts a comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read common_bigrams file {display_path(path)}: {exc}") from None
    pairs = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"{display_path(path)}:{number}: expected two words, got {line!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


@functools.lru_cache(maxsize=16)
def load_profile(path: str) -> LangProfile:
    """Load and validate one profile file; errors name the file, line and key."""
    shown = display_path(Path(path))
    raw = load_yaml(path)
    if not isinstance(raw, LocatedDict):  # the loader makes every mapping one
        raise ConfigError(f"{shown}: a quality profile must be a mapping with keys {', '.join(PROFILE_KEYS)}")
    for key in raw:
        if key not in PROFILE_KEYS:
            raise ConfigError(f"{raw.where(key)}: unknown key {key!r} (known: {', '.join(PROFILE_KEYS)})")
    stop_words = raw.get("stop_words") or []
    if not isinstance(stop_words, list) or not all(isinstance(w, str) for w in stop_words):
        raise ConfigError(f"{raw.where('stop_words')}: stop_words must be a list of words")
    short = raw.get("short_line_chars", 30)
    if not isinstance(short, int) or isinstance(short, bool) or short < 0:
        raise ConfigError(f"{raw.where('short_line_chars')}: short_line_chars must be a whole number >= 0")
    thresholds = []
    table = raw.get("thresholds") or LocatedDict()
    if not isinstance(table, dict):
        raise ConfigError(f"{raw.where('thresholds')}: thresholds must be a mapping signal -> {{min, max}}")
    for signal, bounds in table.items():
        where = table.where(signal) if isinstance(table, LocatedDict) else shown
        if signal not in SIGNAL_NAMES:
            raise ConfigError(f"{where}: unknown signal {signal!r} (known: {', '.join(SIGNAL_NAMES)})")
        if not isinstance(bounds, dict) or not bounds or set(bounds) - {"min", "max"}:
            raise ConfigError(f"{where}: {signal}: expected {{min: N}} and/or {{max: N}}, got {bounds!r}")
        for key, value in bounds.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ConfigError(f"{where}: {signal}.{key}: expected a number, got {value!r}")
        thresholds.append(Threshold(signal, bounds.get("min"), bounds.get("max"), where))
    bigrams_file = raw.get("common_bigrams")
    if bigrams_file is not None and not isinstance(bigrams_file, str):
        raise ConfigError(f"{raw.where('common_bigrams')}: common_bigrams must be a file name")
    bigrams = (
        read_bigrams(Path(path).parent / bigrams_file, raw.where("common_bigrams")) if bigrams_file else []
    )
    return make_profile(stop_words, thresholds, short, shown, bigrams)


def profiles_for(step) -> tuple[dict[str, LangProfile], LangProfile | None]:
    """The profiles named by a step's `profiles` (language -> file) and `fallback` options."""
    base = step.context.get("config_dir", ".")
    profiles = step.options["profiles"]
    if not isinstance(profiles, dict) or not all(isinstance(v, str) for v in profiles.values()):
        raise ConfigError(f"{step.name}.profiles must map a language code to a profile file")
    by_lang = {lang: load_profile(str(data_file(base, file))) for lang, file in profiles.items()}
    fallback = step.options["fallback"]
    return by_lang, (load_profile(str(data_file(base, fallback))) if fallback else None)
