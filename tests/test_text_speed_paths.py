"""The text steps' fast paths (issue 16, round 4) give the keys of the plain formulas."""

from __future__ import annotations

import random
import sys
import unicodedata
from pathlib import Path

import xxhash
from clean_helpers import template_count_reference

from pipeline.s3_clean.rules import _EDGE, line_plain_keys, one_space, plain_key
from pipeline.s3_clean.template_lines import line_key

DUMPS = Path(__file__).resolve().parent.parent / "benchmarks" / "devpages" / "dumps"
# what makes keys differ: case (ß, Σ, İ fold to more characters), every kind of whitespace, the edge
# characters, tone marks composed and not (NFD), a ">" that composes with U+0338, control characters
_PIECES = [*"aAbzZ09 .,-–•»:|()\"“”'\t\r\v\f\x1c\x85\u00a0\u2003\u2028\u200b\u00ad\ufeff>\u0338ßẞΣσςİıﬁ"]
_PIECES += ["Hòa", "hoà", "Thuỷ", "ĐÀ NẴNG", "\u0301", "o\u0300a", "  ", "\u3000"]


def _random_text(rng: random.Random) -> str:
    lines = ["".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 14))) for _ in range(8)]
    return "\n".join(lines)


def _old_line_key(text: str) -> int:  # the formula before the fast path
    return xxhash.xxh3_64_intdigest(" ".join(text.casefold().split()).encode("utf-8", "surrogatepass"))


def test_casefold_keeps_whitespace_and_edge_characters_as_the_fast_paths_assume():
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        folded = c.casefold()
        if folded == c:
            continue
        assert c not in _EDGE and folded[0] not in _EDGE and folded[-1] not in _EDGE, hex(code)
        assert not c.isspace() and not any(f.isspace() for f in folded), hex(code)
        assert not c.isprintable() or folded.isprintable(), hex(code)
    # str.isprintable allows no whitespace but " ": one_space may return a printable text as it is
    assert not [
        c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() and c != " " and c.isprintable()
    ]


def test_line_plain_keys_equal_plain_key_of_each_stripped_line():
    rng = random.Random(16)
    texts = [_random_text(rng) for _ in range(3000)]
    texts += [unicodedata.normalize("NFC", t) for t in texts]  # most of them take the one-casefold path
    texts += [p.read_text(encoding="utf-8") for p in sorted(DUMPS.glob("*.txt"))[:20]]
    fast = 0
    for text in texts:
        fast += unicodedata.is_normalized("NFC", text)
        assert line_plain_keys(text) == [plain_key(line.strip()) for line in text.split("\n")], repr(text)
    assert fast > 3000


def test_line_key_equals_the_split_and_join_formula():
    rng = random.Random(13)
    lines = [line for _ in range(3000) for line in _random_text(rng).split("\n")]
    lines += ["Tin cùng chuyên mục", "  Đăng  nhập ", "A\u00a0B", "x\ty", ""]
    for line in lines:
        assert line_key(line) == _old_line_key(line), repr(line)


def test_one_space_is_split_and_join():
    for text in ["a b", "a  b", "a\u00a0b", "a\tb", "a\u200bb", "ab", "", "Đà Nẵng hôm nay"]:
        assert one_space(text) == " ".join(text.split())


def _float_simhash(keys: list[int], weights: list[float]) -> int:  # the numpy formula before round 4
    import numpy as np

    bits = (np.array(keys, dtype=np.uint64)[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    votes = np.array(weights, dtype=np.float64) @ (bits.astype(np.float64) * 2.0 - 1.0)
    return int(np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))[votes > 0].sum(dtype=np.uint64))


def test_simhash_in_integers_equals_the_float_votes():
    from pipeline.s3_clean.template_lines import simhash

    rng = random.Random(4)
    for n in [1, 2, 3, 17, 64, 300] * 300:
        keys = [rng.getrandbits(64) for _ in range(n)]
        keys[rng.randrange(n)] = rng.choice([0, 2**64 - 1, 1 << 63])
        lengths = [rng.choice([0, 1, 7, 80, 200, 5000, 2**25]) for _ in range(n)]
        assert simhash(keys, lengths) == _float_simhash(keys, [x * x for x in lengths])
    assert simhash([1, 0], [3, 3]) == 0 and simhash([], []) == 0  # a tie (votes 0) leaves the bit unset


def test_template_counts_equal_the_counting_before():
    import numpy as np

    from pipeline.s3_clean.template_lines import Table, count

    rng = random.Random(7)
    bases = [rng.getrandbits(64) for _ in range(40)]
    for width in (0, 7):
        new, old = Table(), Table()
        for _ in range(3000):
            # near-copies (a few bits flipped) and other documents, lines from a small pool
            fingerprint = rng.choice(bases)
            for _ in range(rng.randrange(12)):
                fingerprint ^= 1 << rng.randrange(64)
            lines = sorted({rng.randrange(60) for _ in range(rng.randrange(0, 9))})
            key = np.array([fingerprint, *lines], dtype=np.uint64)
            source = rng.choice("ab")
            count(new, source, key, 8, width)
            template_count_reference(old, source, key, 8, width)
        assert new.docs == old.docs and _as_lists(new) == _as_lists(old)
        assert sum(len(lines) for lines in new.lines.values()) > 10


def _as_lists(table) -> dict:
    """A table's entries as lists (count's are tuples: replaced, never changed in place)."""
    return {source: {k: list(v) for k, v in lines.items()} for source, lines in table.lines.items()}
