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

import functools
import math
import operator
import re
from collections import Counter
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

PROSE_CHARS = 80  # a line this long that ends like a sentence is prose


def ends_with_full_stop(text: str) -> bool:
    """`_FULL_STOP.search(text)`, read off the last characters: searching a paragraph for the
    `$`-anchored pattern tried it at every position. `$` also matches before a final newline."""
    if text.endswith("\n"):
        return _full_stop_end(text) or _full_stop_end(text[:-1])
    return _full_stop_end(text)


def _full_stop_end(text: str) -> bool:
    if not text:
        return False
    last = text[-1]
    return last in ".!?…" or (last in _CLOSERS and len(text) >= 2 and text[-2] in ".!?…")


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
_BASE_COL = {name: k for k, name in enumerate(BASE)}
FEATURES = BASE + CONTEXT + tuple(f"{name}@{off:+d}" for off in NEIGHBOURS for name in NEIGHBOUR_FEATURES)


def nonblank(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.strip()]


# -- per-line features of the whole page at once ---------------------------------------------------
# Per-line Python (a dozen regex calls and character counts per line) cost ~13 us a line, more than the
# rest of the text path on a full page. base_matrix works on the page's lines joined with "\n": the
# characters as one array of code points classified through a table (str's own tests), counts per
# line by np.add.reduceat, and the regexes run only on the few lines that hold the characters they need.
# The numbers are those of the per-line definitions (tests/test_line_features.py compares them).

_STOP_PUNCT = ".,;:!?\"'“”()"  # stripped from a word before the stop-word test
_FULL_STOPS = ".!?…"
_SENTENCE_STOPS = ".!?…:;"
_CLOSERS = "\"'”’»)]"
_BULLETS = "•·▪◦●○■□►▶‣⁃*+-"
_QUOTES = "\"“'‘«-–—"
_MIN_DATE_DIGITS = 5  # every date form of dates.find_date holds a 4-digit year and a 1-2 digit day
_ALPHA, _UPPER, _DIGIT, _WORD_CHAR, _SPACE, _DECIMAL = 1, 2, 4, 8, 16, 32
_COUNT_SPACES = operator.methodcaller("count", " ")
_STRIP_PUNCT = operator.methodcaller("strip", _STOP_PUNCT)
_SEPARATOR_BOTH = "|>»›/·–—-"  # separators between two spaces ...
_SEPARATOR_ONE = "|»›"  # ... or with a space on one side only


def _flags_of(ch: str) -> int:
    """str's tests of one character as bits; _WORD_CHAR is the regex \\w, _SPACE \\s (str.split's
    whitespace), _DECIMAL the regex \\d."""
    return (
        ch.isalpha()
        | ch.isupper() << 1
        | ch.isdigit() << 2
        | (ch.isalnum() or ch == "_") << 3
        | ch.isspace() << 4
        | ch.isdecimal() << 5
    )


@functools.cache
@functools.cache  # a handful of fixed sets, each looked up several times per page
def _set_table(chars: str) -> np.ndarray:
    table = np.zeros(0x10000, dtype=bool)
    table[[ord(c) for c in chars]] = True
    table.flags.writeable = False  # shared by every call
    return table


def _among(codes: np.ndarray, chars: str) -> np.ndarray:
    """Which code points are among `chars` (characters of the BMP)."""
    return _set_table(chars)[np.minimum(codes, 0xFFFF)]


@functools.cache
def _char_table() -> np.ndarray:
    """_flags_of for every code point of the Basic Multilingual Plane (built once, ~10 ms)."""
    chars = "".join(map(chr, range(0x10000)))

    def bit(test) -> np.ndarray:
        return np.fromiter(map(test, chars), dtype=np.uint8, count=len(chars))

    word = bit(str.isalnum) | (np.arange(0x10000) == ord("_"))
    return (
        bit(str.isalpha)
        | bit(str.isupper) << 1
        | bit(str.isdigit) << 2
        | word.astype(np.uint8) << 3
        | bit(str.isspace) << 4
        | bit(str.isdecimal) << 5
    ).astype(np.uint8)


def _codes_and_flags(text: str) -> tuple[np.ndarray, np.ndarray]:
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    flags = _char_table()[np.minimum(codes, 0xFFFF)]
    for k in np.flatnonzero(codes > 0xFFFF):  # beyond the BMP (emoji, rare scripts): one by one
        flags[k] = _flags_of(chr(int(codes[k])))
    return codes, flags


