"""near_dedup: drop near-copies (syndicated wire stories, re-edited pages) with MinHash LSH.

map (workers): `key(doc)` = the MinHash signature of the document's word n-gram
shingles (`shingles.py`, `minhash.py`: datasketch's signatures, bit for bit)
and, for exact verification, the sorted shingle hash set.

reduce (once): documents are taken in keep order (earliest `created`, then
input order; documents kept by earlier runs come first). LSH banding
(`lsh.py`) proposes candidate pairs; a document is dropped when a candidate
that is kept (here or in an earlier run, `index.py`) has Jaccard >= threshold,
computed exactly on the shingle sets (or estimated from the signatures with
`verify: signature`). Candidates below the threshold are not dropped. Comparing
only with kept documents means every dropped document has a kept near-copy
(`dup_of`), and a chain a~b~c where a and c differ keeps c. Because earlier
runs' documents rank first, running day 1 then day 2 keeps the same documents
as one run over both days (when day 2 is not dated before day 1).

Per-run data live in a scratch directory on disk (signatures, shingle sets,
band keys); RAM holds a few numbers per document.
"""

from __future__ import annotations

import array
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import ConfigError
from pipeline.document import Document
from pipeline.kernels import kernels_for, preload
from pipeline.options import Schema, option
from pipeline.s6_dedup.corpus_state import read_change
from pipeline.s6_dedup.exact import index_problem
from pipeline.s6_dedup.index import INDEX_FILE, NearIndex, apply_delta, write_delta
from pipeline.s6_dedup.keep_rule import (
    better,
    earlier_run_match,
    estimate,
    jaccard,
    near_drop,
    this_run_match,
)
from pipeline.s6_dedup.lsh import band_keys, choose_banding, pairs_against, pairs_within
from pipeline.s6_dedup.minhash import MinHasher
from pipeline.s6_dedup.rebuild import rebuild_near
from pipeline.s6_dedup.sharded import check_index, segments_problem
from pipeline.s6_dedup.shingles import shingle_hashes
from pipeline.step import DocRef, Drop, GlobalStep

_jaccard, _estimate = jaccard, estimate  # (the names `newsclean verify` and benchmarks import)

SCHEME = "newsclean-near-1"  # dedup text + shingle hash scheme; bump when either changes


