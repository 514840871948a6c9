"""Whitespace tokens of a text as numbers, without a Python loop over tokens.

The quality signals need, per token, an identity (to find repeated n-grams and to
look words up in a profile), a length in characters and whether it has a letter.
Building that with str.split() and a dict costs a Python call per token; here the
UTF-8 bytes are tokenized and hashed with numpy instead, in about 25 array
operations per document.

A token's hash is the polynomial sum(byte_j * P^j) mod 2^64 over its bytes (plus
one), computed from prefix sums and the inverse powers of P (P is odd, so it has an
inverse mod 2^64). It is the same in every process and for every PYTHONHASHSEED;
two different tokens share it only by a 64-bit collision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_P = 0x100000001B3  # odd multiplier (FNV-1a 64-bit prime)
# Python's str.split() separators beyond ASCII whitespace: mapped to spaces first (the
# normalize step has usually done so already)
_UNICODE_SPACE = re.compile("[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")

_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
# per code point up to U+3000, 1 where str.split() splits (str.isspace; none above U+3000): the
# table of the kernels that find words in code points (tests/test_batch_path.py checks it)
SPACE_POINTS = np.zeros(0x3001, dtype=np.uint8)
SPACE_POINTS[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B)]] = 1
SPACE_POINTS[[0x2028, 0x2029, 0x202F, 0x205F, 0x3000]] = 1
_BYTE_VALUE = np.arange(1, 257, dtype=np.uint64)  # byte + 1, so that no byte hashes as nothing
# per byte: 1 if it starts a character (not a UTF-8 continuation byte), plus 2^32 if it starts
# a letter: ASCII letters; lead bytes of Latin-1 letters, Latin extended, Greek, Cyrillic
# (0xC3-0xD4), of U+1000-U+1FFF (Vietnamese, 0xE1) and of the CJK ranges (0xE3-0xED). Not
# 0xC2 (°, «, ·), nor 0xE2 (punctuation, dashes, symbols), nor emoji. One cumulative sum
# then counts both.
_CHAR_LETTER = np.array([int((b & 0xC0) != 0x80) for b in range(256)], dtype=np.int64)
_LETTER_BYTES = [
    *range(ord("a"), ord("z") + 1),
    *range(ord("A"), ord("Z") + 1),
    *range(0xC3, 0xD5),
    0xE1,
    *range(0xE3, 0xEE),
]
_CHAR_LETTER[_LETTER_BYTES] += 1 << 32
_LOW32 = np.int64((1 << 32) - 1)

_power_tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_CACHE_LIMIT = 1 << 20  # entries; longer texts get tables of their own


def powers(base: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """base^i and base^-i mod 2^64 for i < size (at least): `base` must be odd."""
    cached = _power_tables.get(base)
    if cached is not None and size <= len(cached[0]):
        return cached
    grown = max(size, 2 * len(cached[0]) if cached else 0, 4096)
    tables = []
    for factor in (base, pow(base, -1, 1 << 64)):
        table = np.empty(grown, dtype=np.uint64)
        table[0] = 1
        np.cumprod(np.full(grown - 1, factor, dtype=np.uint64), out=table[1:])
        tables.append(table)
    if grown <= _CACHE_LIMIT:
        _power_tables[base] = (tables[0], tables[1])
    return tables[0], tables[1]


_point_table: list[np.ndarray] = []


def point_table() -> np.ndarray:
    """Per code point up to U+3000 (every whitespace, Latin, Vietnamese, punctuation): its UTF-8 bytes
    as the token hash adds them, sum((byte_k + 1) * P^k), then P^(its bytes) or 0 for whitespace,
    then its `_CHAR_LETTER` entry (the kernel `tokenize_points` reads it; built once)."""
    if not _point_table:
        table = np.zeros((len(SPACE_POINTS), 3), dtype=np.uint64)
        for c in range(len(table)):
            data = chr(c).encode("utf-8", "surrogatepass")
            add = sum((b + 1) * pow(_P, k, 1 << 64) for k, b in enumerate(data)) % (1 << 64)
            table[c] = add, 0 if SPACE_POINTS[c] else pow(_P, len(data), 1 << 64), _CHAR_LETTER[data[0]]
        _point_table.append(table)
    return _point_table[0]


@dataclass
class Tokens:
    hashes: np.ndarray  # uint64 per token
    lengths: np.ndarray  # int64 characters per token
    has_letter: np.ndarray  # bool per token

    def __len__(self) -> int:
        return len(self.hashes)


def tokenize(text: str, kernels=None, wide_spaces: bool | None = None) -> Tokens:
    """The whitespace tokens of `text` (as str.split() finds them), hashed; `kernels`: the
    compiled module of `pipeline.kernels` (one loop over the code points, the same values) or None;
    `wide_spaces`: whether `text` holds whitespace beyond ASCII, when known (else searched)."""
    if kernels is not None:  # code points (UTF-32: ~4x cheaper to make than UTF-8), every space in the table
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        return Tokens(*kernels.tokenize_points(points, point_table(), _CHAR_LETTER, np.uint64(_P)))
    if wide_spaces is None:
        wide_spaces = _UNICODE_SPACE.search(text) is not None
    if wide_spaces:
        text = _UNICODE_SPACE.sub(" ", text)
    data = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    size = len(data)
    inside = np.zeros(size + 2, dtype=bool)
    np.logical_not(_SPACE[data], out=inside[1:-1])
    edges = np.flatnonzero(inside[1:] != inside[:-1])  # token starts and ends, alternating
    starts, ends = edges[0::2], edges[1::2]
    power, inverse = powers(_P, size + 1)
    prefix = np.zeros(size + 1, dtype=np.uint64)
    np.cumsum(_BYTE_VALUE[data] * power[:size], out=prefix[1:])
    hashes = (prefix[ends] - prefix[starts]) * inverse[starts]
    counts = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(_CHAR_LETTER[data], out=counts[1:])
    spans = counts[ends] - counts[starts]
    return Tokens(hashes, spans & _LOW32, spans > _LOW32)


def word_hashes(words) -> np.ndarray:
    """The token hash of each word (each must be a single token)."""
    text = " ".join(words)
    tokens = tokenize(text)
    if len(tokens) != len(words):
        raise ValueError("a word contains whitespace")
    return tokens.hashes