def _per_line(mask: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """How many positions of `mask` fall on each line (the lines start at `starts`, ascending: the
    lines are non-blank; a line's "\n" counts for it). One pass, no index array (np.bincount of
    the positions' line numbers took three times as long)."""
    return np.add.reduceat(mask, starts, dtype=np.int64).astype(np.float64)


def _token_bounds(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last positions of the whitespace-separated tokens ("\n" is whitespace)."""
    word = (flags & _SPACE) == 0
    before = np.concatenate([[False], word[:-1]])
    after = np.concatenate([word[1:], [False]])
    return np.flatnonzero(word & ~before), np.flatnonzero(word & ~after)


def _test_lines(test, texts: list[str], candidates: np.ndarray) -> np.ndarray:
    """1.0 where test(line) holds, tried only on the candidate lines (the others cannot pass it)."""
    hits = np.zeros(len(texts))
    for k in np.flatnonzero(candidates):
        hits[k] = bool(test(texts[k]))
    return hits


_LONGEST_STOP_WORD = max(map(len, STOP_WORDS))


def _strip_candidates(codes: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Tokens (first/last positions) that start or end with _STOP_PUNCT and whose core, once it is
    stripped, is short enough to be a stop word."""
    punct = _among(codes, _STOP_PUNCT)
    lead, trail = punct[first], punct[last]
    if not (lead | trail).any():
        return lead
    ends = np.flatnonzero(np.diff(np.concatenate([[False], punct, [False]]).astype(np.int8)))
    run_start, run_end = ends[::2], ends[1::2]  # runs of _STOP_PUNCT, [start, end): never across a space
    core_first, core_last = first.copy(), last.copy()
    core_first[lead] = run_end[np.searchsorted(run_start, first[lead], side="right") - 1]
    core_last[trail] = run_start[np.searchsorted(run_start, last[trail], side="right") - 1] - 1
    core = core_last - core_first + 1
    return (lead | trail) & (core >= 1) & (core <= _LONGEST_STOP_WORD)


def _stop_counts(folded: str, line_of_token: np.ndarray, edges: np.ndarray, n: int) -> np.ndarray:
    """Stop words per line: tokens of the casefolded text in STOP_WORDS once _STOP_PUNCT is stripped
    (`edges` marks the tokens that start or end with such a character: only those are stripped)."""
    tokens = folded.split()
    is_stop = np.fromiter(map(STOP_WORDS.__contains__, tokens), dtype=bool, count=len(tokens))
    stripped = np.flatnonzero(edges)
    cores = map(_STRIP_PUNCT, map(tokens.__getitem__, stripped.tolist()))
    is_stop[stripped] = np.fromiter(map(STOP_WORDS.__contains__, cores), dtype=bool, count=len(stripped))
    return np.bincount(line_of_token[is_stop], minlength=n)[:n].astype(np.float64)


def line_keys(folded_codes: np.ndarray, folded_flags: np.ndarray) -> tuple[list[str], list[str], np.ndarray]:
    """Each line's words (regex \\w runs) one space apart: the key under which repeats are counted;
    also the first five words of each key (its head) and the number of spaces in each key."""
    word = (folded_flags & _WORD_CHAR) > 0
    other = ~word & (folded_codes != 10)
    # runs of other characters: one space where a run lies between two word characters
    edges = np.flatnonzero(np.diff(np.concatenate([[False], other, [False]]).astype(np.int8)))
    run_start, run_end = edges[::2], edges[1::2]  # [start, end)
    padded = np.concatenate([[False], word, [False]])  # padded[i + 1] is word[i]
    between = padded[run_start] & padded[run_end + 1]
    kept = ~other
    kept[run_start[between]] = True
    out = folded_codes.copy()
    out[run_start[between]] = 32
    out = out[kept].astype(np.uint32)
    keys = out.tobytes().decode("utf-32-le", "surrogatepass").split("\n")
    spaces = np.fromiter(map(_COUNT_SPACES, keys), dtype=np.int64, count=len(keys))
    heads = [key if c <= 4 else " ".join(key.split(" ", 5)[:5]) for key, c in zip(keys, spaces.tolist())]
    return keys, heads, spaces


def _shifted(mask: np.ndarray, by: int) -> np.ndarray:
    """mask moved `by` places (positive: the value of the character before), False shifted in."""
    out = np.zeros_like(mask)
    if by > 0:
        out[by:] = mask[:-by]
    else:
        out[:by] = mask[-by:]
    return out


def _separators(codes: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Where _SEPARATOR matches in the joined lines (the regex, in numpy; "\n" is no space here)."""
    space = ((flags & _SPACE) > 0) & (codes != 10)
    solid = (flags & _SPACE) == 0
    space_before, space_after = _shifted(space, 1), _shifted(space, -1)
    both = _among(codes, _SEPARATOR_BOTH) & space_before & space_after
    one = _among(codes, _SEPARATOR_ONE) & (
        (space_before & _shifted(solid, -1)) | (_shifted(solid, 1) & space_after)
    )
    return both | one


def _link_marks(codes: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Characters that any match of _LINKISH holds ("://", "www.", "." before a letter): lines
    without one cannot match it."""
    dot = codes == ord(".")
    colon_slashes = (codes == ord(":")) & _shifted(codes == ord("/"), -1) & _shifted(codes == ord("/"), -2)
    w = _among(codes, "wW")
    www = dot & _shifted(w, 1) & _shifted(w, 2) & _shifted(w, 3)
    return colon_slashes | www | (dot & _shifted((flags & _ALPHA) > 0, -1))


def _list_marks(codes, flags, starts, n_chars, raws) -> tuple[np.ndarray, np.ndarray]:
    """_BULLET and _NUMBERED on the raw lines, in numpy: a bullet or 1-3 digits and "." / ")" first,
    then whitespace (the raw line's trailing whitespace when the stripped line ends there)."""
    trailing = np.fromiter(map(str.isspace, map(operator.itemgetter(-1), raws)), dtype=bool, count=len(raws))
    space = (flags & _SPACE) > 0
    last = len(codes) - 1

    def space_at(offset: np.ndarray) -> np.ndarray:
        inside = space[np.minimum(starts + offset, last)] & (offset < n_chars)
        return inside | (trailing & (offset == n_chars))

    pos = np.arange(len(codes))
    next_other = np.minimum.accumulate(np.where((flags & _DECIMAL) > 0, len(codes), pos)[::-1])[::-1]
    digits = next_other[starts] - starts  # decimal digits the line starts with
    mark = np.where(digits < n_chars, codes[np.minimum(starts + digits, last)], 0)
    numbered = (digits >= 1) & (digits <= 3) & _among(mark, ".)") & space_at(digits + 1)
    bullet = (_among(codes[starts], _BULLETS) & space_at(np.ones_like(starts))) | numbered
    return bullet.astype(np.float64), numbered.astype(np.float64)


def _line_ends(codes, ends, n_chars) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last, second-last and third-last code point of each line (0 where the line is shorter)."""
    last1, last2, last3 = (
        np.where(n_chars >= back, codes[np.maximum(ends - back, 0)], 0) for back in (1, 2, 3)
    )
    return last1, last2, last3


def base_matrix(texts: list[str], raws: list[str]) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    """The BASE features of the stripped non-blank lines `texts` (their raw lines `raws`), shape
    (n, len(BASE)), and the lines' keys, heads and spaces (line_keys)."""
    n = len(texts)
    n_chars = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    starts = np.concatenate([[0], np.cumsum(n_chars + 1)[:-1]])
    ends = starts + n_chars
    joined = "\n".join(texts)
    codes, flags = _codes_and_flags(joined)
    letters = _per_line((flags & _ALPHA) > 0, starts)
    upper = _per_line((flags & _UPPER) > 0, starts)
    digits = _per_line((flags & _DIGIT) > 0, starts)
    commas = _per_line(codes == ord(","), starts)
    folded = joined.casefold()
    folded_codes, folded_flags = _codes_and_flags(folded)
    folded_line_of = np.cumsum(folded_codes == 10) - (folded_codes == 10)
    first, last = _token_bounds(folded_flags)
    n_words = np.bincount(folded_line_of[first], minlength=n)[:n]
    stop = _stop_counts(folded, folded_line_of[first], _strip_candidates(folded_codes, first, last), n)
    last1, last2, last3 = _line_ends(codes, ends, n_chars)
    closed = _among(last1, _CLOSERS) & _among(last2, _FULL_STOPS)
    full_stop = _among(last1, _FULL_STOPS) | closed
    sentence_end = _among(last1, _SENTENCE_STOPS) | closed
    ellipsis = (last1 == ord("…")) | ((last1 == ord(".")) & (last2 == ord(".")) & (last3 == ord(".")))
    first_char = codes[starts]
    bullet, numbered = _list_marks(codes, flags, starts, n_chars, raws)
    date = _test_lines(is_date_line, texts, (n_chars <= 80) & (digits >= _MIN_DATE_DIGITS))
    separator = _per_line(_separators(codes, flags), starts) > 0
    linkish = _per_line(_link_marks(codes, flags), starts) > 0
    features = np.column_stack(
        [
            np.minimum(np.fromiter(map(math.log1p, n_chars.tolist()), np.float64, count=n) / 6.0, 1.5),
            np.minimum(np.fromiter(map(math.log1p, n_words.tolist()), np.float64, count=n) / 4.0, 1.5),
            sentence_end,
            full_stop,
            full_stop & (n_chars >= PROSE_CHARS),
            ellipsis,
            bullet,
            numbered,
            np.fromiter(map(str.isspace, map(operator.itemgetter(0), raws)), dtype=np.float64, count=n),
            np.divide(upper, letters, out=np.zeros(n), where=letters > 0),
            digits / n_chars,
            stop / n_words,
            np.minimum(commas / n_words, 1.0),
            date,
            separator,
            _test_lines(_LINKISH.search, texts, linkish),
            last1 == ord(":"),
            n_chars < 30,
            (n_words >= 2) & (n_words <= 40) & ~full_stop,
            np.zeros(n),
            np.zeros(n),
            np.zeros(n),
            _among(first_char, _QUOTES),
        ]
    ).astype(np.float64)
    return features, *line_keys(folded_codes, folded_flags)


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
    flags = np.asarray(flags, dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[False], flags, [False]]).astype(np.int8)))
    starts, ends = edges[::2], edges[1::2]
    out = np.zeros(len(flags))
    out[flags] = np.repeat(ends - starts, ends - starts)
    return out


