"""The numba kernels behind `pipeline.kernels` (imported only through `kernels_for`).

Each kernel is one fused loop doing what a chain of numpy calls does in the module named
beside it, with the same integer arithmetic, so that the results are bit-identical.
"""

from __future__ import annotations

import numba
import numpy as np

_P61 = np.uint64((1 << 61) - 1)
_LOW32 = np.uint64(0xFFFFFFFF)
_S61 = np.uint64(61)


@numba.njit(cache=True, nogil=True)
def minhash_signature(a, b, shingles, out):  # pragma: no cover - compiled
    """`s6_dedup.minhash.MinHasher.signature`: for each permutation (a_i, b_i), the minimum over
    the shingles h of ((a_i * h + b_i) mod 2**64 mod (2**61 - 1)) & (2**32 - 1), into `out`."""
    for i in range(a.shape[0]):
        ai = a[i]
        bi = b[i]
        low = _LOW32
        for j in range(shingles.shape[0]):
            y = ai * np.uint64(shingles[j]) + bi  # wraps mod 2**64
            y = (y & _P61) + (y >> _S61)
            if y >= _P61:
                y -= _P61
            y &= _LOW32
            if y < low:
                low = y
        out[i] = np.uint32(low)
    return out


@numba.njit(cache=True, nogil=True)
def _utf8_bytes(c, prime):  # pragma: no cover - compiled
    """The UTF-8 bytes of code point `c` (surrogates as "surrogatepass" writes them) as
    `tokenize_points` adds them: sum((byte_k + 1) * prime**k), prime**(number of bytes), first byte."""
    width = 1 + np.int64(c >= 0x80) + np.int64(c >= 0x800) + np.int64(c >= 0x10000)
    shift = 6 * (width - 1)
    lead = (0xF0 if width == 4 else 0xE0 if width == 3 else 0xC0 if width == 2 else 0) | (c >> shift)
    add = np.uint64(lead + 1)
    power = prime
    for _ in range(width - 1):
        shift -= 6
        add += np.uint64((0x80 | ((c >> shift) & 0x3F)) + 1) * power
        power *= prime
    return add, power, lead


