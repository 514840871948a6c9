"""The vectorized language-id scan gives py3langid's exact scores."""

from __future__ import annotations

import random

import numpy as np
import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from pipeline.s5_filter.langid_fast import load_identifier

VI = (
    "Sáng nay, Ủy ban nhân dân thành phố đã tổ chức hội nghị tổng kết công tác năm với sự tham dự "
    "của nhiều đại biểu từ các sở, ban, ngành và địa phương trên địa bàn. "
)
EN = "The city council met on Monday to discuss the budget for next year, officials said. "


@pytest.fixture(scope="module")
def both():
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True), load_identifier(norm_probs=True)


def samples() -> list[str]:
    rng = random.Random(7)
    words = (VI + EN + "Đà Nẵng hoà hòa NGƯỜI 2024 12,5% «quote» — … 😀 \u0301").split()
    out = ["", "a", "xin chào", VI, EN, VI * 20, EN * 30, (VI + EN) * 5, VI.upper() * 3, "\u00a0 \t\n" * 50]
    for _ in range(200):
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 400))))
    return out


def test_same_language_and_score_as_py3langid(both):
    slow, fast = both
    assert fast._fast, "the shortcut's self-check failed on the shipped model"
    for text in samples():
        assert fast.classify(text) == slow.classify(text), text[:80]


def test_same_raw_scores_bit_for_bit(both):
    slow, fast = both
    for text in samples()[:60]:
        data = text.encode("utf-8")
        assert np.array_equal(fast._raw_score(data), slow._raw_score(data))


def test_known_depth_is_what_the_bfs_finds():
    import numpy as np

    from pipeline.s5_filter.langid_fast import _KNOWN_DEPTHS, _depth, load_identifier

    ident = load_identifier()
    assert ident._depth == _depth(ident._nextmove, np.asarray(ident._rowbase, dtype=np.int64))
    assert ident._depth in _KNOWN_DEPTHS.values()


def test_py3langid_model_is_the_one_langid_fast_was_checked_against():
    """langid_fast.py reads py3langid's private tables and knows its model's automaton depth;
    pyproject pins py3langid to the release carrying this model. A new model fails here:
    re-run the tests above against it, update _KNOWN_DEPTHS and these hashes, and the pin."""
    import xxhash

    from pipeline.s5_filter.langid_fast import _KNOWN_DEPTHS

    model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def digest(values, dtype=None) -> str:
        return xxhash.xxh3_64_hexdigest(np.ascontiguousarray(np.asarray(values, dtype=dtype)).tobytes())

    assert {
        "nextmove": digest(model.tk_nextmove, np.uint32),
        "rowbase": digest(model._rowbase, np.int64),
        "output": digest(model.tk_output, np.int32),
        "ptc": digest(model.nb_ptc),
        "pc": digest(model.nb_pc),
    } == {
        "nextmove": "fe2446c16cda87ab",
        "rowbase": "3ec055ab3371d033",
        "output": "68b1e29aea7b5ff2",
        "ptc": "50fe5982f0669921",
        "pc": "fd4912c2e4dc65a1",
    }
    assert (model.nb_ptc.dtype, model.nb_ptc.shape, len(model.nb_classes)) == (np.float16, (100053, 142), 142)
    assert ("fe2446c16cda87ab", len(model._rowbase)) in _KNOWN_DEPTHS
