"""MinHash signatures, bit-identical to `datasketch.MinHash`, computed in numpy blocks.

datasketch permutes each 32-bit shingle hash h with `((a*h + b) mod 2**64) mod p
& (2**32-1)` (p = 2**61-1, a and b drawn from `RandomState(seed)`) and keeps the
minimum per permutation. We draw a and b the same way and compute the same
function, with two speedups that keep every bit:

- `x mod p` for the Mersenne prime is `(x & p) + (x >> 61)`, less p when that
  reaches p, instead of a 64-bit division;
- the (permutations x shingles) matrix is computed in reused buffers, so large
  documents do not allocate fresh pages for every temporary;
- `& (2**32-1)` and the minimum read the low uint32 halves of the uint64 values in
  place (a strided view) instead of masking them in another pass.
"""

from __future__ import annotations

import sys

import numpy as np

MERSENNE_PRIME = (1 << 61) - 1
MAX_HASH = (1 << 32) - 1
_P, _M32, _S61 = np.uint64(MERSENNE_PRIME), np.uint64(MAX_HASH), np.uint64(61)
_LOW_HALF = {"little": 0, "big": 1}.get(sys.byteorder)  # which uint32 of a uint64 holds its low bits


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) exactly as `datasketch.MinHash(num_perm, seed).permutations`."""
    gen = np.random.RandomState(seed)
    pairs = np.array(
        [
            (gen.randint(1, MERSENNE_PRIME, dtype=np.uint64), gen.randint(0, MERSENNE_PRIME, dtype=np.uint64))
            for _ in range(num_perm)
        ],
        dtype=np.uint64,
    )
    return pairs[:, 0].copy(), pairs[:, 1].copy()


class MinHasher:
    """signature(shingle hashes) -> uint32[num_perm], as datasketch computes it."""

    def __init__(self, num_perm: int = 128, seed: int = 1, block: int = 32_768):
        self.num_perm, self.seed = num_perm, seed
        a, b = permutations(num_perm, seed)
        self.a, self.b = a[:, None], b[:, None]  # column vectors: (perm, shingle) layout
        self.a_flat, self.b_flat = a, b  # for the compiled kernel
        self.block = block  # elements per block: a few hundred KB, to stay in cache
        self._buffers = (np.empty(0, np.uint64), np.empty(0, np.uint64))

    def empty(self) -> np.ndarray:
        return np.full(self.num_perm, MAX_HASH, dtype=np.uint32)

    def signature(self, hashes: np.ndarray, kernels=None) -> np.ndarray:
        """`kernels`: `pipeline.kernels_for(...)`'s compiled module (one fused loop, ~2.5x faster,
        the same bits), or None for the numpy blocks below."""
        if kernels is not None:
            hashes = np.ascontiguousarray(hashes)
            return kernels.minhash_signature(self.a_flat, self.b_flat, hashes, self.empty())
        hashes = np.asarray(hashes, dtype=np.uint64)
        out = self.empty()
        if hashes.size == 0:
            return out
        width = min(hashes.size, max(1, self.block // self.num_perm))
        if self._buffers[0].size < self.num_perm * width:
            self._buffers = (
                np.empty(self.num_perm * width, np.uint64),
                np.empty(self.num_perm * width, np.uint64),
            )
        for start in range(0, hashes.size, width):
            chunk = hashes[start : start + width]
            y = self._buffers[0][: self.num_perm * chunk.size].reshape(self.num_perm, chunk.size)
            r = self._buffers[1][: self.num_perm * chunk.size].reshape(self.num_perm, chunk.size)
            np.multiply(self.a, chunk, out=y)  # wraps mod 2**64, as datasketch's uint64 product does
            y += self.b
            np.right_shift(y, _S61, out=r)
            y &= _P
            y += r  # = y mod p, or p + (y mod p) in the rare case handled next
            if y.max() >= _P:
                y[y >= _P] -= _P
            # & (2**32 - 1): the low halves of the uint64s, read in place (no masking pass, half the bytes)
            low = (
                y.view(np.uint32)[:, _LOW_HALF::2] if _LOW_HALF is not None else (y & _M32).astype(np.uint32)
            )
            np.minimum(out, low.min(axis=1), out=out)
        return out

    def signatures(self, hash_sets) -> np.ndarray:
        return (
            np.stack([self.signature(h) for h in hash_sets])
            if hash_sets
            else np.empty((0, self.num_perm), dtype=np.uint32)
        )
