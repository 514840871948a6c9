"""Dedup text and word n-gram shingles, hashed without building shingle strings.

The dedup text is the cleaned text in NFC, lowercased, with Vietnamese tone
marks in one placement ("hòa" and "hoà" -> "hoà"), so that copies differing
only by Unicode form or spelling style share their shingles. Tokens are `\\w+`
runs; a shingle is n consecutive tokens (a text shorter than n tokens is one
shingle), as in the benchmark's `shingling.py`.

Two implementations give the same 32-bit shingle hashes:

- the reference, on strings: `shingle_hash(" ".join(tokens))` is also the hash
  function handed to `datasketch.MinHash(hashfunc=...)` to check that our
  signatures are datasketch's, bit for bit;
- the fast path, `shingle_hashes(text)`, works on the code points in numpy: a
  token's hash is a polynomial over its code points computed from prefix sums,
  and an n-gram's hash a polynomial over its token hashes, again from prefix
  sums, so there is no Python work per token or per shingle.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from pipeline.s4_normalize.tone_marks import place_tone_marks

# Tone placement differs between the styles only in open oa/oe/uy syllables, and the
# old style is the one with the mark on the first vowel: only words with such a pair
# need place_tone_marks (cheap to find, and rare).
_OLD_STYLE_PAIR = re.compile("[òóỏõọ][ae]|[ùúủũụ]y")
_WORD = re.compile(r"\w+")

_M64 = (1 << 64) - 1
_K = 0x9E3779B97F4A7C15 | 1  # code point polynomial base (odd, so it has an inverse mod 2**64)
_C = 0xC2B2AE3D27D4EB4F | 1  # token hash polynomial base
_MIX1, _MIX2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53  # murmur3 fmix64
_U64 = np.uint64
_TABLE_LIMIT = 1 << 20  # longer texts take the reference path (rare; keeps the power tables small)
_fold_cache: dict[str, str] = {}


def _fold_word(word: str) -> str:
    folded = _fold_cache.get(word)
    if folded is None:
        if len(_fold_cache) > 100_000:
            _fold_cache.clear()
        folded = _fold_cache[word] = place_tone_marks(word, "new")
    return folded


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def fold_tone_marks(canon: str) -> str:
    """Rewrite the words holding an old-style pair with place_tone_marks(word, "new")."""
    pieces, done = [], 0
    for match in _OLD_STYLE_PAIR.finditer(canon):
        start, end = match.start(), match.end()
        if start < done:  # a second pair in a word already folded
            continue
        while start > 0 and _is_word_char(canon[start - 1]):
            start -= 1
        while end < len(canon) and _is_word_char(canon[end]):
            end += 1
        pieces += [canon[done:start], _fold_word(canon[start:end])]
        done = end
    return "".join(pieces) + canon[done:] if pieces else canon


def dedup_text(text: str) -> str:
    """NFC, lowercase, tone marks in the new placement."""
    return fold_tone_marks(unicodedata.normalize("NFC", text).lower())


def tokens(text: str) -> list[str]:
    return _WORD.findall(dedup_text(text))


def shingle_strings(text: str, n: int = 5) -> list[str]:
    """Word n-grams as strings (reference path and datasketch's input)."""
    toks = tokens(text)
    if len(toks) < n:
        return [" ".join(toks)] if toks else []
    return [" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)]


# --- reference hashes on strings --------------------------------------------------------


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * _MIX1) & _M64
    h ^= h >> 33
    h = (h * _MIX2) & _M64
    return h ^ (h >> 33)


def token_hash(token: str) -> int:
    h = 0
    for ch in token:
        h = (h * _K + ord(ch)) & _M64
    return _fmix64(h)


def shingle_hash(shingle: str | bytes) -> int:
    """32-bit hash of one shingle (tokens joined by single spaces): a datasketch `hashfunc`."""
    if isinstance(shingle, bytes):
        shingle = shingle.decode("utf-8")
    h = 0
    for token in shingle.split(" "):
        h = (h * _C + token_hash(token)) & _M64
    return _fmix64(h) >> 32


def shingle_hashes_reference(text: str, n: int = 5) -> np.ndarray:
    return _sorted_unique(np.array([shingle_hash(s) for s in shingle_strings(text, n)], dtype=np.uint32))


# --- fast path in numpy -------------------------------------------------------------------


def _fmix64_array(h: np.ndarray) -> np.ndarray:
    h ^= h >> _U64(33)
    h *= _U64(_MIX1)
    h ^= h >> _U64(33)
    h *= _U64(_MIX2)
    h ^= h >> _U64(33)
    return h


class _Powers:
    """base**i and base**-i mod 2**64 for i < size, grown on demand."""

    def __init__(self, base: int):
        self.base, self.inverse = base, pow(base, -1, 1 << 64)
        self.up = self.down = np.ones(0, dtype=np.uint64)

    def ensure(self, size: int) -> None:
        if size > len(self.up):
            size = max(size, 2 * len(self.up), 4096)
            with np.errstate(over="ignore"):
                self.up, self.down = _cumpow(self.base, size), _cumpow(self.inverse, size)


def _cumpow(base: int, size: int) -> np.ndarray:
    out = np.ones(size, dtype=np.uint64)
    if size > 1:
        out[1:] = np.cumprod(np.full(size - 1, base, dtype=np.uint64))  # wraps mod 2**64, as wanted
    return out


_CHAR_POWERS, _TOKEN_POWERS = _Powers(_K), _Powers(_C)
# per code point: a word character; ò-like / ù-like (toned o, u); a or e / y (what follows them in a pair)
_WORD_BIT, _O_TONED_BIT, _U_TONED_BIT, _AE_BIT, _Y_BIT = 1, 2, 4, 8, 16
_char_flags: np.ndarray | None = None  # per BMP code point


def _flags() -> np.ndarray:
    global _char_flags
    if _char_flags is None:
        # re's `\w` is str.isalnum() or "_" (CPython's SRE_UNI_IS_WORD); the tests check it
        flags = np.fromiter(
            (chr(c).isalnum() or c == 95 for c in range(0x10000)), dtype=np.uint8, count=0x10000
        )
        flags[[ord(c) for c in "òóỏõọ"]] |= _O_TONED_BIT
        flags[[ord(c) for c in "ùúủũụ"]] |= _U_TONED_BIT
        flags[[ord("a"), ord("e")]] |= _AE_BIT
        flags[ord("y")] |= _Y_BIT
        _char_flags = flags
    return _char_flags


def _code_points(canon: str) -> tuple[np.ndarray, np.ndarray]:
    points = np.frombuffer(canon.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = _flags()
    if points.size and points.max() >= 0x10000:  # outside the table: ask Python (rare)
        small = points < 0x10000
        flags = np.zeros(points.size, dtype=np.uint8)
        flags[small] = table[points[small]]
        flags[~small] = [chr(c).isalnum() for c in points[~small]]
        return points, flags
    return points, table[points]


def _has_old_style_pair(flags: np.ndarray, kernels=None) -> bool:
    # a toned o before a/e or a toned u before y: (bit 2 or 4) << 2 meets bit 8 or 16 of the next char
    if kernels is not None:  # one loop, stopping at the first pair, instead of three arrays
        return kernels.old_style_pair(flags, 2, _AE_BIT | _Y_BIT)
    return bool(np.any((flags[:-1] << np.uint8(2)) & flags[1:] & np.uint8(_AE_BIT | _Y_BIT)))


def _prefix_poly(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, powers: _Powers) -> np.ndarray:
    """sum(values[i] * base**(end-1-i) for i in start..end-1) mod 2**64 for each (start, end)."""
    powers.ensure(len(values) + 1)
    prefix = np.zeros(len(values) + 1, dtype=np.uint64)
    np.cumsum(values * powers.down[: len(values)], out=prefix[1:])
    return powers.up[ends - 1] * (prefix[ends] - prefix[starts])


def shingle_hashes(text: str, n: int = 5, kernels=None, canon: str | None = None) -> np.ndarray:
    """Sorted unique 32-bit hashes of the word n-grams of `dedup_text(text)` (uint32); equal to
    `shingle_hashes_reference(text, n)`. `kernels`: the compiled module of `pipeline.kernels`
    (one loop over the code points, the same hashes) or None; `canon`: the text's NFC, lowercased,
    when known (near_dedup passes it: `near._canonical`)."""
    if canon is None:
        canon = unicodedata.normalize("NFC", text).lower()
    if len(canon) >= _TABLE_LIMIT:
        return shingle_hashes_reference(text, n)
    points, flags = _code_points(canon)
    if _has_old_style_pair(flags, kernels):
        points, flags = _code_points(fold_tone_marks(canon))
    if kernels is not None:
        return _sorted_unique(kernels.shingle_grams(points, flags, n, _U64(_K), _U64(_C)))
    padded = np.zeros(flags.size + 2, dtype=np.uint8)
    np.bitwise_and(flags, _WORD_BIT, out=padded[1:-1])
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # token starts and ends, alternating
    if edges.size == 0:
        return np.zeros(0, dtype=np.uint32)
    starts, ends = edges[0::2], edges[1::2]
    with np.errstate(over="ignore"):
        token = _fmix64_array(_prefix_poly(points.astype(np.uint64), starts, ends, _CHAR_POWERS))
        count = token.size
        first = np.arange(max(count - n + 1, 1))
        last = np.minimum(first + n, count)
        grams = _fmix64_array(_prefix_poly(token, first, last, _TOKEN_POWERS))
    return _sorted_unique((grams >> _U64(32)).astype(np.uint32))


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    values.sort()
    if values.size < 2:
        return values
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]
