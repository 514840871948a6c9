"""Features of the lines of a page dump that hold on any site.

A full-page dump (w3m, a browser's "save as text", the seeds) is one block per
line: menus and breadcrumbs above the article, widgets and lists of headlines
around it, the footer below. What tells them apart does not depend on the site:
the length of a line and whether it ends like a sentence, bullets and numbering,
runs of short lines, how much of the page's prose sits around it, repeats inside
the page. `line_features` turns the non-blank lines of a page into a matrix of
such features, the input of the line model (`pipeline/s3_clean/line_model.py`).

No phrase of any site is a feature: a rule for a phrase belongs in the rule files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from pipeline.s3_clean.dates import is_date_line

# function words of Vietnamese and English: running prose is full of them, menus and headlines
# (noun phrases) hold few
STOP_WORDS = frozenset(
    "là và của một được trong năm các có này đã người không cho với những để từ đến khi về ra vào tại "
    "bị theo sau cũng như đang sẽ thì mà nhưng hơn rất nhiều trên nên do vì nếu đó khi lại còn chỉ "
    "the a an and of to in is are was were for on that with as by at from it this be has have had "
    "not but or which their they he she we its".split()
)

_BULLET = re.compile(r"^\s*(?:[•·▪◦●○■□►▶‣⁃*+-]|\d{1,3}[.)])\s")
_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s")
_SENTENCE_END = re.compile(r"(?:[.!?…:;]|[.!?…][\"'”’»)\]])$")
_FULL_STOP = re.compile(r"(?:[.!?…]|[.!?…][\"'”’»)\]])$")
_SEPARATOR = re.compile(r"\s[|>»›/·–—-]\s|\s[|»›]\S|\S[|»›]\s")
_LINKISH = re.compile(r"https?://|www\.|\.(?:jpe?g|png|gif|webp|svg|mp4)\b", re.I)
_WORD = re.compile(r"\w+")

PROSE_CHARS = 80  # a line this long that ends like a sentence is prose
NEIGHBOURS = (-3, -2, -1, 1, 2, 3)

BASE = (
    "len",
    "words",
    "sentence_end",
    "full_stop",
    "prose",
    "ellipsis",
    "bullet",
    "numbered",
    "indent",
    "upper",
    "digits",
    "stop",
    "commas",
    "date",
    "separator",
    "linkish",
    "colon_end",
    "short",
    "title_like",
    "repeated",
    "repeated_near",
    "head_repeat",
    "quote",
)
CONTEXT = (
    "pos",
    "in_dense",
    "before_dense",
    "after_dense",
    "dense_share",
    "window_prose",
    "short_run",
    "bullet_run",
    "gap_above",
    "gap_below",
    "prose_above",
    "prose_below",
)
NEIGHBOUR_FEATURES = ("prose", "len", "bullet", "title_like", "full_stop")
FEATURES = BASE + CONTEXT + tuple(f"{name}@{off:+d}" for off in NEIGHBOURS for name in NEIGHBOUR_FEATURES)


def nonblank(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.strip()]


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def base_features(raw: str) -> list[float]:
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


def densest_window(prose: Sequence[bool] | np.ndarray, other_weight: float = 0.35) -> tuple[int, int]:
    """Max-sum segment over +1 for prose lines, -other_weight for the rest: [start, end)."""
    best, best_span, run, start = 0.0, (0, 0), 0.0, 0
    for i, p in enumerate(prose):
        run += 1.0 if p else -other_weight
        if run <= 0:
            run, start = 0.0, i + 1
        elif run > best:
            best, best_span = run, (start, i + 1)
    return best_span


def _runs(flags: np.ndarray) -> np.ndarray:
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


def line_features(lines: list[str]) -> tuple[list[int], np.ndarray]:
    """(indices of the non-blank lines, their feature matrix of shape (n, len(FEATURES)))."""
    idx = nonblank(lines)
    n = len(idx)
    if not n:
        return idx, np.zeros((0, len(FEATURES)))
    base = np.array([base_features(lines[i]) for i in idx], dtype=np.float64)
    col = {name: k for k, name in enumerate(BASE)}
    keys = [_norm(lines[i]) for i in idx]
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
    short_run = np.minimum(np.log1p(_runs(short)) / 3.0, 1.5)
    bullet_run = np.minimum(np.log1p(_runs(base[:, col["bullet"]] > 0)) / 3.0, 1.5)
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