def _repeat_features(keys: list[str], heads: list[str], spaces: np.ndarray, base: np.ndarray) -> None:
    """repeated, repeated_near and head_repeat, from the lines' keys and heads (in place)."""
    # each key as a number, then numpy: a loop over the repeated keys cost ~0.1 ms a page
    numbers: dict[str, int] = {}
    ids = np.fromiter(
        (numbers.setdefault(key, len(numbers)) for key in keys), dtype=np.int64, count=len(keys)
    )
    counts = np.bincount(ids)[ids]
    repeated = counts > 1
    if "" in numbers:  # blank keys (no word) are no repeat
        repeated &= ids != numbers[""]
    base[repeated, _BASE_COL["repeated"]] = np.minimum(counts[repeated] - 1, 3) / 3.0
    # a repeat within 3 lines of the previous occurrence of its key: both are near a repeat
    at = np.argsort(ids, kind="stable")  # lines grouped by key, in page order within a key
    close = (ids[at[1:]] == ids[at[:-1]]) & (np.diff(at) <= 3) & repeated[at[1:]]
    base[at[1:][close], _BASE_COL["repeated_near"]] = 1.0
    base[at[:-1][close], _BASE_COL["repeated_near"]] = 1.0
    # the same first five words as another, different line: alt text repeating the title or a caption
    # ("<title> - Ảnh 2"), a teaser repeating its headline (lines of 4+ words only)
    long_lines = np.flatnonzero(spaces >= 3).tolist()
    pairs = {(heads[k], keys[k]) for k in long_lines}
    shared = Counter(head for head, _ in pairs)
    hits = [k for k in long_lines if shared[heads[k]] > 1]
    base[hits, _BASE_COL["head_repeat"]] = 1.0


