"""Compiled kernels (numba, cached on disk), used once a process has enough documents to pay for them.

The numpy code beside each kernel stays the reference and the path of small runs: importing
numba costs ~0.25 s of CPU and a kernel's first compilation on a machine ~0.5 s (then it is
loaded from numba's on-disk cache in milliseconds), which would dominate a run of a few pages.
So a step asks `kernels_for(seen)` with the number of documents it has handled in this process;
below `MIN_DOCS` the answer is None (numpy path), from there on the compiled kernels, when numba
is installed. `NEWSCLEAN_JIT=0` keeps every document on numpy, `NEWSCLEAN_JIT=1` compiles from
the first one (profiling, tests); unset or `auto` is the rule above. Both paths give bit-identical results (integer
arithmetic only; tests/test_speed_paths.py compares them), so the output does not depend on
which one ran.
"""

from __future__ import annotations

import os
from types import ModuleType

# documents handled in this process before the kernels are loaded: loading costs ~0.5 s of CPU
# per process (numba's import and its first call, from the cache), the kernels save ~0.1-0.3 ms
# per document, so a run of a few hundred pages never loads them
MIN_DOCS = 2000

_loaded: ModuleType | None = None
_failed = False


def kernels_for(seen: int) -> ModuleType | None:
    """The compiled kernels module (`pipeline._jit`), or None for the numpy path."""
    global _loaded, _failed
    if _loaded is not None:
        return _loaded
    mode = os.environ.get("NEWSCLEAN_JIT", "auto")
    if _failed or mode == "0" or (seen < MIN_DOCS and mode != "1"):
        return None
    try:
        from pipeline import _jit
    except ImportError:  # numba not installed (or not for this Python): the numpy path, same results
        _failed = True
        return None
    _loaded = _jit
    return _loaded


def preload(docs_per_process: int) -> ModuleType | None:
    """Load and warm the kernels now when each worker will handle enough documents to use them.

    For a parent about to fork its workers: numba and the loaded kernels take ~120 MB per process,
    which forked workers share with their parent instead of each loading its own copy."""
    kernels = kernels_for(docs_per_process)
    if kernels is not None:
        kernels.warm()
    return kernels
