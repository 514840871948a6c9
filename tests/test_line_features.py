"""line_features computes the features of a whole page at once (numpy over the joined lines): the
numbers must be those of the per-line definitions they replaced, kept here as the reference (the
shipped line model was trained on them)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from pipeline.s3_clean.dates import is_date_line
from pipeline.s3_clean.line_features import (
    _BULLET,
    _FULL_STOP,
    _LINKISH,
    _NUMBERED,
    _SENTENCE_END,
    _SEPARATOR,
    BASE,
    FEATURES,
    NEIGHBOUR_FEATURES,
    NEIGHBOURS,
    PROSE_CHARS,
    STOP_WORDS,
    _runs,
    densest_window,
    line_features,
    nonblank,
)

ROOT = Path(__file__).resolve().parents[1]
_WORD = re.compile(r"\w+")


def reference_base_features(raw: str) -> list[float]:
    text = raw.strip()
    n = len(text)
    words = text.split()
    nw = len(words)
    letters = sum(map(str.isalpha, text))  # map over str methods: ~3x faster than generators here
    upper = sum(map(str.isupper, text)) / letters if letters else 0.0
    digits = sum(map(str.isdigit, text)) / n
    stop = sum(w.strip(".,;:!?\"'“”()").casefold() in STOP_WORDS for w in words) / nw
    sentence_end = bool(_SENTENCE_END.search(text))
    full_stop = bool(_FULL_STOP.search(text))
    return [
        min(math.log1p(n) / 6.0, 1.5),
        min(math.log1p(nw) / 4.0, 1.5),
        float(sentence_end),
        float(full_stop),
        float(full_stop and n >= PROSE_CHARS),
        float(text.endswith(("...", "…"))),
        float(bool(_BULLET.match(raw))),
        float(bool(_NUMBERED.match(raw))),
        float(raw[:1].isspace()),
        upper,
        digits,
        stop,
        min(text.count(",") / nw, 1.0),
        float(n <= 80 and is_date_line(text)),
        float(bool(_SEPARATOR.search(text))),
        float(bool(_LINKISH.search(text))),
        float(text.endswith(":")),
        float(n < 30),
        float(2 <= nw <= 40 and not full_stop),
        0.0,
        0.0,
        0.0,
        float(text[:1] in "\"“'‘«-–—"),
    ]


def reference_runs(flags: np.ndarray) -> np.ndarray:
    """For each position, the length of the run of True it belongs to (0 when False)."""
    out = np.zeros(len(flags))
    i = 0
    while i < len(flags):
        if flags[i]:
            j = i
            while j < len(flags) and flags[j]:
                j += 1
            out[i:j] = j - i
            i = j
        else:
            i += 1
    return out


def reference_line_features(lines: list[str]) -> tuple[list[int], np.ndarray]:
    """(indices of the non-blank lines, their feature matrix of shape (n, len(FEATURES)))."""
    idx = nonblank(lines)
    n = len(idx)
    if not n:
        return idx, np.zeros((0, len(FEATURES)))
    base = np.array([reference_base_features(lines[i]) for i in idx], dtype=np.float64)
    col = {name: k for k, name in enumerate(BASE)}
    keys = [" ".join(_WORD.findall(lines[i].casefold())) for i in idx]
    counts: dict[str, list[int]] = {}
    for k, key in enumerate(keys):
        if key:
            counts.setdefault(key, []).append(k)
    for positions in counts.values():
        if len(positions) > 1:
            base[positions, col["repeated"]] = min(len(positions) - 1, 3) / 3.0
            near = [p for p in positions if any(0 < abs(p - q) <= 3 for q in positions)]
            base[near, col["repeated_near"]] = 1.0
    # the same first words as another, different line: alt text repeating the title or a caption
    # ("<title> - Ảnh 2"), a teaser repeating its headline
    heads: dict[str, set[str]] = {}
    for key in keys:
        head = " ".join(key.split()[:5])
        if key.count(" ") >= 3:
            heads.setdefault(head, set()).add(key)
    for k, key in enumerate(keys):
        if len(heads.get(" ".join(key.split()[:5]), ())) > 1:
            base[k, col["head_repeat"]] = 1.0
    # blank lines between blocks: w3m leaves a blank line between paragraphs, none inside a menu
    gap_above = np.array([float(k > 0 and idx[k] - idx[k - 1] > 1) for k in range(n)])
    gap_below = np.array([float(k < n - 1 and idx[k + 1] - idx[k] > 1) for k in range(n)])

    prose = base[:, col["prose"]] > 0
    start, end = densest_window(prose)
    pos = np.arange(n)
    in_dense = ((pos >= start) & (pos < end)).astype(float)
    before = np.log1p(np.maximum(start - pos, 0)) / 4.0
    after = np.log1p(np.maximum(pos - end + 1, 0)) / 4.0
    total_prose = max(prose.sum(), 1)
    dense_share = np.full(n, prose[start:end].sum() / total_prose)
    padded = np.concatenate([[0.0], np.cumsum(prose)])  # share of prose lines in a window of 7
    window_prose = (padded[np.minimum(pos + 4, n)] - padded[np.maximum(pos - 3, 0)]) / 7.0
    short = (base[:, col["len"]] < np.log1p(50) / 6.0) & ~prose
    short_run = np.minimum(np.log1p(reference_runs(short)) / 3.0, 1.5)
    bullet_run = np.minimum(np.log1p(reference_runs(base[:, col["bullet"]] > 0)) / 3.0, 1.5)
    cum = np.cumsum(prose)
    prose_above = np.log1p(cum - prose) / 4.0
    prose_below = np.log1p(cum[-1] - cum) / 4.0
    context = np.column_stack(
        [
            pos / max(n - 1, 1),
            in_dense,
            before,
            after,
            dense_share,
            window_prose,
            short_run,
            bullet_run,
            gap_above,
            gap_below,
            prose_above,
            prose_below,
        ]
    )

    neighbour_cols = [col[name] for name in NEIGHBOUR_FEATURES]
    picked = base[:, neighbour_cols]
    blocks = []
    for off in NEIGHBOURS:
        shifted = np.zeros_like(picked)
        if off < 0:
            shifted[-off:] = picked[:off]
        else:
            shifted[:-off] = picked[off:]
        blocks.append(shifted)
    return idx, np.hstack([base, context] + blocks)


EDGE_CASES = [
    # bullets with and without the space after them, a numbered line, a bullet alone with trailing space
    "  • Thời sự\n1. Một\n  •\t\n  • \n•x\n12) mười hai \n999. x",
    # separators with spaces on one, both or no side, at line ends
    "A | B\nA|B\nA |B\nA| B\nA » B\nA›\n|A\nA - B\nA-B\nA / B\n x |",
    # links and images
    "xem https://a.vn/b\nWWW.VN.VN\nảnh.JPG\nanh.jpgx\nfile.mp4 ok\nTP.HCM\nU.S. news",
    # sentence ends, closers, ellipses, colons
    'Câu.\nCâu."\nCâu!»\nCâu…\nCâu...\nCâu..\n.\n"\nCâu:\nCâu;\n."',
    # stop words with punctuation around them, casefolding, quotes and dashes at the start
    "(Và) ĐÃ, là. the; ((a)) x.và và.x “the” 'an'\n“Trích dẫn\n– gạch\n‘x\n«y",
    # long runs of punctuation around short and long cores, a token of punctuation only
    'và!!!!!!!! ......và (((((the))))) ""an"" ...... ;;;;;;;;những;;;;;;;; (((((không))))) .,;:!?',
    # dates, digits, upper case, non-BMP characters, combining marks, tabs and odd whitespace
    "12/03/2024 10:00\nThứ hai, 18/3/2024\n😀 Ǆ x ²³ 12345\nCafe\u0301 E\u0301\n\tTab\x0bline\u2028x\nĐĐĐ",
    # repeats: near and far, heads shared by different lines
    "\n".join(
        ["Một hai ba bốn năm sáu", "Một hai ba bốn năm bảy", "x", "x", "y", "z", "w", "v", "x"]
        + ["Tiêu đề bài báo hôm nay - Ảnh 2.", "Tiêu đề bài báo hôm nay"] * 2
    ),
    # repeats exactly 3 and 4 lines apart, lines without a word (blank keys) repeated
    "\n".join(["k k", "-", "1", "k k", "-", "2", "3", "4", "k k", "!!", "!!", "q", "r", "s", "q"]),
    "",
    "   \n\n",
    "một dòng",
]


def _pages() -> list[str]:
    dumps = sorted((ROOT / "benchmarks/devpages/dumps").glob("*.txt"))
    return [p.read_text(encoding="utf-8") for p in dumps] + EDGE_CASES


@pytest.mark.parametrize("page", _pages(), ids=lambda t: str(abs(hash(t)) % 10**6))
def test_features_equal_the_per_line_reference(page: str):
    lines = page.split("\n")
    want_idx, want = reference_line_features(lines)
    got_idx, got = line_features(lines)
    assert got_idx == want_idx
    assert got.shape == want.shape == (len(want_idx), len(FEATURES))
    bad = np.argwhere(got != want)
    assert not len(bad), [(FEATURES[c], lines[want_idx[r]]) for r, c in bad[:5]]


def test_runs_counts_each_run_length():
    flags = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1], dtype=bool)
    assert _runs(flags).tolist() == [0, 2, 2, 0, 1, 0, 0, 3, 3, 3]
    assert _runs(np.zeros(0, dtype=bool)).tolist() == []


def test_ends_with_full_stop_reads_the_end_as_the_regex_finds_it():
    from pipeline.s3_clean.line_features import _FULL_STOP, ends_with_full_stop

    texts = [
        "",
        ".",
        "a.",
        "a!",
        "Hết…",
        'Ông nói: "Xong."',
        "(Ảnh: A.)",
        "a)",
        '"',
        "a.\n",
        "a\n",
        ".\n\n",
        "a .b",
    ]
    texts += [a + b for a in "x.!?…" for b in "\"'”’»)]x.\n"]
    for text in texts:
        assert ends_with_full_stop(text) == bool(_FULL_STOP.search(text)), repr(text)
    assert ends_with_full_stop("Một câu văn.") and not ends_with_full_stop("Thời sự")
