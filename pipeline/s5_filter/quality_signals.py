"""quality_signals: measure each document (FineWeb / Gopher / C4 heuristics), filter nothing.

`compute_signals(text, profile)` is a pure function: the same text and profile give
the same values in any process (no hash seeds, no randomness). The step stores the
result, a flat dict of rounded numbers, under `metadata.quality`; quality_filter and
`newsclean refilter` read it from there.

Units. Text is paragraphs separated by a blank line; every non-empty line is a
"line" (so a paragraph is a line when paragraphs hold no single newline), and
paragraphs are also split on blank lines for the paragraph signals. Words are
whitespace tokens: for Vietnamese a word is a syllable. N-gram signals use the
lowercased tokens; their character counts are Gopher's: an n-gram's characters are
its tokens joined by single spaces (top n-gram) or the tokens' own characters
(duplicated n-grams), over the same measure of the whole document.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from pipeline.document import Document
from pipeline.kernels import kernels_for, preload
from pipeline.options import Schema, option
from pipeline.s5_filter.quality_profiles import (  # the signal names are what profiles' thresholds name
    DUP_NGRAMS,
    EMPTY_PROFILE,
    INT_SIGNALS,
    SIGNAL_NAMES,
    TOP_NGRAMS,
    LangProfile,
    profiles_for,
)
from pipeline.s5_filter.quality_tokens import SPACE_POINTS, Tokens, point_table, powers, tokenize
from pipeline.step import Step

_INT_SIGNALS = INT_SIGNALS  # (pipeline/s7_write/schema.py reads it here)
_FLOAT_SIGNALS = tuple(name for name in SIGNAL_NAMES if name not in INT_SIGNALS)

_VI_LOWER = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ"
_VI_LETTERS = _VI_LOWER + _VI_LOWER.upper()
# Non-ASCII characters that are not Vietnamese letters: few in clean text, so one regex
# pass finds them cheaply. Of those, typography and combining marks are expected; the
# rest (mojibake such as "á»‡" "Æ°" "Ä‘", U+FFFD, other scripts) is "foreign".
_NOT_VI_NON_ASCII = re.compile(f"[^\\x00-\\x7f{_VI_LETTERS}]")
_EXPECTED = (
    frozenset("“”‘’–—‐−…•·°€£¥×÷±≤≥→←↑↓²³½¼¾©®™§‰′″№")
    | frozenset("\u00a0\u2009\u202f\u200b\u200c\u200d\u200e\u200f\u2028")
    | frozenset(chr(c) for c in range(0x300, 0x370))
)
# UTF-8 read as cp1252/latin-1: "á»‡" (ệ), "Ã©" (é), "Ä‘" (đ), "Æ°" (ư), "â€™" (’), or U+FFFD
_MOJIBAKE = re.compile("á[º»]|[ÂÃ][\u0080-\u00bf]|Ä[\u0080-\u00bf‘’]|Æ[°¡]|â€|\ufffd")
# every mojibake match holds one of these (not Vietnamese letters, so they are in `odd`)
_MOJIBAKE_MARKS = frozenset("º»‘’°¡€\ufffd") | frozenset(map(chr, range(0x80, 0xC0)))
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_ASCII_PUNCT = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_UNICODE_PUNCT = "“”‘’–—…"
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u00a0]*\n\s*")

# line endings that close a sentence (C4 / FineWeb), quotes and brackets after it included
_END_PUNCT = frozenset(".!?…:;\"'”’)»")
_BULLETS = frozenset("•·*-–—►▶▸‣●○■□▪◦✓✔+>»")
_NAV_SYMBOLS_NON_ASCII = "»›•·►▶"  # and "|", ">"
_ELLIPSES = ("...", "…")

_MULT = 0x9E3779B97F4A7C15  # odd 64-bit multiplier of the n-gram hash
_KMAX = max(DUP_NGRAMS)
_DUP_SPANS = np.array(DUP_NGRAMS)[:, None]  # n of each row of duplicated n-gram keys
_TOP_NAMES = tuple(f"top_{n}gram_char_frac" for n in TOP_NGRAMS)
_DUP_NAMES = tuple(f"dup_{n}gram_char_frac" for n in DUP_NGRAMS)
assert TOP_NGRAMS == (2, 3, 4) and DUP_NGRAMS == tuple(range(5, _KMAX + 1))  # one row per n from 2


def compute_signals(text: str, profile: LangProfile | None = None, kernels=None, char_counts=None) -> dict:
    """All quality signals of `text` as a flat dict of rounded numbers (names in SIGNAL_NAMES).
    `kernels`: the compiled module of `pipeline.kernels` (the same values, faster) or None;
    `char_counts`: the text's `_char_counts`, its count of wide spaces, of "\n" and of "\n\n" when
    they are known already (a batch's, compiled: `_jit.char_counts`)."""
    return _rounded([_measured(text, profile, kernels, char_counts)])[0]


def _measured(
    text: str, profile: LangProfile | None, kernels, char_counts, lowered: str | None = None
) -> dict:
    """The signals of `compute_signals` before their rounding; `lowered`: `text.lower()` when known."""
    profile = profile or EMPTY_PROFILE
    lowered = text.lower() if lowered is None else lowered
    # (lowercasing neither makes nor removes whitespace: the text's count of wide spaces holds)
    tokens = tokenize(lowered, kernels, None if char_counts is None else char_counts[9] > 0)
    lines = [s for s in map(str.strip, text.split("\n")) if s]
    # a single newline inside a paragraph (one left once the "\n\n" are removed, as replace removes
    # them): split paragraphs apart
    newlines, breaks = (text.count("\n"), text.count("\n\n")) if char_counts is None else char_counts[10:12]
    if newlines > 2 * breaks:
        paragraphs = [p for p in map(str.strip, _PARAGRAPH_BREAK.split(text)) if p]
    else:
        paragraphs = lines
    out: dict[str, float] = {
        "n_words": len(tokens),
        "n_chars": len(text),
        "n_lines": len(lines),
        "n_paragraphs": len(paragraphs),
        "lorem_ipsum": lowered.count("lorem ipsum"),
    }  # C4: placeholder text, in any language
    out.update(_char_signals(text, len(tokens), char_counts))
    out.update(_line_signals(lines, paragraphs, len(tokens), profile.short_line_chars))
    out.update(_token_signals(tokens, profile, kernels))
    out["mean_word_len"] = max(out.pop("word_chars", 0) - out.pop("punct_chars"), 0) / max(len(tokens), 1)
    return out


def _rounded(measured: list[dict]) -> list[dict]:
    """Each document's signals with its floats rounded, all in one numpy call (element by element:
    the same values as one call per document)."""
    table = np.array([[out[name] for name in _FLOAT_SIGNALS] for out in measured], dtype=float)
    done = []
    for out, row in zip(measured, np.round(table, 4).tolist()):
        out.update(zip(_FLOAT_SIGNALS, row))
        done.append({name: out[name] for name in SIGNAL_NAMES})
    return done


def _char_counts(text: str) -> tuple[int, ...]:
    """The character counts behind the character signals (CHAR_COUNTS, in that order)."""
    ascii_bytes = text.encode("ascii", "ignore")
    ascii_letters = len(ascii_bytes) - len(ascii_bytes.translate(None, _ASCII_LETTERS))
    punct = len(ascii_bytes) - len(ascii_bytes.translate(None, _ASCII_PUNCT))
    # every non-ASCII character that is not a Vietnamese letter, in one regex pass (few in clean text)
    odd = Counter(_NOT_VI_NON_ASCII.findall(text))
    return (
        len(ascii_bytes),
        ascii_letters,
        punct + sum(odd[c] for c in _UNICODE_PUNCT),
        ascii_bytes.count(b"#"),
        ascii_bytes.count(b"|") + ascii_bytes.count(b">") + sum(odd[c] for c in _NAV_SYMBOLS_NON_ASCII),
        sum(odd.values()),
        sum(n for c, n in odd.items() if c in _EXPECTED),
        sum(n for c, n in odd.items() if c in _MOJIBAKE_MARKS),
        ascii_bytes.count(b"...") + odd["…"],
    )


# (the names of _char_counts' numbers, in order)
CHAR_COUNTS = (
    "ascii",
    "ascii_letters",
    "punct",
    "hash",
    "nav",
    "odd",
    "expected",
    "mojibake_marks",
    "ellipses",
)
# the same counts from one compiled pass over code points: a bit per class of CHAR_COUNTS after "ascii",
# and one for the whitespace beyond ASCII (the tokens' pre-test: `tokenize`'s `wide_spaces`)
_CLASS_BITS = dict(zip((*CHAR_COUNTS[1:], "wide_spaces"), (1 << b for b in range(9))))


def _class_table() -> np.ndarray:
    """Per BMP code point, the bits of the classes it counts in (`_jit.char_counts`)."""
    table = np.zeros(0x10000, dtype=np.uint16)
    table[0x80:] = _CLASS_BITS["odd"]  # non-ASCII and not a Vietnamese letter (code points above too)
    table[[ord(c) for c in _VI_LETTERS]] = 0
    classes = [
        ("ascii_letters", _ASCII_LETTERS.decode()),
        ("punct", _ASCII_PUNCT.decode() + _UNICODE_PUNCT),
        ("hash", "#"),
        ("nav", "|>" + _NAV_SYMBOLS_NON_ASCII),
        ("expected", "".join(_EXPECTED)),
        ("mojibake_marks", "".join(_MOJIBAKE_MARKS)),
        ("ellipses", "…"),
    ]
    for name, chars in classes:
        points = [ord(c) for c in chars]
        # the counts of non-ASCII characters are counts of odd ones (`odd[c]` in _char_counts)
        assert all(p < 0x80 or table[p] & _CLASS_BITS["odd"] for p in points), name
        table[points] |= _CLASS_BITS[name]
    table[np.flatnonzero(SPACE_POINTS[0x80:]) + 0x80] |= _CLASS_BITS["wide_spaces"]
    return table


_CLASSES = _class_table()


def _char_signals(text: str, n_tokens: int, counts: tuple[int, ...] | list[int] | None = None) -> dict:
    """The character signals from `_char_counts(text)`, or `counts` when given (the same numbers)."""
    n_words = n_tokens or 1
    n_ascii, ascii_letters, punct, hashes, nav, n_odd, expected, marks, ellipses = (
        _char_counts(text) if counts is None else counts[:9]
    )
    mojibake = len(_MOJIBAKE.findall(text)) if marks else 0
    foreign = n_odd - expected
    marked = len(text) - n_ascii - n_odd  # non-ASCII Vietnamese letters
    letters = ascii_letters + marked
    return {
        "punct_chars": punct,
        "hash_per_word": hashes / n_words,
        "ellipsis_per_word": ellipses / n_words,
        "nav_symbol_per_word": nav / n_words,
        "mojibake_per_word": mojibake / n_words,
        "vi_letter_frac": letters / (letters + foreign) if letters + foreign else 0.0,
        "vi_diacritic_frac": marked / letters if letters else 0.0,
    }


def _line_signals(lines: list[str], paragraphs: list[str], n_words: int, short_chars: int) -> dict:
    n = len(lines) or 1
    out = {
        # a line cut with an ellipsis (teasers, link lists) is not a finished sentence
        "line_punct_frac": sum(1 for s in lines if s[-1] in _END_PUNCT and not s.endswith(_ELLIPSES)) / n,
        "ellipsis_line_frac": sum(1 for s in lines if s.endswith(_ELLIPSES)) / n,
        "bullet_line_frac": sum(1 for s in lines if s[0] in _BULLETS) / n,
        "short_line_frac": sum(1 for s in lines if len(s) <= short_chars) / n,
        "newline_per_word": (len(lines) - 1) / n_words if n_words and lines else 0.0,
    }
    out["dup_line_frac"], out["dup_line_char_frac"] = _duplicate_fracs(lines)
    if paragraphs is lines:
        out["dup_para_frac"], out["dup_para_char_frac"] = out["dup_line_frac"], out["dup_line_char_frac"]
    else:
        out["dup_para_frac"], out["dup_para_char_frac"] = _duplicate_fracs(paragraphs)
    return out


def _duplicate_fracs(items: list[str]) -> tuple[float, float]:
    """Share of items that repeat an earlier one, and the share of characters in them (Gopher)."""
    if len(set(items)) == len(items):
        return 0.0, 0.0
    counts = Counter(items)
    dup_items = sum(c - 1 for c in counts.values())
    dup_chars = sum(len(s) * (c - 1) for s, c in counts.items() if c > 1)
    return dup_items / len(items), dup_chars / (sum(map(len, items)) or 1)


def _token_signals(tokens: Tokens, profile: LangProfile, kernels=None) -> dict:
    n = len(tokens)
    out = {f"top_{k}gram_char_frac": 0.0 for k in TOP_NGRAMS}
    out.update({f"dup_{k}gram_char_frac": 0.0 for k in DUP_NGRAMS})
    out.update(
        alpha_word_frac=0.0,
        stop_word_hits=0,
        stop_word_frac=0.0,
        common_bigram_frac=0.0,
        common_bigram_lift=0.0,
    )
    if not n:
        return out
    out["alpha_word_frac"] = int(tokens.has_letter.sum()) / n
    if kernels is not None and profile.bigram_table is not None and len(profile.code_hashes) and n > 1:
        out.update(_profile_signals_compiled(kernels, tokens, profile))
    else:
        out.update(_profile_signals(tokens.hashes, profile))
    out["word_chars"] = int(tokens.lengths.sum())
    if kernels is not None:
        out.update(_ngram_signals_compiled(kernels, tokens.hashes, tokens.lengths))
    else:
        out.update(_ngram_signals(tokens.hashes, tokens.lengths))
    return out


def _profile_signals(hashes: np.ndarray, profile: LangProfile) -> dict:
    """Stop-word hits and share; common bigram share and lift (with a bigram table)."""
    n = len(hashes)
    codes = _profile_codes(hashes, profile)
    hits = int((codes & 1).sum())
    out = {"stop_word_hits": hits, "stop_word_frac": hits / n}
    if profile.bigram_table is not None and profile.bigram_pairs is not None and n > 1:  # both or neither
        listed = codes >> 1  # each token's word id in the profile's bigram table, 0 if absent
        observed = int(profile.bigram_table[listed[:-1], listed[1:]].sum())
        out["common_bigram_frac"] = observed / (n - 1)
        # observed over expected if the same tokens came in random order: ~1 for word salad, however
        # common its words; real prose well above, even when its vocabulary is rare (literary texts)
        counts = np.bincount(listed, minlength=len(profile.bigram_table)).astype(np.float64)
        first, second = profile.bigram_pairs
        expected = float(counts[first] @ counts[second]) * (n - 1) / (n * n)
        out["common_bigram_lift"] = observed / expected if expected else 0.0
    return out


def _profile_signals_compiled(kernels, tokens: Tokens, profile: LangProfile) -> dict:
    """The stop-word and bigram signals of `_token_signals` from one compiled loop (same values)."""
    n = len(tokens)
    assert profile.bigram_pairs is not None  # the caller checked the bigram table; both or neither
    first, second = profile.bigram_pairs
    hits, observed, pairs = kernels.profile_counts(
        tokens.hashes,
        profile.code_hashes,
        profile.code_values,
        profile.code_slots,
        profile.bigram_table,
        first,
        second,
    )
    expected = float(pairs) * (n - 1) / (n * n)
    return {
        "stop_word_hits": int(hits),
        "stop_word_frac": int(hits) / n,
        "common_bigram_frac": int(observed) / (n - 1),
        "common_bigram_lift": int(observed) / expected if expected else 0.0,
    }


def _profile_codes(hashes: np.ndarray, profile: LangProfile) -> np.ndarray:
    """Per token, its code in the profile (stop token bit, bigram word id), 0 if not listed."""
    keys = profile.code_hashes
    if not len(keys):
        return np.zeros(len(hashes), dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
    return np.where(keys[at] == hashes, profile.code_values[at], 0)


def _ngram_signals(hashes: np.ndarray, lens: np.ndarray) -> dict:
    """Gopher repetition: top n-gram character share (n=2..4) and duplicated n-gram
    character share (n=5..10).

    An n-gram's hash is the polynomial sum(mix(token_hash_j) * M^j) mod 2^64 over its tokens,
    taken for every start position at once from prefix sums. A key holds the hash's high
    bits and the start's number in the low bits; sorting a row (one n) of keys groups equal
    n-grams, earliest occurrence first. An n-gram running off the end is shorter than n and
    so equals no full one. Deterministic; two different n-grams share a key only by a hash
    collision (about n^2 / 2^(64 - log2 n) per document: negligible).

    An n-gram repeats only where its first n - 1 tokens do, so row n is keyed only at the starts
    of repeated (n - 1)-grams (row 2 at every position; rows 6..10 at the repeated 5-grams'):
    fewer keys, the same groups. (Under a hash collision of two n-grams whose (n - 1)-gram prefixes
    do not collide, the keying at every position grouped them; this one does not. The compiled
    kernel, `_jit.ngram_counts`, keys the same positions.)
    """
    n = len(hashes)
    if n < 2:
        return {}
    cum = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=cum[1:])
    word_chars = int(cum[-1]) or 1
    grams = _NgramHashes.of(hashes)
    best = [n + 1] * len(TOP_NGRAMS)  # an n-gram seen once, at position 0
    starts = np.arange(n)
    for row, k in enumerate((*TOP_NGRAMS, DUP_NGRAMS[0])):
        keys = grams.keys(grams.padded[starts + k], starts)
        repeat = (keys[1:] ^ keys[:-1]) <= grams.low  # sorted key j + 1 repeats key j
        if row < len(TOP_NGRAMS):
            best[row] = max(best[row], _top_score(keys, repeat, starts, grams.low, n))
        grouped = np.zeros(len(keys), dtype=bool)  # every occurrence of a repeated n-gram
        grouped[1:] = repeat
        grouped[:-1] |= repeat
        starts = np.sort(starts[(keys[grouped] & grams.low).view(np.int64)])
        if not len(starts):  # (no repeated n-gram: no longer one either)
            return _top_from_scores(best, n, cum, word_chars + n - 1)
    out = _top_from_scores(best, n, cum, word_chars + n - 1)
    out.update(_dup_fractions(grams, starts, cum, word_chars))
    return out


def _top_score(keys: np.ndarray, repeat: np.ndarray, starts: np.ndarray, low, n: int) -> int:
    """The largest group's size * (n + 1) - its first position (the earliest of the largest, as
    Counter.most_common): `keys` sorted, their number in `starts` in the `low` bits."""
    firsts = np.flatnonzero(np.concatenate(([True], ~repeat)))  # each group's first sorted key
    sizes = np.diff(firsts, append=len(keys))
    # a group's first key holds its earliest start: starts are in position order
    return int((sizes * (n + 1) - starts[(keys[firsts] & low).view(np.int64)]).max())


@dataclass(frozen=True)
class _NgramHashes:
    """Prefix sums of a document's mixed token hashes: the hash of the n-gram at `start` is
    (padded[start + n] - prefix[start]) * inverse[start]; `low` masks the position bits of a key."""

    prefix: np.ndarray
    padded: np.ndarray  # prefix, then its total repeated _KMAX times (n-grams running off the end)
    inverse: np.ndarray
    low: np.uint64

    @classmethod
    def of(cls, hashes: np.ndarray) -> _NgramHashes:
        n = len(hashes)
        mixed = hashes * np.uint64(_MULT)  # short tokens have small hashes: spread them over all 64 bits
        mixed ^= mixed >> np.uint64(29)
        power, inverse = powers(_MULT, n + 1)
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(mixed * power[:n], out=prefix[1:])
        padded = np.empty(n + _KMAX + 1, dtype=np.uint64)
        padded[: n + 1] = prefix
        padded[n + 1 :] = prefix[n]
        return cls(prefix, padded, inverse, np.uint64((1 << max(n.bit_length(), 1)) - 1))

    def keys(self, ends: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Per row (the last axis), the n-gram keys (hash high bits, the start's number in `starts`
        in the low bits), sorted."""
        keys = (ends - self.prefix[starts]) * self.inverse[starts]
        keys &= ~self.low
        keys |= np.arange(len(starts), dtype=np.uint64)
        return np.sort(keys.view(np.int64), axis=-1).view(np.uint64)


def _dup_fractions(grams: _NgramHashes, cand: np.ndarray, cum: np.ndarray, word_chars: int) -> dict:
    """Duplicated n-grams (n = 5..10): share of characters in tokens inside any occurrence that
    repeats an earlier one. Only `cand`, the occurrences of repeated 5-grams (in position order),
    are keyed again."""
    n, low = len(cum) - 1, grams.low
    m = len(cand)
    ckeys = grams.keys(grams.padded[cand + _DUP_SPANS], cand)  # the candidate's number in the low bits
    later = ckeys[:, 1:]
    repeats = np.flatnonzero((later ^ ckeys[:, :-1]) <= low)  # (row, sorted j) of each repeated occurrence
    # (row, candidate number) of each repeated occurrence, in row then position order
    order = np.sort(repeats // (m - 1) * m + (later.ravel()[repeats] & low).view(np.int64))
    row = order // m
    start = cand[order - row * m]
    # an occurrence's tokens not inside the next occurrence of its row: the union, counted once
    stop = start + row + DUP_NGRAMS[0]
    np.minimum(stop[:-1], np.where(row[1:] == row[:-1], start[1:], n), out=stop[:-1])
    chars = np.bincount(row, weights=cum[np.minimum(stop, n)] - cum[start], minlength=len(DUP_NGRAMS))
    return dict(zip(_DUP_NAMES, (chars / word_chars).tolist()))


def _ngram_signals_compiled(kernels, hashes: np.ndarray, lens: np.ndarray) -> dict:
    """`_ngram_signals` with the same n-gram keys grouped in one compiled call (the same values)."""
    n = len(hashes)
    if n < 2:
        return {}
    power, inverse = powers(_MULT, n + 1)
    best, dup, cum, repeated = kernels.ngram_counts(hashes, lens, np.uint64(_MULT), power, inverse, _KMAX)
    word_chars = int(cum[-1]) or 1
    out = _top_from_scores(best.tolist(), n, cum, word_chars + n - 1)
    if repeated:
        out.update(zip(_DUP_NAMES, (dup / word_chars).tolist()))
    return out


def _top_from_scores(best: list[int], n: int, cum: np.ndarray, spaced_chars: int) -> dict:
    """The top n-gram shares from each row's best score: size * (n + 1) - first position."""
    out = {}
    for k, name, top in zip(TOP_NGRAMS, _TOP_NAMES, best):
        if n < k:  # an n longer than the document is not reported
            continue
        count = (top + n) // (n + 1)  # occurrences of the most frequent n-gram
        first = count * (n + 1) - top
        chars = int(cum[min(first + k, n)] - cum[first]) + k - 1
        out[name] = min(count * chars / spaced_chars, 1.0)
    return out


class QualitySignals(Step):
    """Stores `compute_signals` of each document under `metadata.quality`, using the
    profile (stop words) of the language found by language_filter."""

    name = "quality_signals"
    pipeline_stage = "filter"

    class Options(Schema):
        # language -> profile file
        profiles: dict[str, str] = option({"vi": "quality/vi.yaml", "en": "quality/en.yaml"})
        fallback: str = ""  # profile for other languages; "" = measure without stop words

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.profiles, self.fallback = profiles_for(self)
        self._measured = 0  # documents measured in this process (when the compiled kernels pay)

    def preload(self, docs_per_process: int) -> None:
        if preload(docs_per_process) is not None:
            point_table()  # (built before the workers fork: they share it)

    def process(self, doc: Document) -> None:
        profile = self._profile(doc)
        self._measured += 1  # small runs stay on numpy; the compiled kernels once they pay (same values)
        kernels = kernels_for(self._measured)
        doc.metadata["quality"] = _rounded([_measured(doc.text, profile, kernels, None, doc.lowered())])[0]

    def process_batch(self, docs: list[Document]) -> None:
        """`process` over a batch, the character counts of all its texts from one compiled pass
        over their code points (the same values as `_char_counts`, one regex pass per text)."""
        self._measured += len(docs)
        kernels = kernels_for(self._measured)
        counts: list = [None] * len(docs)
        if kernels is not None:  # one separator character between texts: found by their lengths
            joined = "\n".join([doc.text for doc in docs]).encode("utf-32-le", "surrogatepass")
            lengths = np.array([len(doc.text) for doc in docs], dtype=np.int64)
            counts = kernels.char_counts(np.frombuffer(joined, dtype=np.uint32), _CLASSES, lengths).tolist()
        signals = _rounded(
            [
                _measured(doc.text, self._profile(doc), kernels, row, doc.lowered())
                for doc, row in zip(docs, counts)
            ]
        )
        for doc, values in zip(docs, signals):  # (every document measured before any changes)
            doc.metadata["quality"] = values

    def _profile(self, doc: Document) -> LangProfile | None:
        profile = self.profiles.get(doc.metadata.get("language")) or self.fallback
        if profile is None:
            self.stats.counters["quality.no_profile"] += 1
        return profile
