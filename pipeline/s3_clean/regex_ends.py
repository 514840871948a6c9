"""Which characters can a regex match start or end with?

Used to split a big set of line patterns into small alternations chosen by a line's
first and last character (see rules.PatternSet). The answers are conservative: None
means "could be anything", so a pattern is never left out of a line it might match.
"""

from __future__ import annotations

import re

try:  # the standard library's regex parser
    # (3.11+; typeshed lists these private modules only from 3.11, mypy checks for 3.10)
    from re import _constants as _C  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_constants as _C
    import sre_parse as _sre_parse

_POSSESSIVE = getattr(_C, "POSSESSIVE_REPEAT", object())
_REPEATS = (_C.MAX_REPEAT, _C.MIN_REPEAT, _POSSESSIVE)


def first_chars(pattern: str) -> frozenset[str] | None:
    """Lowercase characters a case-insensitive match of `pattern` (at the start of a stripped
    line) can begin with, or None when it may begin with anything."""
    try:
        return _first(list(_sre_parse.parse(pattern, re.IGNORECASE)))
    except Exception:  # an unusual construct: assume any first character
        return None


def last_chars(pattern: str) -> frozenset[str] | None:
    """Lowercase characters a match of a `$`-anchored `pattern` can end with (the line is
    stripped, so trailing spaces are never there), or None when unknown or not anchored."""
    try:
        items = list(_sre_parse.parse(pattern, re.IGNORECASE))
    except Exception:
        return None
    if not items or items[-1] != (_C.AT, _C.AT_END):
        return None
    try:
        return _first(_reversed(items[:-1]))
    except Exception:
        return None


def _reversed(items) -> list:
    """The op list read from the end, for `_first` (sequences inside groups reversed too)."""
    out = []
    for op, arg in reversed(items):
        if op is _C.SUBPATTERN:
            arg = (*arg[:-1], _reversed(list(arg[-1])))
        elif op is _C.BRANCH:
            arg = (arg[0], [_reversed(list(b)) for b in arg[1]])
        elif op in _REPEATS:
            arg = (arg[0], arg[1], _reversed(list(arg[2])))
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            continue
        out.append((op, arg))
    return out


def _first(items) -> frozenset[str] | None:
    out: set[str] = set()
    for op, arg in items:
        if op is _C.AT or op is _C.ASSERT or op is _C.ASSERT_NOT:
            continue  # anchors and lookarounds consume nothing
        if op is _C.LITERAL:
            return frozenset(out | _cases(chr(arg)))
        if op is _C.IN:
            chars = _charset(arg)
            return None if chars is None else frozenset(out | chars)
        if op is _C.SUBPATTERN:
            inner = _first(list(arg[-1]))
            if inner is None:
                return None
            out |= inner
            if _can_be_empty(arg[-1]):
                continue
            return frozenset(out)
        if op is _C.BRANCH:
            union: set[str] = set()
            for branch in arg[1]:
                inner = _first(list(branch))
                if inner is None:
                    return None
                union |= inner
            out |= union
            if any(_can_be_empty(b) for b in arg[1]):
                continue
            return frozenset(out)
        if op in _REPEATS:
            low, _high, sub = arg
            inner = _first(list(sub))
            if inner is None:
                return None
            out |= inner
            if low == 0 or _can_be_empty(sub):
                continue
            return frozenset(out)
        return None  # ANY, NOT_LITERAL, backreferences…: anything may come first
    return None  # the pattern can match the empty string


def _charset(items) -> set[str] | None:
    chars: set[str] = set()
    for op, arg in items:
        if op is _C.NEGATE:
            return None
        if op is _C.LITERAL:
            chars |= _cases(chr(arg))
        elif op is _C.RANGE and arg[1] - arg[0] <= 256:
            for code in range(arg[0], arg[1] + 1):
                chars |= _cases(chr(code))
        elif op is _C.CATEGORY and arg is _C.CATEGORY_DIGIT:
            chars |= set("0123456789")
        elif op is _C.CATEGORY and arg is _C.CATEGORY_SPACE:
            continue  # a stripped line never starts with a space
        else:
            return None
    return chars


def _cases(c: str) -> set[str]:
    return {c.lower(), c.upper().lower(), c.casefold()}


def _can_be_empty(items) -> bool:
    return _min_width(items) == 0


def _min_width(items) -> int:
    total = 0
    for op, arg in items:
        if op is _C.AT or op is _C.ASSERT or op is _C.ASSERT_NOT:
            continue
        if op in (_C.LITERAL, _C.NOT_LITERAL, _C.ANY, _C.IN):
            total += 1
        elif op is _C.SUBPATTERN:
            total += _min_width(arg[-1])
        elif op is _C.BRANCH:
            total += min(_min_width(b) for b in arg[1])
        elif op in _REPEATS:
            total += arg[0] * _min_width(arg[2])
        else:
            return 0  # unknown construct: assume it may match nothing
    return total


# --- a literal a match must hold ------------------------------------------------------------

# lowercase characters that a case-insensitive regex also matches with characters whose lower() is
# another one (i and dotless ı, s and long ſ, Greek sigmas…): a literal holding one cannot be looked
# for in the lowered line
try:
    from re._casefix import _EXTRA_CASES
except ImportError:  # Python 3.10: the same table, computed by sre_compile
    import sre_compile

    _EXTRA_CASES = sre_compile._ignorecase_fixes  # type: ignore[attr-defined]


