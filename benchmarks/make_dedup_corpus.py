"""Run ../shared/bench/dedup/make_corpus.py with one fix: its digit edit calls int() on any
character for which str.isdigit() is true, and superscripts such as "m²" crash it
(ValueError) once a corpus reuses articles (--n above ~30k). Here int() of one such
digit gives its value (unicodedata.digit); everything else, the random draws included,
is the script's own, so corpora that built before build the same now.

    python benchmarks/make_dedup_corpus.py build --n 200000 --seed 2 --dup-frac 0.25 --out /tmp/c200k.jsonl
"""

from __future__ import annotations

import builtins
import unicodedata


def _int(value, *args):
    if isinstance(value, str) and len(value) == 1 and not args and not value.isascii():
        return unicodedata.digit(value)
    return builtins.int(value, *args)


if __name__ == "__main__":
    from common import shared_module

    make_corpus = shared_module("bench", "dedup", "make_corpus.py")

    make_corpus.int = _int  # module global, found before the builtin
    make_corpus.main()