def _context_features(base: np.ndarray, gap_above: np.ndarray, gap_below: np.ndarray) -> np.ndarray:
    """The CONTEXT columns: where each line stands against the page's densest run of prose, runs of
    short lines and bullets, blank lines around it, prose above and below."""
    n = len(base)
    prose = base[:, _BASE_COL["prose"]] > 0
    start, end = densest_window(prose)
    pos = np.arange(n)
    in_dense = ((pos >= start) & (pos < end)).astype(float)
    before = np.log1p(np.maximum(start - pos, 0)) / 4.0
    after = np.log1p(np.maximum(pos - end + 1, 0)) / 4.0
    total_prose = max(prose.sum(), 1)
    dense_share = np.full(n, prose[start:end].sum() / total_prose)
    padded = np.concatenate([[0.0], np.cumsum(prose)])  # share of prose lines in a window of 7
    window_prose = (padded[np.minimum(pos + 4, n)] - padded[np.maximum(pos - 3, 0)]) / 7.0
    short = (base[:, _BASE_COL["len"]] < np.log1p(50) / 6.0) & ~prose
    short_run = np.minimum(np.log1p(_runs(short)) / 3.0, 1.5)
    bullet_run = np.minimum(np.log1p(_runs(base[:, _BASE_COL["bullet"]] > 0)) / 3.0, 1.5)
    cum = np.cumsum(prose)
    prose_above = np.log1p(cum - prose) / 4.0
    prose_below = np.log1p(cum[-1] - cum) / 4.0
    return np.column_stack(
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


def line_features(lines: list[str]) -> tuple[list[int], np.ndarray]:
    """(indices of the non-blank lines, their feature matrix of shape (n, len(FEATURES)))."""
    idx = nonblank(lines)
    n = len(idx)
    if not n:
        return idx, np.zeros((0, len(FEATURES)))
    raws = [lines[i] for i in idx]
    texts = [line.strip() for line in raws]
    base, keys, heads, spaces = base_matrix(texts, raws)
    col = _BASE_COL
    _repeat_features(keys, heads, spaces, base)
    # blank lines between blocks: w3m leaves a blank line between paragraphs, none inside a menu
    steps = np.diff(np.asarray(idx)) > 1
    gap_above = np.concatenate([[False], steps]).astype(float)
    gap_below = np.concatenate([steps, [False]]).astype(float)

    context = _context_features(base, gap_above, gap_below)

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
