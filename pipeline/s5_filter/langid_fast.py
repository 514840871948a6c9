"""py3langid's feature scan, vectorized with numpy: the same scores, several times faster.

py3langid walks its byte n-gram automaton one byte at a time in Python, which was
half of newsclean's time per document. The automaton is Aho-Corasick-like: after
any input its state stands for the longest suffix of that input that is a prefix
of some feature, so it depends only on the last `depth` bytes (`depth` = the
longest feature, 6 bytes in the shipped model). Starting from the root `depth`
bytes back, one vectorized step per byte, gives every position's state at once.

The features are then counted in first-seen order, as py3langid's Counter does,
so the float sums, and therefore the scores, are bit-for-bit the same.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import xxhash
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

# (xxh3_64 of the transition table, number of states) -> automaton depth, as _depth computes it
_KNOWN_DEPTHS = {("fe2446c16cda87ab", 104583): 6}  # py3langid 0.4.0's model


def _depth(nextmove: np.ndarray, rowbase: np.ndarray) -> int:
    """Length of the longest string a state stands for (BFS distance from the root)."""
    depth = np.full(len(rowbase), -1, dtype=np.int16)
    depth[0] = 0
    frontier, level, byte = np.array([0]), 0, np.arange(256)
    while frontier.size:
        level += 1
        targets = nextmove[(rowbase[frontier][:, None] + byte).ravel()]
        depth[targets[depth[targets] < 0]] = level
        frontier = np.flatnonzero(depth == level)
    return level - 1


def _counts_in_first_seen_order(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct features and their counts, in order of first occurrence (as a Counter iterates)."""
    n = len(features)
    key = (features.astype(np.int64) << 32) | np.arange(n, dtype=np.int64)  # feature, then position
    key.sort()
    values = key >> 32
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, n))
    order = np.argsort(key[starts] & 0xFFFFFFFF)  # by first position (all distinct)
    return values[starts][order].astype(np.intp), counts[order]


class FastLanguageIdentifier(LanguageIdentifier):
    """py3langid's identifier with the vectorized scan; everything else is py3langid's."""

    def __init__(self, *args, derived: dict | None = None, **kwargs):
        """py3langid's arguments; `derived`: the tables made below ("fold", "ptc32"), when a cached
        copy holds them already (`load_identifier`)."""
        super().__init__(*args, **kwargs)
        nextmove = (
            np.frombuffer(self.tk_nextmove, dtype=np.uint32)
            if getattr(self.tk_nextmove, "typecode", "") in ("I", "L") and self.tk_nextmove.itemsize == 4
            else np.asarray(self.tk_nextmove, dtype=np.uint32)
        )  # a view, not a copy, of the 39 MB table
        rowbase = np.asarray(self._rowbase, dtype=np.int64)
        # the BFS costs ~0.3 s in every worker: the shipped model's answer is known (keyed by its table)
        fingerprint = (
            xxhash.xxh3_64_hexdigest(np.ascontiguousarray(nextmove).data.cast("B")),
            len(rowbase),
        )
        self._depth = _KNOWN_DEPTHS.get(fingerprint) or _depth(nextmove, rowbase)
        # a state's row folded into the table: next state = _move[state * 256 + byte] needs the
        # rows in state order, so index through rowbase once per step (both tables stay int32)
        self._nextmove, self._rowbase_np = nextmove, rowbase.astype(np.int32)
        # the first two steps from the root depend only on two bytes: one 64K lookup
        first = nextmove[rowbase[0] + np.arange(256)]
        self._two = nextmove[(rowbase[first][:, None] + np.arange(256)).ravel()].astype(np.int32)
        # the steps between the second and the last need only the next state's row, not the state:
        # a table of row offsets (next row = _fold[row + byte]) saves one gather per step; indices
        # are kept as intp so that `take` does not convert them (about 2x faster than int32 indexing)
        self._two_rows = rowbase[self._two].astype(np.intp)
        self._fold = self._rowbase_np[nextmove] if derived is None else derived["fold"]
        self._output_np = np.asarray(self.tk_output, dtype=np.int32)
        # numpy casts the float16 table to float32 for every product anyway: cast it once (exact)
        self._ptc32 = self.nb_ptc.astype(np.float32) if derived is None else derived["ptc32"]
        # the compiled scan (pipeline/kernels.py), when the caller has handled enough documents
        self.kernels = None
        self._slot = np.full(len(self._ptc32), -1, dtype=np.int32)  # its scratch: feature -> place
        self._fast = True
        self._fast = self._agrees_with_py3langid()

    def _agrees_with_py3langid(self) -> bool:
        """The shortcut rests on the automaton's shape: check it on a sample, else stay slow."""
        sample = (
            "Thủ tướng yêu cầu các tỉnh, thành phố có biên giới chủ trì, phối hợp. "
            "The quick brown fox jumps over the lazy dog; 12.5% — «ĐÀ NẴNG» 2024! "
        ) * 8
        data = sample.encode("utf-8") + bytes(range(256))
        return np.array_equal(self._raw_score(data), super()._raw_score(data))

    def _states(self, data: bytes) -> np.ndarray:
        """The automaton's state after each byte of `data` (len(data) >= depth)."""
        b = np.frombuffer(data, dtype=np.uint8)
        d, nm, rb = self._depth, self._nextmove, self._rowbase_np
        n = len(b)
        m = n - d + 1
        # position i >= d-1 starts at the root d-1 bytes back and reads d bytes; the first two in one lookup
        bi = b.astype(np.intp)
        pair = (bi[:m] << 8) | bi[1 : m + 1]
        if d > 2:
            row = self._two_rows.take(pair)
            for k in range(2, d - 1):
                row = self._fold.take(row + bi[k : m + k])
            state = nm.take(row + bi[d - 1 : m + d - 1])
        else:
            state = self._two.take(pair)
        head = np.empty(d - 1, dtype=np.int32)  # the first d-1 positions: walk from the start
        s = 0
        for i in range(d - 1):
            s = int(nm[int(rb[s]) + int(b[i])])
            head[i] = s
        return np.concatenate([head, state])

    def _raw_score(self, text):
        if not self._fast or not isinstance(text, bytes) or len(text) < 4 * self._depth:
            return super()._raw_score(text)
        if self.kernels is not None:  # one compiled loop, the same features and counts
            data = np.frombuffer(text, dtype=np.uint8)
            idx, counts = self.kernels.langid_features(
                data, self._nextmove, self._rowbase_np, self._output_np, self._slot, self._depth
            )
        else:
            features = self._output_np.take(self._states(text))
            features = features[features >= 0]
            if not features.size:
                return super()._raw_score(text)
            idx, counts = _counts_in_first_seen_order(features)
        if not idx.size:
            return super()._raw_score(text)
        # take(axis=0) gathers the same rows as [idx], faster; the product itself is unchanged (same bits)
        return np.log1p(counts.astype(np.float32)) @ self._ptc32.take(idx, axis=0) + self.nb_pc