def required_literals(pattern: str) -> tuple[tuple[str, ...], int | None] | None:
    r"""Words one of which every case-insensitive match of `pattern` holds, and how far from the
    line's end at most (a `$`-anchored pattern; None = anywhere): `(("ảnh", "hình"), 5)` for
    `.{10,300}?-\s?(?:ảnh|hình)(?:\s\d{1,3})?$`. The words are lowercase; a line whose lowercased
    text lacks them cannot match. None when no such word is found (the pattern is then always tried)."""
    try:
        items = _flat(list(_sre_parse.parse(pattern, re.IGNORECASE)))
    except Exception:
        return None
    tail: int | None = None
    if items and items[-1] == (_C.AT, _C.AT_END):
        tail, items = 1, items[:-1]  # `$` also matches before a final newline
    run = ""
    for op, arg in reversed(items):
        char = _safe_char(arg) if op is _C.LITERAL else None
        if char is not None:
            run = char + run
            continue
        if _usable(run):
            return (run,), tail
        tail = None if tail is None else tail + len(run)
        run = ""
        words = _literal_branches(op, arg)
        if words:
            return words, tail
        width = _max_width([(op, arg)])
        tail = None if tail is None or width is None else tail + width
    return ((run,), tail) if _usable(run) else None


def _flat(items) -> list:
    """Groups that are plain sequences spliced into their parent (their literals become visible)."""
    out = []
    for op, arg in items:
        if op is _C.SUBPATTERN and not (len(arg[-1]) == 1 and arg[-1][0][0] is _C.BRANCH):
            out += _flat(list(arg[-1]))
        else:
            out.append((op, arg))
    return out


def _safe_char(code: int) -> str | None:
    low = chr(code).lower()
    return low if len(low) == 1 and ord(low) not in _EXTRA_CASES else None


def _usable(word: str) -> bool:
    """Long enough to filter lines: two characters, or one beyond ASCII ("°")."""
    return len(word) >= 2 or (len(word) == 1 and not word.isascii())


def _literal_branches(op, arg) -> tuple[str, ...] | None:
    """(ảnh|hình): the words of an alternation of plain literals, each usable, else None."""
    if op is _C.SUBPATTERN and len(arg[-1]) == 1:
        op, arg = arg[-1][0]
    if op is not _C.BRANCH:
        return None
    words = []
    for branch in arg[1]:
        chars = [_safe_char(a) if o is _C.LITERAL else None for o, a in branch]
        if not chars or None in chars or not _usable("".join(chars)):  # type: ignore[arg-type]
            return None
        words.append("".join(chars))  # type: ignore[arg-type]
    return tuple(words)


def _max_width(items) -> int | None:
    """The most characters `items` can match, None when unbounded or unknown."""
    total = 0
    for op, arg in items:
        if op is _C.AT or op is _C.ASSERT or op is _C.ASSERT_NOT:
            continue
        if op in (_C.LITERAL, _C.NOT_LITERAL, _C.ANY, _C.IN):
            width: int | None = 1
        elif op is _C.SUBPATTERN:
            width = _max_width(arg[-1])
        elif op is _C.BRANCH:
            widths = [_max_width(b) for b in arg[1]]
            width = None if None in widths else max(w for w in widths if w is not None)
        elif op in _REPEATS and arg[1] != _C.MAXREPEAT:
            inner = _max_width(arg[2])
            width = None if inner is None else arg[1] * inner
        else:
            return None  # unbounded repeat, backreference…
        if width is None:
            return None
        total += width
    return total


# --- catastrophic backtracking ---------------------------------------------------------------


def nested_repeat(pattern: str) -> str | None:
    """The part of `pattern` that can backtrack exponentially, or None.

    The classic form: an unbounded repeat whose body can match the same text in many ways
    because it is made only of repeats, at least one of them unbounded: `(a+)+`, `(a*)*`,
    `(\\w+\\s?)+`. A body with a required element of its own (`(?:\\.[a-z]+)*`, `(?:fb|yt)\\s*`) is
    fine. The run's per-document time limit (`run.doc_timeout`) bounds what this check misses.
    """
    try:
        items = list(_sre_parse.parse(pattern))
    except Exception:
        return None
    return _find_nested(items)


def _find_nested(items) -> str | None:
    for op, arg in items:
        if op in _REPEATS:
            low, high, body = arg
            if high == _C.MAXREPEAT and _only_repeats(list(body)):
                return "an unbounded repeat of a group of repeats, as in (a+)+"
            found = _find_nested(list(body))
        elif op is _C.SUBPATTERN:
            found = _find_nested(list(arg[-1]))
        elif op is _C.BRANCH:
            found = next((f for f in (_find_nested(list(b)) for b in arg[1]) if f), None)
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            found = _find_nested(list(arg[1]))
        else:
            found = None
        if found:
            return found
    return None


def _only_repeats(items) -> bool:
    """Is a repeat body made of repeats only (each optional or unbounded), one of them unbounded?"""
    while len(items) == 1 and items[0][0] is _C.SUBPATTERN:  # (a+) -> a+
        items = list(items[0][1][-1])
    if len(items) == 1 and items[0][0] is _C.BRANCH:  # (a|b+)+: the b+ branch repeats under the +
        return any(_only_repeats(list(branch)) for branch in items[0][1][1])
    unbounded = False
    for op, arg in items:
        if op not in _REPEATS:
            return False
        low, high, _body = arg
        if high == _C.MAXREPEAT:
            unbounded = True
        elif low > 0:
            return False
    return unbounded
