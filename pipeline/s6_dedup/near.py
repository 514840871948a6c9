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
import unicodedata
import weakref
from collections.abc import Collection, Iterable, Iterator
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


def _canonical(title: str | None, doc: Document) -> str:
    """NFC and lowercase of the key's text, `f"{title}\n\n{doc.text}"` (`doc.text` without a title),
    with the body's lowercase copy quality_signals made (`doc.lowered`) when the body is NFC already.
    Both apply piece by piece: nothing composes with "\n", and the one rule of `lower` that looks at
    neighbours (Greek final sigma) does not look past it (tests/test_near_dedup.py checks it)."""
    nfc = unicodedata.normalize("NFC", doc.text)
    # (a stand-in with only text and metadata, as some callers pass, lowers it here)
    body = doc.lowered() if nfc is doc.text and isinstance(doc, Document) else nfc.lower()
    return f"{unicodedata.normalize('NFC', title).lower()}\n\n{body}" if title else body


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
        title = title if isinstance(title, str) and title else None
        text = f"{title}\n\n{doc.text}" if title else doc.text
        self._keyed += 1  # small runs stay on numpy; the compiled kernels once they pay (same bits)
        kernels = kernels_for(self._keyed)
        shingles = shingle_hashes(text, self.options["ngram"], kernels, _canonical(title, doc))
        if shingles.size == 0:
            return None  # no words: nothing to compare
        if self._hasher is None:
            self._hasher = MinHasher(self.options["num_perm"], self.options["seed"])
        signature = self._hasher.signature(shingles, kernels)
        return signature, (shingles if self.options["verify"] == "exact" else None)

    # --- reduce ------------------------------------------------------------------------

    def reduce(self, items: Iterable[tuple[DocRef, Any]], state_dir=None) -> Iterator[Drop]:
        self.begin_feed(state_dir)
        self.feed(items)
        yield from self.reduce_fed(frozenset(), state_dir)

    # The reduce in two parts, for a runner that has the keys before it knows the exclusions: the
    # keys of every candidate fed while the map runs (`begin_feed`, `feed`: to the scratch files),
    # then `reduce_fed` over those not excluded (dropped by an earlier step). The same drops as
    # `reduce` over the candidates not excluded: the excluded ones are taken out of the keep order
    # before the banding, so they are in no bucket and no pair.

    def begin_feed(self, state_dir=None) -> None:
        self._discard_scratch()
        self._scratch = _Scratch(
            self.options["scratch_dir"] or scratch_parent(state_dir),
            self.bands,
            self.rows,
            self.options["num_perm"],
        )

    def feed(self, items: Iterable[tuple[DocRef, Any]]) -> None:
        scratch = self._scratch
        assert scratch is not None, "begin_feed comes first"
        for ref, key in items:
            if key is not None:
                scratch.add(ref, *key)
        # band keys now, for the pieces fed so far: the signatures held for them are views of the
        # feeder's decoded arrays, which would stay alive (shingles too) until the next 4,096
        scratch.flush()

    def reduce_fed(self, excluded: Collection[int], state_dir=None) -> Iterator[Drop]:
        """The drops among the candidates fed, leaving out the orders `excluded`."""
        scratch = self._scratch
        assert scratch is not None, "begin_feed comes first"
        scratch.finish()
        persistent = self.options["persist"] and state_dir is not None
        index = NearIndex(self.index_dir(state_dir) if persistent else None, self.params)
        try:
            drops, self._kept_ranks = self._dedup(scratch, index, excluded)
        finally:
            index.close()
        yield from drops

    def _dedup(self, scratch: _Scratch, index, excluded: Collection[int]) -> tuple[list[Drop], np.ndarray]:
        rank = scratch.keep_order()  # rank position -> scratch position
        if excluded:  # (a total order: the order of the others is theirs alone)
            gone = np.fromiter(excluded, dtype=np.int64, count=len(excluded))
            rank = rank[~np.isin(scratch.orders()[rank], gone)]
        n, counters = len(rank), self.stats.counters
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
            gone = np.fromiter(dropped, dtype=np.int64, count=len(dropped))
            kept = kept[~np.isin(scratch.orders()[kept], gone)]
        try:
            if self.options["persist"]:
                write_delta(
                    Path(delta_dir),
                    self.params,
                    scratch.records(kept, self.options["verify"] == "exact"),
                    # band keys: one band at a time in RAM
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
    """Per-run data on disk, appended in input order: one record per document (signature, shingle
    set, id) in one file, band keys in one file per band. RAM keeps the orders, the records'
    offsets and lengths and the dates (~30 bytes per document; the keep order sorts by the dates
    anyway). Reads use pread, so nothing is memory-mapped into the process; one pread reads a
    document's record, or a stretch of records (`records`)."""

    _CHUNK = 4096  # documents whose band keys are computed together
    _BUFFER = 1 << 20  # bytes of records written at once
    _BLOCK = 2048  # records read together by `records`

    def __init__(self, parent: str | None, bands: int, rows: int, num_perm: int):
        self.dir = tempfile.mkdtemp(prefix="newsclean-near-dedup-", dir=parent)
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.dir, True)
        self.bands, self.rows, self.num_perm = bands, rows, num_perm
        self._sig_bytes = 4 * num_perm
        self.n = 0
        self._orders = array.array("q")
        self._starts = array.array("q", [0])  # record i: [starts[i], starts[i + 1])
        self._sh_bytes = array.array("q")  # bytes of its shingle set (then its id: the rest)
        self._created = bytearray()  # the dates, UTF-8, one after the other
        self._created_ends = array.array("q", [0])
        self._records = open(os.path.join(self.dir, "records"), "w+b", buffering=self._BUFFER)
        self._band_files = [open(os.path.join(self.dir, f"band-{b}"), "w+b") for b in range(bands)]
        self._pending: list[np.ndarray] = []  # signatures whose band keys are not written yet
        self._dated = False

    def add(self, ref: DocRef, signature: np.ndarray, shingles: np.ndarray | None) -> None:
        sig = np.ascontiguousarray(signature, np.uint32)
        sh = np.ascontiguousarray(() if shingles is None else shingles, np.uint32)
        doc_id = ref.id.encode("utf-8", "surrogatepass")
        self._orders.append(ref.order)
        self._sh_bytes.append(sh.nbytes)
        self._starts.append(self._starts[-1] + self._sig_bytes + sh.nbytes + len(doc_id))
        for part in (sig.data, sh.data, doc_id):  # into the file's buffer, no copy joined first
            self._records.write(part)
        if ref.created is not None:
            created = str(ref.created).encode("utf-8", "surrogatepass")
            self._dated = self._dated or bool(created)
            self._created += created
        self._created_ends.append(len(self._created))
        self._pending.append(signature)
        if len(self._pending) >= self._CHUNK:
            self._flush_bands()
        self.n += 1

    def _flush_bands(self) -> None:
        if self._pending:
            keys = band_keys(np.stack(self._pending), self.bands, self.rows)
            for band, fh in enumerate(self._band_files):
                fh.write(np.ascontiguousarray(keys[:, band]).tobytes())
            self._pending = []

    def flush(self) -> None:
        """Band keys of the documents added so far (the same keys whatever the pieces)."""
        self._flush_bands()

    def finish(self) -> None:
        self._flush_bands()
        for fh in [self._records, *self._band_files]:
            fh.flush()

    def keep_order(self) -> np.ndarray:
        """Positions sorted by DocRef.keep_rank(): dated first by date, then input order."""
        orders = self.orders()
        if not self._dated:
            return np.argsort(orders, kind="stable").astype(np.int64)
        ends, data = self._created_ends, self._created
        created = [bytes(data[ends[i] : ends[i + 1]]) for i in range(self.n)]
        width = max((len(c) for c in created), default=1) or 1
        dates = np.array(created, dtype=f"S{width}")
        undated = np.array([not c for c in created], dtype=bool)
        return np.lexsort((orders, dates, undated)).astype(np.int64)

    def band(self, band: int) -> np.ndarray:
        fh = self._band_files[band]
        return np.frombuffer(os.pread(fh.fileno(), 8 * self.n, 0), dtype=np.uint64)

    def _read(self, i: int, skip: int, size: int) -> bytes:
        return os.pread(self._records.fileno(), size, self._starts[i] + skip)

    def shingles(self, i: int) -> np.ndarray:
        i = int(i)
        return np.frombuffer(self._read(i, self._sig_bytes, self._sh_bytes[i]), dtype=np.uint32)

    def signature(self, i: int) -> np.ndarray:
        return np.frombuffer(self._read(int(i), 0, self._sig_bytes), dtype=np.uint32)

    def id(self, i: int) -> str:
        i = int(i)
        skip = self._sig_bytes + self._sh_bytes[i]
        data = self._read(i, skip, self._starts[i + 1] - self._starts[i] - skip)
        return data.decode("utf-8", "surrogatepass")

    def created(self, i: int) -> str | None:
        i = int(i)
        data = self._created[self._created_ends[i] : self._created_ends[i + 1]]
        return data.decode("utf-8", "surrogatepass") or None

    def order(self, i: int) -> int:
        return self._orders[int(i)]

    def orders(self) -> np.ndarray:
        return np.frombuffer(self._orders, dtype=np.int64) if self.n else np.zeros(0, np.int64)

    def records(self, positions: np.ndarray, with_shingles: bool) -> Iterator[tuple]:
        """(id, created, signature bytes, shingle bytes or None) of the documents at `positions`, in
        that order. A block of positions is read with one pread per stretch of adjacent records
        (in input order, as the keep order of undated documents mostly is) instead of one per field."""
        for at in range(0, len(positions), self._BLOCK):
            block = [int(i) for i in positions[at : at + self._BLOCK]]
            data = self._read_stretches(sorted(set(block)))
            for i in block:
                view, base = data[i]
                start = self._starts[i] - base
                sh_end = start + self._sig_bytes + self._sh_bytes[i]
                end = self._starts[i + 1] - base
                yield (
                    bytes(view[sh_end:end]).decode("utf-8", "surrogatepass"),
                    self.created(i),
                    view[start : start + self._sig_bytes],
                    view[start + self._sig_bytes : sh_end] if with_shingles else None,
                )

    def _read_stretches(self, ordered: list[int]) -> dict[int, tuple[memoryview, int]]:
        """Position -> (the bytes of its stretch, the stretch's file offset), for sorted positions."""
        out: dict[int, tuple[memoryview, int]] = {}
        first = 0
        for k in range(1, len(ordered) + 1):
            if k == len(ordered) or ordered[k] != ordered[k - 1] + 1:  # a stretch ends
                base, end = self._starts[ordered[first]], self._starts[ordered[k - 1] + 1]
                view = memoryview(os.pread(self._records.fileno(), end - base, base))
                for i in ordered[first:k]:
                    out[i] = (view, base)
                first = k
        return out

    def close(self) -> None:
        for fh in [self._records, *self._band_files]:
            fh.close()
        self._cleanup()