class NearDedup(GlobalStep):
    name = "near_dedup"
    shardable = True  # its reduce also runs as merge tasks (`run.dedup: sharded`, sharded.py)
    pipeline_stage = "dedup"

    class Options(Schema):
        ngram: int = option(5, low=1)  # words per shingle
        # compare the title too: copies share it, and a pair of short bodies is judged on more text
        with_title: bool = True
        num_perm: int = option(128, low=1)  # MinHash permutations
        seed: int = 1  # datasketch's default seed
        # Jaccard of shingle sets at or above which a document is a near-copy
        threshold: float = option(0.8, low=0, high=1, low_open=True)
        # exact: Jaccard of the shingle sets | signature: MinHash estimate
        verify: str = option("exact", choices=("exact", "signature"))
        bands: int = 0  # LSH bands and rows per band; 0 = chosen for the threshold and max_miss
        rows: int = 0
        # chance that banding misses a pair at the threshold
        max_miss: float = option(0.001, low=0, high=1, low_open=True)
        max_bucket: int = option(1000, low=1)  # candidates taken per document and band from one LSH bucket
        persist: bool = True  # remember kept documents for later runs
        index_dir: str = "near_dedup"  # relative to OUTPUT/state/
        scratch_dir: str = ""  # per-run scratch files; "" = OUTPUT/state/tmp/

    def __init__(self, options=None, context=None):
        super().__init__(options, context)

        opts = self.options
        if opts["verify"] not in ("exact", "signature"):
            raise ConfigError(f"near_dedup.verify must be exact or signature, not {opts['verify']!r}")
        if not 0.0 < opts["threshold"] <= 1.0:
            raise ConfigError(f"near_dedup.threshold must be in (0, 1], not {opts['threshold']!r}")
        for key in ("ngram", "num_perm", "max_bucket"):
            if opts[key] < 1:
                raise ConfigError(f"near_dedup.{key} must be at least 1, not {opts[key]!r}")
        if opts["bands"] and opts["rows"]:
            self.bands, self.rows = opts["bands"], opts["rows"]
        elif opts["bands"] or opts["rows"]:
            raise ConfigError("near_dedup: set both bands and rows, or neither (chosen for the threshold)")
        else:
            try:
                self.bands, self.rows = choose_banding(opts["threshold"], opts["num_perm"], opts["max_miss"])
            except ValueError as exc:
                raise ConfigError(f"near_dedup: {exc}") from None
        if self.bands * self.rows > opts["num_perm"]:
            raise ConfigError(
                f"near_dedup: bands x rows ({self.bands} x {self.rows}) exceeds num_perm ({opts['num_perm']})"
            )
        self._hasher = None
        self._keyed = 0  # documents keyed in this process (when the compiled kernel pays)
        self._scratch: _Scratch | None = None
        self._kept_ranks: np.ndarray | None = None

    @property
    def params(self) -> dict:
        """What the persistent index must agree on."""
        o = self.options
        return {
            "scheme": SCHEME,
            "ngram": o["ngram"],
            "num_perm": o["num_perm"],
            "seed": o["seed"],
            "bands": self.bands,
            "rows": self.rows,
            "shingle_sets": o["verify"] == "exact",
            "with_title": o["with_title"],
        }

    def index_dir(self, state_dir) -> Path:
        return Path(state_dir) / self.options["index_dir"]  # an absolute index_dir stays as is

    # --- map ---------------------------------------------------------------------------

    def preload(self, docs_per_process: int) -> None:
        preload(docs_per_process)

    def key(self, doc: Document):
        title = doc.metadata.get("title") if self.options["with_title"] else None
        text = f"{title}\n\n{doc.text}" if isinstance(title, str) and title else doc.text
        self._keyed += 1  # small runs stay on numpy; the compiled kernels once they pay (same bits)
        kernels = kernels_for(self._keyed)
        shingles = shingle_hashes(text, self.options["ngram"], kernels)
        if shingles.size == 0:
            return None  # no words: nothing to compare
        if self._hasher is None:
            self._hasher = MinHasher(self.options["num_perm"], self.options["seed"])
        signature = self._hasher.signature(shingles, kernels)
        return signature, (shingles if self.options["verify"] == "exact" else None)

    # --- reduce ------------------------------------------------------------------------

    def reduce(self, items: Iterable[tuple[DocRef, Any]], state_dir=None) -> Iterator[Drop]:
        self._discard_scratch()
        scratch = self._scratch = _Scratch(
            self.options["scratch_dir"] or scratch_parent(state_dir),
            self.bands,
            self.rows,
            self.options["num_perm"],
        )
        for ref, key in items:
            if key is not None:
                scratch.add(ref, *key)
        scratch.finish()
        persistent = self.options["persist"] and state_dir is not None
        index = NearIndex(self.index_dir(state_dir) if persistent else None, self.params)
        try:
            drops, self._kept_ranks = self._dedup(scratch, index)
        finally:
            index.close()
        yield from drops

    def _dedup(self, scratch: _Scratch, index) -> tuple[list[Drop], np.ndarray]:
        n, counters = scratch.n, self.stats.counters
        rank = scratch.keep_order()  # rank position -> scratch position
        max_bucket = self.options["max_bucket"]
        within_parts, against_parts = [], []
        for band in range(self.bands):
            keys = scratch.band(band)[rank]
            later, earlier = pairs_within(keys, max_bucket)
            within_parts.append(later * n + earlier)
            index_keys, index_seqs = index.band(band)
            later, seqs = pairs_against(keys, index_keys, index_seqs, max_bucket)
            against_parts.append((later << 32) | seqs)
            del keys, index_keys, index_seqs
        within = np.unique(np.concatenate(within_parts)) if within_parts else np.zeros(0, np.int64)
        against = np.unique(np.concatenate(against_parts)) if against_parts else np.zeros(0, np.int64)
        counters["candidate_pairs"] += int(within.size + against.size)
        counters["indexed_documents"] = index.size

        kept = np.ones(n, dtype=bool)  # by rank position
        drops: list[Drop] = []
        exact = self.options["verify"] == "exact"
        w_later, w_earlier = within // n, within % n
        a_later, a_seq = against >> 32, against & 0xFFFFFFFF
        for p in np.union1d(w_later, a_later):
            p = int(p)
            mine = scratch.shingles(rank[p]) if exact else scratch.signature(rank[p])
            best = None
            for seq in a_seq[np.searchsorted(a_later, p) : np.searchsorted(a_later, p, side="right")]:
                doc_id, signature, shingles = index.doc(int(seq))
                if doc_id in self.retired:  # its input changed: that record is leaving the corpus
                    continue
                sim = jaccard(mine, shingles) if exact else estimate(mine, signature)
                if self._verified(sim):
                    best = better(best, earlier_run_match(scratch.id(rank[p]), doc_id, sim, int(seq)))
            for e in w_earlier[np.searchsorted(w_later, p) : np.searchsorted(w_later, p, side="right")]:
                e = int(e)
                if not kept[e]:
                    continue
                other = scratch.shingles(rank[e]) if exact else scratch.signature(rank[e])
                sim = jaccard(mine, other) if exact else estimate(mine, other)
                if self._verified(sim):
                    best = better(best, this_run_match(sim, e))
            if best is not None:
                kept[p] = False
                doc_id = best.doc_id if best.doc_id is not None else scratch.id(int(rank[int(best.rank)]))  # type: ignore[call-overload]  # in-process ranks are ints
                drops.append(near_drop(scratch.order(rank[p]), best, doc_id, exact, counters))
        drops.sort(key=lambda d: d.order)
        return drops, rank[kept]

    def _verified(self, sim: float) -> bool:
        """Whether a verified candidate pair reaches the threshold (counted either way)."""
        self.stats.counters["verified_pairs"] += 1
        if sim < self.options["threshold"]:
            self.stats.counters["candidates_below_threshold"] += 1
            return False
        return True

    # --- state -------------------------------------------------------------------------

    def stage(self, delta_dir, dropped=frozenset()) -> None:
        scratch, kept = self._scratch, self._kept_ranks
        if scratch is None or kept is None:
            return
        if dropped:  # a later global step's drops are not in the corpus either
            kept = np.array([i for i in kept if scratch.order(i) not in dropped], dtype=np.int64)
        try:
            if self.options["persist"]:
                exact = self.options["verify"] == "exact"
                docs = (
                    (
                        scratch.id(i),
                        scratch.created(i),
                        scratch.signature(i),
                        scratch.shingles(i) if exact else None,
                    )
                    for i in kept
                )
                write_delta(
                    Path(delta_dir),
                    self.params,
                    docs,  # band keys: one band at a time in RAM
                    lambda b: scratch.band(b)[kept],
                    self.bands,
                )
        finally:
            self._discard_scratch()

    def staged_elsewhere(self) -> None:
        self._discard_scratch()  # staged from the child's copy of it

    def commit(self, state_dir, delta_dir) -> None:
        if self.options["persist"]:
            retired, after = read_change(Path(delta_dir))
            apply_delta(self.index_dir(state_dir), Path(delta_dir), self.params, retired, after)

    # --- the index describes the corpus (s6_dedup/corpus_state.py) -------------------------

    mode = "driver"  # which index this run uses: driver (one SQLite file) or sharded; set by the runner

    def state_problem(self, state_dir, expected) -> str | None:
        if not self.options["persist"]:
            return None
        if self.mode == "sharded":
            check_index(self, state_dir)  # other parameters: refused before the map phase (IndexMismatch)
            return segments_problem(self, state_dir, expected)
        problem = index_problem(self.index_dir(state_dir) / INDEX_FILE, expected)
        if problem is None and (self.index_dir(state_dir) / INDEX_FILE).exists():
            NearIndex(self.index_dir(state_dir), self.params).close()  # IndexMismatch, as above
        return problem

    def state_file(self, state_dir) -> Path | None:
        return self.index_dir(state_dir) / INDEX_FILE if self.mode == "driver" else None

    def rebuild(self, state_dir, output) -> None:
        """The index from the corpus: the near key of every kept record (title and text, as in the map
        phase), per run in keep order, as the runs' commits would have made it."""
        if self.options["persist"]:
            rebuild_near(self, Path(state_dir), Path(output))

    def _discard_scratch(self) -> None:
        if self._scratch is not None:
            self._scratch.close()
            self._scratch, self._kept_ranks = None, None


