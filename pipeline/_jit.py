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