def load_identifier(norm_probs: bool = True) -> FastLanguageIdentifier:
    """The model shipped in py3langid, with the vectorized scan."""
    tables = _cached_tables()
    if tables is None:
        return FastLanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=norm_probs)
    return FastLanguageIdentifier(
        tables["ptc"],
        tables["pc"],
        tables["classes"].tolist(),
        tables["nextmove"],
        tables["out_feat"].tolist(),
        norm_probs=norm_probs,
        tk_row=tables["nextmove_row"].tolist(),
        derived={"fold": tables["fold"], "ptc32": tables["ptc32"]},
    )


# the arrays of the cached copy: py3langid's model, and the two tables FastLanguageIdentifier derives
_TABLES = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat", "fold", "ptc32")
_TABLES_VERSION = 2  # of this layout (2: with SUMS)
SUMS = "sums.json"  # xxh3 of each array's bytes: a copy damaged inside its arrays is not used


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsclean"


def _cached_tables() -> dict[str, np.ndarray] | None:
    """py3langid's model and the tables derived from it, mapped from a copy in the user's cache:
    unpacking the 4.5 MB .xz and deriving the tables cost ~0.3-0.4 s of CPU in every run (and ~0.25 s
    from the earlier uncompressed copy), mapping them ~5 ms. Mapped copy-on-write: nothing is ever
    written to them, so their pages are the page cache's, shared by every process and run, and the
    arrays are writable like the ones made in memory (the compiled scan's argument types). The copy is
    named by the model file's content, written once into a folder renamed into place; any problem
    (no cache folder, a damaged copy) returns None: py3langid's own loader. The arrays are checked
    against their sums (~6-30 ms of CPU) as the .npz's CRCs were before: a changed byte would change
    the language scores on this machine only; a copy that fails is removed (the next run rewrites it)."""
    source = MODEL_DIR / MODEL_FILE
    try:
        digest = xxhash.xxh3_64_hexdigest(source.read_bytes())
        folder = _cache_dir() / f"langid-{digest}-v{_TABLES_VERSION}"
        if not folder.is_dir():
            _write_tables(folder)
        tables = {
            name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="c", allow_pickle=False))
            for name in _TABLES
        }
        if _sums(tables) != json.loads((folder / SUMS).read_bytes()):
            shutil.rmtree(folder, ignore_errors=True)  # not the copy it should be: written again next time
            return None
        return tables
    except Exception:  # the packed model is still there: load it as py3langid does
        return None


def _write_tables(folder: Path) -> None:
    """The cached copy: the model as py3langid loads it, and the identifier's derived tables."""
    model = FastLanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    arrays = {
        "ptc": model.nb_ptc,
        "pc": model.nb_pc,
        "classes": np.asarray(model.nb_classes),
        "nextmove": model._nextmove,
        "nextmove_row": np.asarray(model.tk_row),
        "out_feat": np.asarray(model.tk_output),
        "fold": model._fold,
        "ptc32": model._ptc32,
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".langid-"))
    try:
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        (tmp / SUMS).write_text(json.dumps(_sums(arrays)))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process's copy was renamed into place first: that one is used
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sums(arrays: dict) -> dict[str, str]:
    """Each array's type, shape and the xxh3 of its bytes (a header changed is a damage too)."""
    sums = {}
    for name in _TABLES:
        array = np.ascontiguousarray(arrays[name])
        sums[name] = f"{array.dtype.str} {array.shape} {xxhash.xxh3_64_hexdigest(array.data.cast('B'))}"
    return sums
