"""LSH banding: which pairs of documents are worth an exact comparison.

A signature is cut into `bands` bands of `rows` values; two documents whose
signatures agree on every row of some band become a candidate pair. A pair of
Jaccard similarity s is a candidate with probability 1 - (1 - s**rows)**bands.
datasketch's default banding weighs misses and false candidates equally; here
every candidate is verified afterwards, so false candidates only cost time,
and the banding is chosen to (almost) never miss a pair at the threshold.

Candidates are found by sorting band keys (one uint64 per document and band),
one band at a time, so memory is a few arrays of N numbers, not a hash table of
buckets.
"""

from __future__ import annotations

import numpy as np

_MIX1, _MIX2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_BASE = np.uint64(0x9E3779B97F4A7C15)


def candidate_probability(similarity, bands: int, rows: int):
    return 1.0 - (1.0 - np.asarray(similarity, dtype=float) ** rows) ** bands


def choose_banding(threshold: float, num_perm: int, max_miss: float) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm that misses a pair of similarity
    `threshold` with probability <= `max_miss`, and among those the one with the
    fewest candidates below the threshold (the least verification work)."""
    below = np.linspace(0.0, threshold, 401)
    best, best_cost = None, float("inf")
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1.0 - candidate_probability(threshold, bands, rows) > max_miss:
            continue
        cost = float(np.trapezoid(candidate_probability(below, bands, rows), below))
        if cost < best_cost:
            best, best_cost = (bands, rows), cost
    if best is None:
        raise ValueError(
            f"no banding of {num_perm} permutations misses at most {max_miss} of the pairs at "
            f"similarity {threshold}: use more permutations or a larger max_miss"
        )
    return best


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(N, bands) uint64: a 64-bit hash of each band's rows (equal rows -> equal key)."""
    signatures = np.asarray(signatures, dtype=np.uint32)
    out = np.empty((signatures.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = np.full(signatures.shape[0], band + 1, dtype=np.uint64)
            for col in range(band * rows, (band + 1) * rows):
                key *= _BASE
                key += signatures[:, col]
            key ^= key >> np.uint64(33)
            key *= _MIX1
            key ^= key >> np.uint64(33)
            key *= _MIX2
            key ^= key >> np.uint64(33)
            out[:, band] = key
    return out


def _expand(first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ranges first[i] .. first[i] + counts[i] - 1."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(first, counts) + (np.arange(total) - offsets)


def pairs_within(keys: np.ndarray, max_bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of positions (later, earlier) whose keys are equal. `keys` is in rank order
    (position = rank), so each document is paired with the better-ranked ones in its
    bucket, at most `max_bucket` of them (the best ranked)."""
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    if ranked.size < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new_run = np.empty(ranked.size, dtype=bool)
    new_run[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=new_run[1:])
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(ranked.size), 0))
    offset = np.arange(ranked.size) - run_start  # how many better-ranked members precede it
    counts = np.minimum(offset, max_bucket)
    has = counts > 0
    later = np.repeat(order[has], counts[has])
    earlier = order[_expand(run_start[has], counts[has])]
    return later.astype(np.int64), earlier.astype(np.int64)


def pairs_against(
    keys: np.ndarray, index_keys: np.ndarray, index_ids: np.ndarray, max_bucket: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (position in `keys`, id from `index_ids`) with equal keys; `index_keys` sorted."""
    if index_keys.size == 0 or keys.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo = np.searchsorted(index_keys, keys, side="left")
    hi = np.searchsorted(index_keys, keys, side="right")
    counts = np.minimum(hi - lo, max_bucket)
    has = np.flatnonzero(counts)
    later = np.repeat(has, counts[has])
    other = index_ids[_expand(lo[has], counts[has])]
    return later.astype(np.int64), other.astype(np.int64)