@numba.njit(cache=True, nogil=True)
def tokenize_points(points, table, char_letter, prime):  # pragma: no cover - compiled
    """`s5_filter.quality_tokens.tokenize` on the code points of a text, hashing the UTF-8 bytes
    str.encode("utf-8", "surrogatepass") would make: per whitespace token, the hash
    sum((byte_j + 1) * prime**j) mod 2**64 over its bytes, its characters and whether it has a
    letter. `table[c]` (`quality_tokens.point_table`) holds code point c's bytes as `_utf8_bytes`
    adds them, prime**(its bytes) (0 for whitespace: str.split() splits there) and its
    `char_letter` entry; past the table (no whitespace there) `_utf8_bytes` computes them, and
    `char_letter[byte]` is 1 for a byte that starts a character, plus 2**32 for a letter's.
    A space empties the running hash, power and count with a mask (no branch on a token's end,
    which is not predictable); the running values are stored at slot `n` at every character,
    `n` moving on when a token ends, so each slot keeps its token's last values."""
    size = points.shape[0]
    top = table.shape[0]
    hashes = np.empty(size // 2 + 2, dtype=np.uint64)
    spans = np.empty(size // 2 + 2, dtype=np.int64)
    n = 0
    h = np.uint64(0)
    power = np.uint64(1)
    span = np.int64(0)
    inside = 0  # the character before is part of a token
    for i in range(size):
        c = np.int64(points[i])
        if c < top:
            add, step, letter = table[c, 0], table[c, 1], np.int64(table[c, 2])
        else:
            add, step, lead = _utf8_bytes(c, prime)
            letter = char_letter[lead]
        space = np.int64(step == 0)
        n += inside & space  # a token ended at the character before
        keep = np.uint64(0) - np.uint64(1 - space)  # all ones inside a token, 0 on a space
        h = (h + add * power) & keep
        power = (power * step) | np.uint64(space)  # prime**j inside a token, 1 after a space
        span = (span + letter) & np.int64(keep)
        hashes[n] = h
        spans[n] = span
        inside = 1 - space
    n += inside
    lengths = np.empty(n, dtype=np.int64)
    letters = np.empty(n, dtype=np.bool_)
    for t in range(n):
        lengths[t] = spans[t] & 0xFFFFFFFF
        letters[t] = spans[t] > 0xFFFFFFFF
    return hashes[:n], lengths, letters


@numba.njit(cache=True, nogil=True)
def profile_counts(hashes, code_hashes, code_values, slots, table, first, second):  # pragma: no cover
    """`s5_filter.quality_signals._token_signals`' profile part: stop-word hits, observed common
    bigrams, and sum(counts[first] * counts[second]) of the listed words' counts (an integer:
    the float dot product of the numpy path is exact below 2**53, so the two agree). A token's
    code is found in `slots` (`quality_profiles.code_slots`: the same entry a binary search finds)."""
    n = hashes.shape[0]
    mask = slots.shape[0] - 1
    bits = 0
    while (1 << bits) < slots.shape[0]:  # slots: a power of two
        bits += 1
    shift = np.uint64(64 - bits)
    counts = np.zeros(table.shape[0], dtype=np.int64)
    hits = 0
    observed = 0
    previous = -1
    for i in range(n):
        h = hashes[i]
        slot = np.int64((h * np.uint64(0x9E3779B97F4A7C15)) >> shift)
        code = 0
        while slots[slot] >= 0:
            if code_hashes[slots[slot]] == h:
                code = code_values[slots[slot]]
                break
            slot = (slot + 1) & mask
        hits += code & 1
        listed = code >> 1
        counts[listed] += 1
        if previous >= 0 and table[previous, listed]:
            observed += 1
        previous = listed
    pairs = 0
    for k in range(first.shape[0]):
        pairs += counts[first[k]] * counts[second[k]]
    return hits, observed, pairs


@numba.njit(cache=True, nogil=True)
def _group(keys, first, count):  # pragma: no cover - compiled
    """For each key in order: the index of its first occurrence (`first`) and, at that index, the
    number of occurrences (`count`). Open addressing; equal keys are one group, as after a sort."""
    m = keys.shape[0]
    size = 4
    while size < 2 * m:
        size *= 2
    slots = np.full(size, -1, dtype=np.int64)
    mask = np.uint64(size - 1)
    for i in range(m):
        count[i] = 0
        slot = np.int64((keys[i] * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40) & mask)
        while slots[slot] >= 0 and keys[slots[slot]] != keys[i]:
            slot = (slot + 1) & (size - 1)
        if slots[slot] < 0:
            slots[slot] = i
        first[i] = slots[slot]
        count[first[i]] += 1


@numba.njit(cache=True, nogil=True)
def _dup_chars(prefix, inverse, cum, cand, high):  # pragma: no cover - compiled
    """Per duplicated row (n = 5..10), the characters of tokens inside occurrences that repeat an
    earlier one, counted once; `cand`: the positions of repeated 5-grams, in order."""
    n = cum.shape[0] - 1
    dup = np.zeros(6, dtype=np.int64)
    m = cand.shape[0]
    ckeys = np.empty(m, dtype=np.uint64)
    cfirst = np.empty(m, dtype=np.int64)
    ccount = np.empty(m, dtype=np.int64)
    for r in range(6):
        span = r + 5
        for i in range(m):
            s = cand[i]
            ckeys[i] = ((prefix[s + span] - prefix[s]) * inverse[s]) & high
        _group(ckeys, cfirst, ccount)
        previous = -1  # the repeated occurrences of this row, in position order
        for i in range(m + 1):
            if i < m and cfirst[i] == i:
                continue  # a first occurrence does not repeat anything
            if previous >= 0:  # tokens of the previous repeat not inside this one: counted once
                start = cand[previous]
                stop = min(start + span, cand[i] if i < m else n, n)
                dup[r] += cum[stop] - cum[start]
            previous = i
    return dup


@numba.njit(cache=True, nogil=True)
def ngram_counts(hashes, lens, mult, power, inverse, kmax):  # pragma: no cover - compiled
    """`s5_filter.quality_signals._ngram_signals` up to its last arithmetic, grouping equal n-gram
    keys (the same high hash bits) with a hash table instead of sorting them. Returns, per top row
    (n = 2, 3, 4), size * (n_tokens + 1) - first position of the largest, earliest group; per
    duplicated row (n = 5..10) the characters of tokens inside repeated occurrences; the prefix
    character counts; and whether any 5-gram repeats. Row n is keyed only at the positions whose
    (n - 1)-gram repeats (row 2 at every position), as the numpy path does."""
    n = hashes.shape[0]
    cum = np.zeros(n + 1, dtype=np.int64)
    prefix = np.zeros(n + kmax + 1, dtype=np.uint64)  # padded with its total past n
    for i in range(n):
        cum[i + 1] = cum[i] + lens[i]
        mixed = hashes[i] * mult
        mixed ^= mixed >> np.uint64(29)
        prefix[i + 1] = prefix[i] + mixed * power[i]
    prefix[n + 1 :] = prefix[n]
    bits = 1
    while (1 << bits) <= n:  # n.bit_length()
        bits += 1
    high = ~np.uint64((1 << bits) - 1)
    keys = np.empty(n, dtype=np.uint64)
    first = np.empty(n, dtype=np.int64)
    count = np.empty(n, dtype=np.int64)
    best = np.full(3, n + 1, dtype=np.int64)  # an n-gram seen once, at position 0
    starts = np.arange(n)  # the positions keyed in this row, in order
    m = n
    for r in range(4):  # n-grams of r + 2 tokens
        for i in range(m):
            s = starts[i]
            keys[i] = ((prefix[s + r + 2] - prefix[s]) * inverse[s]) & high
        _group(keys[:m], first[:m], count[:m])
        if r < 3:
            for i in range(m):
                if first[i] == i and count[i] * (n + 1) - starts[i] > best[r]:
                    best[r] = count[i] * (n + 1) - starts[i]
        kept = 0  # the positions whose n-gram repeats: only there can the next row's repeat
        for i in range(m):
            if count[first[i]] > 1:
                starts[kept] = starts[i]
                kept += 1
        m = kept
        if m == 0:
            return best, np.zeros(6, dtype=np.int64), cum, False
    cand = starts[:m].copy()  # every occurrence of a repeated 5-gram, in position order
    return best, _dup_chars(prefix, inverse, cum, cand, high), cum, True


@numba.njit(cache=True, nogil=True)
def _fmix64(h):  # pragma: no cover - compiled
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


@numba.njit(cache=True, nogil=True)
def shingle_grams(points, flags, n, char_base, token_base):  # pragma: no cover - compiled
    """`s6_dedup.shingles.shingle_hashes` before its sort: tokens are the runs of code points whose
    flag has bit 1 (word characters); a token's hash is fmix64 of the polynomial over its code
    points (Horner's rule: the same value as the numpy path's prefix sums, mod 2**64), a shingle's
    the high 32 bits of fmix64 of the polynomial over n token hashes (all of them when fewer)."""
    size = points.shape[0]
    tokens = np.empty(size // 2 + 1, dtype=np.uint64)
    count = 0
    i = 0
    while i < size:
        if not flags[i] & 1:
            i += 1
            continue
        h = np.uint64(0)
        while i < size and flags[i] & 1:
            h = h * char_base + np.uint64(points[i])
            i += 1
        tokens[count] = _fmix64(h)
        count += 1
    grams = np.empty(max(count - n + 1, 1) if count else 0, dtype=np.uint32)
    for first in range(grams.shape[0]):
        h = np.uint64(0)
        for j in range(first, min(first + n, count)):
            h = h * token_base + tokens[j]
        grams[first] = np.uint32(_fmix64(h) >> np.uint64(32))
    return grams


@numba.njit(cache=True, nogil=True)
def word_counts(points, is_space, lengths):  # pragma: no cover - compiled
    """`len(text.split())` of each text of a batch: `points` are the code points of the texts
    joined by one separator, `lengths` their lengths; `is_space[c]` is `chr(c).isspace()` for
    every c it covers (there is no whitespace above them). No branch per character."""
    counts = np.zeros(lengths.shape[0], dtype=np.int64)
    top = is_space.shape[0]
    i = 0
    for doc in range(lengths.shape[0]):
        words = 0
        before = 1  # the character before is a space (or the text's start)
        for _ in range(lengths[doc]):
            c = points[i]
            space = is_space[c] if c < top else 0
            words += before & (1 - space)  # a word starts here
            before = space
            i += 1
        counts[doc] = words
        i += 1  # the separator
    return counts


@numba.njit(cache=True, nogil=True)
def joined_words(points, is_space, fold, out):  # pragma: no cover - compiled
    """`" ".join(text.casefold().split()).encode("utf-8")` from the code points of a text, into
    `out` (four bytes per code point at least): the number of bytes written, or -1 when a code
    point folds to several (`fold[c]` is 0xFFFFFFFF: the caller folds in Python). `fold[c]` is
    the one code point c folds to; none above the table folds."""
    top = is_space.shape[0]
    folds = fold.shape[0]
    n = 0
    before = 1
    for i in range(points.shape[0]):
        c = points[i]
        if c < top and is_space[c]:  # (a space folds to itself, nothing else folds to a space)
            before = 1
            continue
        if before and n:
            out[n] = 32
            n += 1
        before = 0
        if c < folds:
            c = fold[c]
            if c == 0xFFFFFFFF:
                return -1
        if c < 0x80:
            out[n] = c
            n += 1
        elif c < 0x800:
            out[n] = 0xC0 | (c >> 6)
            out[n + 1] = 0x80 | (c & 0x3F)
            n += 2
        elif c < 0x10000:
            out[n] = 0xE0 | (c >> 12)
            out[n + 1] = 0x80 | ((c >> 6) & 0x3F)
            out[n + 2] = 0x80 | (c & 0x3F)
            n += 3
        else:
            out[n] = 0xF0 | (c >> 18)
            out[n + 1] = 0x80 | ((c >> 12) & 0x3F)
            out[n + 2] = 0x80 | ((c >> 6) & 0x3F)
            out[n + 3] = 0x80 | (c & 0x3F)
            n += 4
    return n


# a class's bit b of char_counts' table, spread to 16-bit lane b of a counter (4 lanes a counter)
_LANES = np.array([sum(((x >> b) & 1) << (16 * b) for b in range(4)) for x in range(16)], dtype=np.int64)
_LANE_SPAN = 0xFFFF  # characters counted in the lanes before they are emptied (no lane overflows)


@numba.njit(cache=True, nogil=True)
def char_counts(points, classes, lengths):  # pragma: no cover - compiled
    """`s5_filter.quality_signals._char_counts` of each text of a batch: `points` are the code
    points of the texts joined by one separator, `lengths` their lengths; `classes[c]` holds the
    bits of `quality_signals`' character classes (a code point past the table: odd, nothing more).
    One row per text: ASCII characters, then one count per bit, the eighth one ("…") plus the
    occurrences of "..." in the text's ASCII characters (counted as bytes.count counts them), the
    ninth alone (bit 8); then the text's "\n" and its "\n\n" as str.count counts them (the paragraph
    test of `quality_signals._measured`). No branch per character: bits 0-7 add up in 16-bit lanes of
    two counters."""
    out = np.zeros((lengths.shape[0], 12), dtype=np.int64)
    top = classes.shape[0]
    i = 0
    for doc in range(lengths.shape[0]):
        row = out[doc]
        dots = np.int64(0)  # the run of "." among the ASCII characters so far
        n_ascii = np.int64(0)
        ellipses = np.int64(0)
        ninth = np.int64(0)
        newlines = np.int64(0)
        run = np.int64(0)  # the run of "\n" so far: every second one ends a "\n\n" (no overlap)
        pairs = np.int64(0)
        left = lengths[doc]
        while left > 0:
            span = min(left, _LANE_SPAN)
            left -= span
            low = np.int64(0)
            high = np.int64(0)
            for _ in range(span):
                c = points[i]
                i += 1
                bits = np.int64(classes[c]) if c < top else np.int64(16)
                low += _LANES[bits & 15]
                high += _LANES[(bits >> 4) & 15]
                ninth += bits >> 8
                ascii = np.int64(c < 128)
                n_ascii += ascii
                # a third "." in a row is one "..." and starts a new run; another ASCII character ends it
                dots = (dots + np.int64(c == 46)) * (1 - ascii * np.int64(c != 46))
                full = np.int64(dots == 3)
                ellipses += full
                dots -= 3 * full
                newline = np.int64(c == 10)
                newlines += newline
                run = (run + 1) * newline
                pairs += newline & (1 - (run & 1))
            for b in range(4):
                row[b + 1] += (low >> (16 * b)) & 0xFFFF
                row[b + 5] += (high >> (16 * b)) & 0xFFFF
        row[0] = n_ascii
        row[8] += ellipses
        row[9] = ninth
        row[10] = newlines
        row[11] = pairs
        i += 1  # the separator
    return out


@numba.njit(cache=True, nogil=True)
def old_style_pair(flags, shifted, following):  # pragma: no cover - compiled
    """`s6_dedup.shingles._has_old_style_pair`: whether some flag shifted left by `shifted` bits
    shares a `following` bit with the next flag, stopping at the first."""
    for i in range(flags.shape[0] - 1):
        if (flags[i] << shifted) & flags[i + 1] & following:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def simhash(keys, lengths):  # pragma: no cover - compiled
    """`s3_clean.template_lines.simhash`: bit b is set when the lengths² of the keys with bit b set
    sum to more than half of all lengths² (int64 sums, as the numpy path's `weights @ bits`)."""
    sums = np.zeros(64, dtype=np.int64)
    total = np.int64(0)
    for i in range(keys.shape[0]):
        weight = lengths[i] * lengths[i]
        total += weight
        key = keys[i]
        for b in range(64):
            sums[b] += weight * np.int64((key >> np.uint64(b)) & np.uint64(1))
    out = np.uint64(0)
    for b in range(64):
        if 2 * sums[b] > total:
            out |= np.uint64(1) << np.uint64(b)
    return out


_CHAINS = 4  # independent walks at once: their table lookups overlap instead of waiting in turn


@numba.njit(cache=True)  # holds the GIL: `slot` is scratch shared by the calls of a process
def langid_features(data, nextmove, rowbase, output, slot, depth):  # pragma: no cover - compiled
    """`s5_filter.langid_fast`'s scan: py3langid's automaton over `data` and its features counted
    in order of first occurrence, as its Counter iterates. Returns the features and their counts.

    The automaton's state after a byte depends only on the last `depth` bytes (langid_fast's
    premise, checked when the model loads), so the text is cut in _CHAINS pieces walked side by
    side, each from the root `depth - 1` bytes before its start: the states py3langid's one walk
    from the first byte finds. `slot` (one entry per feature, all -1) maps a feature to its place
    while counting; it is all -1 again on return."""
    n = data.shape[0]
    feats = np.empty(n, dtype=np.int32)
    piece = (n + _CHAINS - 1) // _CHAINS
    states = np.zeros(_CHAINS, dtype=np.int64)
    for t in range(piece + depth - 1):
        for c in range(_CHAINS):
            first = c * piece  # the piece's first position; its walk starts depth - 1 bytes before
            pos = max(first - depth + 1, 0) + t
            if pos < min(first + piece, n):
                states[c] = nextmove[rowbase[states[c]] + data[pos]]
                if pos >= first:
                    feats[pos] = output[states[c]]
    idx = np.empty(n, dtype=np.intp)
    counts = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(n):
        f = feats[i]
        if f >= 0:
            j = slot[f]
            if j < 0:
                j = k
                slot[f] = k
                idx[k] = f
                counts[k] = 0
                k += 1
            counts[j] += 1
    for j in range(k):
        slot[idx[j]] = -1
    return idx[:k], counts[:k]


def warm() -> None:
    """Load every kernel (from numba's cache, or compiled) for the argument types the steps pass,
    so that a parent can do it once before it forks its workers and they share the pages. The
    types must match the calls exactly (layout and read-only flag included), else a worker
    compiles again: tests/test_speed_paths.py checks that real documents add no signature."""
    u64, i64 = np.zeros(4, dtype=np.uint64), np.zeros(4, dtype=np.int64)
    minhash_signature(u64, u64, np.zeros(4, dtype=np.uint32), np.zeros(4, dtype=np.uint32))
    text = np.frombuffer(b"a b", dtype=np.uint8)  # read-only, like np.frombuffer over str.encode
    points = np.frombuffer(bytes(16), dtype=np.uint32)  # read-only, like the code points of a text
    tokenize_points(points, np.ones((8, 3), dtype=np.uint64), np.zeros(256, dtype=np.int64), np.uint64(3))
    pairs = np.zeros(4, dtype=np.int64)[::2]  # the profiles' pair columns are strided views ('A')
    profile_counts(u64, u64, i64, np.full(16, -1, dtype=np.int64), np.zeros((2, 2), dtype=bool), pairs, pairs)
    ngram_counts(u64, i64, np.uint64(3), np.ones(20, dtype=np.uint64), np.ones(20, dtype=np.uint64), 10)
    shingle_grams(points, np.zeros(4, dtype=np.uint8), 5, np.uint64(3), np.uint64(5))
    old_style_pair(np.zeros(4, dtype=np.uint8), 2, 24)
    space = np.zeros(8, dtype=np.uint8)
    word_counts(points, space, np.zeros(1, dtype=np.int64))
    joined_words(points, space, np.zeros(8, dtype=np.uint32), np.zeros(16, dtype=np.uint8))
    char_counts(points, np.zeros(8, dtype=np.uint16), np.zeros(1, dtype=np.int64))
    simhash(u64, i64)
    i32 = np.zeros(4, dtype=np.int32)
    langid_features(text, np.zeros(512, dtype=np.uint32), i32, i32, np.full(4, -1, dtype=np.int32), 6)