SCRATCH = "tmp"  # OUTPUT/state/tmp/: per-run scratch files; a run starting under the lock removes leftovers


def scratch_parent(state_dir) -> str | None:
    """Scratch files go under the output folder (not the shared /tmp), where the next run finds and
    removes what a killed run left."""
    if state_dir is None:
        return None
    parent = Path(state_dir) / SCRATCH
    parent.mkdir(parents=True, exist_ok=True)
    return str(parent)


class _Scratch:
    """Per-run columns on disk, appended in input order: signatures, shingle sets, band keys,
    ids and dates. RAM keeps offsets and orders (a few 8-byte numbers per document); reads
    use pread, so nothing is memory-mapped into the process."""

    _CHUNK = 4096  # documents whose band keys are computed together

    def __init__(self, parent: str | None, bands: int, rows: int, num_perm: int):
        self.dir = tempfile.mkdtemp(prefix="newsclean-near-dedup-", dir=parent)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.dir, True)
        self.bands, self.rows, self.num_perm = bands, rows, num_perm
        self.n = 0
        self._orders = array.array("q")
        self._files = {
            name: open(os.path.join(self.dir, name), "w+b") for name in ("sig", "sh", "id", "created")
        }
        self._band_files = [open(os.path.join(self.dir, f"band-{b}"), "w+b") for b in range(bands)]
        self._offsets = {name: array.array("q", [0]) for name in ("sh", "id", "created")}
        self._pending: list[np.ndarray] = []
        self._dated = False

    def add(self, ref: DocRef, signature: np.ndarray, shingles: np.ndarray | None) -> None:
        self._orders.append(ref.order)
        self._files["sig"].write(np.asarray(signature, np.uint32).tobytes())
        self._append("sh", b"" if shingles is None else np.asarray(shingles, np.uint32).tobytes())
        self._append("id", ref.id.encode("utf-8", "surrogatepass"))
        created = b"" if ref.created is None else str(ref.created).encode("utf-8", "surrogatepass")
        self._dated = self._dated or bool(created)
        self._append("created", created)
        self._pending.append(signature)
        if len(self._pending) >= self._CHUNK:
            self._flush_bands()
        self.n += 1

    def _append(self, name: str, data: bytes) -> None:
        self._files[name].write(data)
        offsets = self._offsets[name]
        offsets.append(offsets[-1] + len(data))

    def _flush_bands(self) -> None:
        if self._pending:
            keys = band_keys(np.stack(self._pending), self.bands, self.rows)
            for band, fh in enumerate(self._band_files):
                fh.write(np.ascontiguousarray(keys[:, band]).tobytes())
            self._pending = []

    def finish(self) -> None:
        self._flush_bands()
        for fh in list(self._files.values()) + self._band_files:
            fh.flush()

    def keep_order(self) -> np.ndarray:
        """Positions sorted by DocRef.keep_rank(): dated first by date, then input order."""
        orders = np.frombuffer(self._orders, dtype=np.int64) if self.n else np.zeros(0, np.int64)
        if not self._dated:
            return np.argsort(orders, kind="stable").astype(np.int64)
        created = [self._read("created", i) for i in range(self.n)]
        width = max((len(c) for c in created), default=1) or 1
        dates = np.array(created, dtype=f"S{width}")
        undated = np.array([not c for c in created], dtype=bool)
        return np.lexsort((orders, dates, undated)).astype(np.int64)

    def band(self, band: int) -> np.ndarray:
        fh = self._band_files[band]
        return np.frombuffer(os.pread(fh.fileno(), 8 * self.n, 0), dtype=np.uint64)

    def _read(self, name: str, i: int) -> bytes:
        offsets = self._offsets[name]
        return os.pread(self._files[name].fileno(), offsets[i + 1] - offsets[i], offsets[i])

    def shingles(self, i: int) -> np.ndarray:
        return np.frombuffer(self._read("sh", int(i)), dtype=np.uint32)

    def signature(self, i: int) -> np.ndarray:
        size = 4 * self.num_perm
        return np.frombuffer(os.pread(self._files["sig"].fileno(), size, int(i) * size), dtype=np.uint32)

    def id(self, i: int) -> str:
        return self._read("id", int(i)).decode("utf-8", "surrogatepass")

    def created(self, i: int) -> str | None:
        return self._read("created", int(i)).decode("utf-8", "surrogatepass") or None

    def order(self, i: int) -> int:
        return self._orders[int(i)]

    def close(self) -> None:
        for fh in list(self._files.values()) + self._band_files:
            fh.close()
        self._cleanup()
