"""near_dedup as file-to-file tasks (`run.dedup: sharded`): memory bounded per task,
the same kept set and rejects for any number of tasks, workers or engine.

The result equals `NearDedup.reduce` (the in-process path) document for document:
the same candidate pairs (LSH buckets in keep order, at most `max_bucket` better-
ranked members per document and band), the same verification (exact Jaccard of
the shingle sets, or the signature estimate), the same greedy keep rule (a
document is dropped when a *kept* candidate, or a document kept by an earlier
run, reaches the threshold; keep order = earliest `created`, then input order)
and the same `dup_of`. The work is split into tasks that any engine runs:

1. map (in `run_map_task`): per input task, the near key of each document goes
   to files instead of the keys work file: a docs table (order, date, shingle
   offsets), the shingle sets, the signatures, the ids, and per band the band
   keys sorted with their positions. Documents are addressed by (task, position):
   no global id service.
2. merge, one task per (band, key range): reads its key range from every map
   task's sorted band keys (binary search, so only that slice) and from the
   cross-run index; buckets in keep order give the candidate pairs (with the
   default `max_bucket` small buckets give every pair, a bucket larger than
   that gives each member its `max_bucket` best-ranked ones, so never k^2);
   each pair is verified in the task; the pairs at or above the threshold are
   written as edges.
3. resolve, in the driver, over the edge files only: connected components
   (union-find on order keys), then in each component the greedy rule in keep
   order. The greedy decision of a document depends only on its neighbours, so
   per-component resolution equals the global sequential pass. Memory is the
   documents that have a near-copy, not the corpus.
4. the per-task filter (`pipeline/sharded_run.py`) removes the dropped documents.
5. stage, one task per (band, key range): this run's kept documents' band keys,
   sorted, as the run's segment of the cross-run index; the map task's docs
   files are copied next to them. `commit_segments` moves the segment into
   OUTPUT/state/<index_dir>/bands/segments/<run-id>/ (idempotent rename) after
   the manifest. Later runs' merge tasks join the segments' key ranges.

Edges are verified per band, so a pair that collides in several bands is
verified in each (2-4 times for true near-copies at the default banding): the
price of never holding more than one (band, key range) in a task.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import workfile
from pipeline.engine import Engine
from pipeline.faults import checkpoint
from pipeline.s6_dedup.corpus_state import Digest, read_change
from pipeline.s6_dedup.index import IndexMismatch
from pipeline.s6_dedup.keep_rule import (
    Match,
    better,
    earlier_run_match,
    estimate,
    jaccard,
    near_drop,
    this_run_match,
)
from pipeline.s6_dedup.lsh import band_keys, pairs_against, pairs_within
from pipeline.s7_write.atomic import write_atomic
from pipeline.step import DocRef, Drop

CREATED_WIDTH = 64  # bytes of `created` compared by the keep rule (ISO date-times are ~25)
DOC_DTYPE = np.dtype(
    [
        ("order", "<i8"),
        ("undated", "u1"),
        ("created", f"S{CREATED_WIDTH}"),
        ("sh_off", "<i8"),
        ("sh_len", "<i8"),
    ]
)
ROWS_PER_MERGE = 400_000  # rows of one band in one merge task, when the number of key ranges is automatic
SEGMENT = "segment"  # in <run>/delta/<step>/: the run's part of the cross-run index
BANDS = "bands"  # under the step's index dir: meta.json and segments/<run-id>/
COMMIT_FILE = "sharded.json"  # in <run>/delta/<step>/: where the staged segment goes (kept after the move)
_FILES = ("docs", "sh", "sig", "keys", "pos", "ids")


def handles(step) -> bool:
    """Whether the step's reduce runs as sharded tasks (near_dedup; its class says so)."""
    return getattr(step, "shardable", False)


def near_files(directory: Path, task_index: int, step_name: str = "near_dedup") -> dict[str, Path]:
    stem = Path(directory) / f"task-{task_index:06d}.{step_name}"
    # ids: a work file (pipeline/workfile.py); the name ends .pkl for the index segments of older corpora,
    # whose pickles are refused (WorkFileError), never loaded
    return {name: Path(f"{stem}.{name}.{'pkl' if name == 'ids' else 'npy'}") for name in _FILES}


def _save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
    os.replace(tmp, path)


def _created_bytes(created) -> bytes:
    return b"" if created is None else str(created).encode("utf-8", "surrogatepass")[:CREATED_WIDTH]


# --- 1. map side -----------------------------------------------------------------------


def write_map_files(
    pipeline, work_dir: Path, task_index: int, refs: list[DocRef], keys: list[tuple]
) -> list[tuple]:
    """Write the near keys of one map task to its files; return the keys with those slots emptied."""
    slots = [list(k) for k in keys]
    for position, step in enumerate(pipeline.global_steps):
        if not handles(step):
            continue
        rows = [(i, k[position]) for i, k in enumerate(slots) if k and k[position] is not None]
        docs = np.zeros(len(rows), DOC_DTYPE)
        shingles, signatures, ids, offset = [], [], [], 0
        for j, (i, (signature, sh)) in enumerate(rows):
            ref = refs[i]
            created = _created_bytes(ref.created)
            sh = np.zeros(0, np.uint32) if sh is None else np.asarray(sh, np.uint32)
            docs[j] = (ref.order, not created, created, offset, sh.size)
            offset += sh.size
            shingles.append(sh)
            signatures.append(np.asarray(signature, np.uint32))
            ids.append(ref.id)
            slots[i][position] = None
        num_perm = step.options["num_perm"]
        sig = np.stack(signatures) if signatures else np.zeros((0, num_perm), np.uint32)
        bk = band_keys(sig, step.bands, step.rows).T if len(rows) else np.zeros((step.bands, 0), np.uint64)
        order = np.argsort(bk, axis=1, kind="stable")
        paths = near_files(work_dir, task_index, step.name)
        _save(paths["docs"], docs)
        _save(paths["sh"], np.concatenate(shingles) if shingles else np.zeros(0, np.uint32))
        _save(paths["sig"], sig)
        _save(paths["keys"], np.ascontiguousarray(np.take_along_axis(bk, order, axis=1)))
        _save(paths["pos"], order.astype(np.uint32))
        write_atomic(paths["ids"], workfile.dumps(ids))
    return [tuple(k) for k in slots]


# --- 2. merge per (band, key range) ----------------------------------------------------


def key_range(r: int, n_ranges: int) -> tuple[int, int]:
    """[lo, hi) of the r-th of n equal slices of the uint64 band key space (hi may be 2**64)."""
    return (r << 64) // n_ranges, ((r + 1) << 64) // n_ranges


def _slice(sorted_keys: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    a = int(np.searchsorted(sorted_keys, np.uint64(lo), side="left"))
    b = len(sorted_keys) if hi >= 1 << 64 else int(np.searchsorted(sorted_keys, np.uint64(hi), side="left"))
    return a, b


class _DocFiles:
    """Random access to one map task's (or index segment task's) near files, memory-mapped lazily."""

    def __init__(self, paths: dict[str, Path]):
        self.paths = paths
        self._docs: np.ndarray | None = None
        self._sh: np.ndarray | None = None
        self._sig: np.ndarray | None = None
        self._ids: list[str] | None = None

    @property
    def docs(self) -> np.ndarray:
        if self._docs is None:
            self._docs = np.load(self.paths["docs"], mmap_mode="r")
        return self._docs

    def shingles(self, pos: int) -> np.ndarray:
        if self._sh is None:
            self._sh = np.load(self.paths["sh"], mmap_mode="r")
        row = self.docs[pos]
        return np.array(self._sh[row["sh_off"] : row["sh_off"] + row["sh_len"]])

    def signature(self, pos: int) -> np.ndarray:
        if self._sig is None:
            self._sig = np.load(self.paths["sig"], mmap_mode="r")
        return np.array(self._sig[pos])

    def id(self, pos: int) -> str:
        if self._ids is None:
            self._ids = workfile.load(self.paths["ids"])
        return self._ids[pos]


@dataclass
class MergeJob:
    step_name: str
    bands: list[int]  # handled one after the other: memory is one band's key range at a time
    range_index: int
    n_ranges: int
    work_dir: str
    tasks: list[int]  # map task indexes with near files
    segments: list[str]  # index segment dirs, in commit order
    options: dict  # threshold, verify, max_bucket
    retired: str = ""  # .json of {"runs": [...], "ids": [...]}: index entries this run retires (ignored)

    @property
    def paths(self) -> dict[str, Path]:
        stem = Path(self.work_dir) / (
            f"{self.step_name}-merge-r{self.range_index:05d}-of-{self.n_ranges:05d}"
            f"-b{self.bands[0]:03d}-{self.bands[-1]:03d}"
        )
        return {"edges": Path(f"{stem}.edges.pkl"), "done": Path(f"{stem}.done")}


@workfile.plain
@dataclass
class MergeResult:
    counters: Counter = field(default_factory=Counter)
    resumed: bool = False  # read back from the done marker of an earlier, killed attempt


def rows_path(work_dir: Path, step_name: str, band: int, r: int, n_ranges: int) -> Path:
    """This run's rows of one (band, key range), kept for the stage task."""
    return Path(work_dir) / f"{step_name}-rows-b{band:03d}-r{r:05d}-of-{n_ranges:05d}.npy"


ROW_DTYPE = np.dtype(
    [
        ("key", "<u8"),
        ("task", "<i8"),
        ("pos", "<i8"),
        ("order", "<i8"),
        ("undated", "u1"),
        ("created", f"S{CREATED_WIDTH}"),
    ]
)


class _MapFiles:
    """One map task's near files for a merge task. Nothing is kept open between reads: a merge task
    reads from every map task, and a memory map holds a file descriptor, so keeping three per map
    task open ran out of descriptors (EMFILE at ~340 map tasks under `ulimit -n 1024`)."""

    def __init__(self, work_dir: Path, task: int, step_name: str):
        self.paths = near_files(work_dir, task, step_name)
        self.dropped = _load_dropped(dropped_path(work_dir, task, step_name))

    def band_slice(self, band: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(keys, positions, docs rows) of the band's keys in [lo, hi), copied; None when there are none."""
        keys = np.load(self.paths["keys"], mmap_mode="r")
        if keys.shape[1] == 0:
            return None
        a, b = _slice(keys[band], lo, hi)
        if a == b:
            return None
        pos = np.array(np.load(self.paths["pos"], mmap_mode="r")[band, a:b], dtype=np.int64)
        docs = np.load(self.paths["docs"], mmap_mode="r")[pos]  # fancy indexing copies
        return np.array(keys[band, a:b]), pos, docs


def _this_run_rows(opened: dict[int, _MapFiles], band: int, lo: int, hi: int) -> np.ndarray:
    """This run's rows of the band in [lo, hi), minus documents earlier global steps dropped, in
    (key, keep rank) order."""
    parts = []
    for t, files in opened.items():
        got = files.band_slice(band, lo, hi)
        if got is None:
            continue
        keys, pos, docs = got
        rows = np.zeros(keys.size, ROW_DTYPE)
        rows["key"], rows["task"], rows["pos"] = keys, t, pos
        rows["order"], rows["undated"], rows["created"] = docs["order"], docs["undated"], docs["created"]
        if files.dropped.size:
            rows = rows[~np.isin(rows["order"], files.dropped)]
        parts.append(rows)
    rows = np.concatenate(parts) if parts else np.zeros(0, ROW_DTYPE)
    return rows[np.lexsort((rows["order"], rows["created"], rows["undated"], rows["key"]))]


def _index_rows(job: MergeJob, band: int, lo: int, hi: int) -> tuple[np.ndarray, list[Path]]:
    """Earlier runs' kept documents in the band and [lo, hi): rows (segment number in `task`'s high
    bits) sorted by key, then segment (commit order), then keep rank, as the in-process index."""
    parts: list[np.ndarray] = []
    seg_dirs: list[Path] = []
    for s, segment_dir in enumerate(job.segments):
        segment = Path(segment_dir)
        meta = json.loads((segment / "meta.json").read_text())
        n = meta["n_ranges"]
        first, last = (lo * n) >> 64, min(n - 1, ((hi - 1) * n) >> 64)
        for r in range(first, last + 1):
            stem = segment / f"band-{band:03d}" / f"range-{r:05d}-of-{n:05d}"
            if not Path(f"{stem}.keys.npy").exists():
                continue
            keys = np.load(f"{stem}.keys.npy", mmap_mode="r")
            a, b = _slice(keys, lo, hi)
            if a == b:
                continue
            refs = np.array(np.load(f"{stem}.refs.npy", mmap_mode="r")[a:b])
            rows = np.zeros(b - a, ROW_DTYPE)
            rows["key"] = keys[a:b]
            rows["task"] = (s << 32) | (refs >> np.uint64(32)).astype(np.int64)
            rows["pos"] = (refs & np.uint64(0xFFFFFFFF)).astype(np.int64)
            parts.append(rows)
        seg_dirs.append(segment)
    if not parts:
        return np.zeros(0, ROW_DTYPE), seg_dirs
    rows = _without_retired(job, np.concatenate(parts), seg_dirs)
    for task_field in np.unique(rows["task"]).tolist():  # keep rank from the segment's docs tables
        mine = rows["task"] == task_field
        s, t = task_field >> 32, task_field & 0xFFFFFFFF
        docs = np.load(near_files(seg_dirs[s] / "docs", t, job.step_name)["docs"], mmap_mode="r")[
            rows["pos"][mine]
        ]
        rows["order"][mine], rows["undated"][mine], rows["created"][mine] = (
            docs["order"],
            docs["undated"],
            docs["created"],
        )
    segment_no = rows["task"] >> 32
    return rows[
        np.lexsort((rows["order"], rows["created"], rows["undated"], segment_no, rows["key"]))
    ], seg_dirs


def _without_retired(job: MergeJob, rows: np.ndarray, seg_dirs: list[Path]) -> np.ndarray:
    """Rows of index entries this run retires (their input changed) left out, as if already gone."""
    if not job.retired:
        return rows
    retired = json.loads(Path(job.retired).read_text())
    runs, ids = set(retired["runs"]), set(retired["ids"])
    keep = np.ones(rows.size, dtype=bool)
    for task_field in np.unique(rows["task"]).tolist():
        s, t = task_field >> 32, task_field & 0xFFFFFFFF
        if seg_dirs[s].name not in runs:
            continue
        task_ids = workfile.load(near_files(seg_dirs[s] / "docs", t, job.step_name)["ids"])
        gone = np.array([doc_id in ids for doc_id in task_ids], dtype=bool)  # by position
        mine = rows["task"] == task_field
        keep[mine] = ~gone[rows["pos"][mine]]
    return rows[keep]


def merge_task(job: MergeJob) -> MergeResult:
    """Candidate pairs of one key range in each of the job's bands, verified; edges at or above the
    threshold (and matches in the cross-run index) to one file."""
    paths = job.paths
    if paths["done"].exists():
        done = workfile.load(paths["done"])
        done.resumed = True
        return done
    lo, hi = key_range(job.range_index, job.n_ranges)
    work_dir = Path(job.work_dir)
    opened = {t: _MapFiles(work_dir, t, job.step_name) for t in job.tasks}
    merger = _Merger(job, opened)
    for band in job.bands:
        rows = _this_run_rows(opened, band, lo, hi)
        _save(rows_path(work_dir, job.step_name, band, job.range_index, job.n_ranges), rows)
        index, seg_dirs = _index_rows(job, band, lo, hi)
        merger.band(rows, index, seg_dirs)
    write_atomic(
        paths["edges"], workfile.dumps({"edges": merger.edges, "hits": merger.hits, "nodes": merger.nodes})
    )
    result = MergeResult(merger.counters)
    write_atomic(paths["done"], workfile.dumps(result))
    return result


class _Merger:
    """Candidate pairs in one band's rows (and against the index), verified; shingle sets or
    signatures read once per document and merge task (up to CACHE_DOCS of them)."""

    CACHE_DOCS = 50_000
    OPEN_FILES = 64  # map tasks (or index segment tasks) whose doc files are open at once

    def __init__(self, job: MergeJob, opened: dict[int, _MapFiles]):
        self.job, self.opened = job, opened
        self.exact = job.options["verify"] == "exact"
        self.threshold = job.options["threshold"]
        self.counters: Counter = Counter()
        self.edges: list = []  # (later order, earlier order, similarity)
        self.hits: list = []  # (later order, similarity, index keep rank, index id)
        self.nodes: dict = {}  # order -> (undated, created, id)
        self._files: dict[tuple[int, int], _DocFiles] = {}  # least recently used first
        self._content: dict[tuple, np.ndarray] = {}

    def _doc_files(self, where: tuple[int, int], seg_dirs: list[Path]) -> _DocFiles:
        got = self._files.pop(where, None)
        if got is not None:
            self._files[where] = got  # most recently used last
        else:
            while len(self._files) >= self.OPEN_FILES:  # bounded: its memory maps (descriptors) close
                del self._files[next(iter(self._files))]
            s, t = where
            got = self._files[where] = _DocFiles(
                self.opened[t].paths if s < 0 else near_files(seg_dirs[s] / "docs", t, self.job.step_name)
            )
        return got

    def _get(self, where: tuple[int, int], pos: int, seg_dirs: list[Path]) -> np.ndarray:
        key = (where, pos)
        got = self._content.get(key)
        if got is None:
            if len(self._content) >= self.CACHE_DOCS:  # bounded: a pair met again in a later band is re-read
                self._content.clear()
            files = self._doc_files(where, seg_dirs)
            got = self._content[key] = files.shingles(pos) if self.exact else files.signature(pos)
        return got

    def _similarity(self, x: np.ndarray, y: np.ndarray) -> float:
        self.counters["verified_pairs"] += 1
        sim = jaccard(x, y) if self.exact else estimate(x, y)
        if sim < self.threshold:
            self.counters["candidates_below_threshold"] += 1
        return sim

    def _node(self, row) -> int:
        order = int(row["order"])
        if order not in self.nodes:
            files = self._doc_files((-1, int(row["task"])), [])
            self.nodes[order] = (int(row["undated"]), bytes(row["created"]), files.id(int(row["pos"])))
        return order

    def band(self, rows: np.ndarray, index: np.ndarray, seg_dirs: list[Path]) -> None:
        max_bucket = self.job.options["max_bucket"]
        later, earlier = pairs_within(rows["key"], max_bucket)
        a_later, a_index = pairs_against(
            rows["key"], index["key"], np.arange(index.size, dtype=np.int64), max_bucket
        )
        self.counters["candidate_pairs"] += int(later.size + a_later.size)

        def run_doc(i: int) -> np.ndarray:
            return self._get((-1, int(rows[i]["task"])), int(rows[i]["pos"]), seg_dirs)

        for p, e in zip(later.tolist(), earlier.tolist()):
            sim = self._similarity(run_doc(p), run_doc(e))
            if sim >= self.threshold:
                self.edges.append((self._node(rows[p]), self._node(rows[e]), sim))
        for p, x in zip(a_later.tolist(), a_index.tolist()):
            irow = index[x]
            task_field, pos = int(irow["task"]), int(irow["pos"])
            where = (task_field >> 32, task_field & 0xFFFFFFFF)
            sim = self._similarity(run_doc(p), self._get(where, pos, seg_dirs))
            if sim >= self.threshold:
                rank = (where[0], int(irow["undated"]), bytes(irow["created"]), int(irow["order"]))
                self.hits.append((self._node(rows[p]), sim, rank, self._doc_files(where, seg_dirs).id(pos)))


# --- 3. resolve: components over the edges, the greedy keep rule in each ----------------


def resolve(edge_files: list[Path], exact: bool, counters: Counter) -> list[Drop]:
    """The documents to drop, from the verified edges and index hits of every merge task."""
    nodes: dict[int, tuple] = {}  # order -> (undated, created, id)
    earlier_of: dict[int, list[tuple[float, int]]] = {}
    best_hit: dict[int, Match] = {}
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for path in edge_files:
        part = workfile.load(path)
        nodes.update(part["nodes"])
        for later, earlier, sim in part["edges"]:
            earlier_of.setdefault(later, []).append((sim, earlier))
            a, b = find(later), find(earlier)
            if a != b:
                parent[max(a, b)] = min(a, b)
        for later, sim, rank, doc_id in part["hits"]:
            best_hit[later] = better(
                best_hit.get(later), earlier_run_match(nodes[later][2], doc_id, sim, rank)
            )
            find(later)

    def keep_rank(order: int) -> tuple:
        undated, created, _ = nodes[order]
        return undated, created, order

    components: dict[int, list[int]] = {}
    for order in nodes:
        components.setdefault(find(order), []).append(order)
    counters["components"] += len(components)
    kept: dict[int, bool] = {}
    drops = []
    for members in components.values():
        for p in sorted(members, key=keep_rank):
            best = best_hit.get(p)
            for sim, e in earlier_of.get(p, ()):
                if kept.get(e):
                    best = better(best, this_run_match(sim, keep_rank(e), nodes[e][2]))
            kept[p] = best is None
            if best is not None:
                drops.append(
                    near_drop(p, best, str(best.doc_id), exact, counters)
                )  # merge hits carry their id
    drops.sort(key=lambda d: d.order)
    return drops


# --- the driver's side of one sharded step -----------------------------------------------


def dropped_path(work_dir: Path, task_index: int, step_name: str) -> Path:
    return Path(work_dir) / f"task-{task_index:06d}.{step_name}.dropped-before.npy"


def _load_dropped(path: Path) -> np.ndarray:
    return np.load(path) if path.exists() else np.zeros(0, np.int64)


def index_root(step, state_dir) -> Path:
    return step.index_dir(state_dir) / BANDS


def check_index(step, state_dir) -> list[str]:
    """The cross-run index's segments (commit order); refuse an index built with other parameters."""
    root = index_root(step, state_dir)
    if not step.options["persist"] or state_dir is None or not root.is_dir():
        return []
    meta = root / "meta.json"
    if meta.exists():
        stored = json.loads(meta.read_text())
        wanted = json.loads(json.dumps(step.params))
        if stored != wanted:
            raise IndexMismatch(
                f"{root}: near_dedup index built with other parameters ({stored} vs {wanted}); "
                "use the same options, or another near_dedup.index_dir"
            )
    segments = root / "segments"
    return (
        [str(p) for p in sorted(segments.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        if segments.is_dir()
        else []
    )


@dataclass
class ShardedReduce:
    """What a sharded reduce found, and what staging the run's index segment needs of it."""

    drops: list[Drop]
    jobs: list[MergeJob]
    segments: list[str]  # the cross-run index's segments it merged with
    n_ranges: int
    timing: dict[str, float]  # merge_seconds, resolve_seconds


@dataclass
class ShardedWork:
    """Where a sharded reduce runs: the engine, the run's work directory and map tasks, the state."""

    engine: Engine
    work_dir: Path
    n_tasks: int  # map tasks
    state_dir: Path | None
    n_ranges: int = 0  # key ranges of the merge tasks (0 = from the number of documents)


def reduce_sharded(step, work: ShardedWork, drops: dict | np.ndarray) -> ShardedReduce:
    """The step's drops, computed by merge tasks on the engine and resolved here."""
    engine, work_dir, state_dir, n_ranges = work.engine, Path(work.work_dir), work.state_dir, work.n_ranges
    tasks, rows = [], 0
    # an array: the orders dropped so far, sorted (sharded exact dedup keeps no dict of drops)
    dropped_orders = drops if isinstance(drops, np.ndarray) else np.array(sorted(drops), dtype=np.int64)
    for t in range(work.n_tasks):
        paths = near_files(work_dir, t, step.name)
        if not paths["docs"].exists():
            continue
        tasks.append(t)
        orders = np.load(paths["docs"], mmap_mode="r")["order"]
        rows += orders.size
        # documents earlier global steps dropped are left out of the buckets, as in-process; a task's
        # orders are one contiguous stretch of the input order, so its drops are one slice
        mine = np.zeros(0, np.int64)
        if orders.size and dropped_orders.size:
            a = np.searchsorted(dropped_orders, orders.min(), side="left")
            b = np.searchsorted(dropped_orders, orders.max(), side="right")
            mine = dropped_orders[a:b][np.isin(dropped_orders[a:b], orders)]
        _save(dropped_path(work_dir, t, step.name), mine)
    n_ranges = n_ranges or max(1, -(-rows // ROWS_PER_MERGE))
    segments = check_index(step, state_dir)
    options = {k: step.options[k] for k in ("threshold", "verify", "max_bucket")}
    # each task takes a group of bands of one key range (files opened once per task), enough groups
    # to keep every worker busy; the result does not depend on the grouping
    groups = min(step.bands, max(1, -(-2 * getattr(engine, "workers", 1) // n_ranges)))
    band_groups = [list(g) for g in np.array_split(np.arange(step.bands), groups)]
    retired = ""
    if step.retired:
        retired = str(work_dir / f"{step.name}.retired.json")
        write_atomic(
            Path(retired),
            json.dumps({"runs": sorted(step.retired_runs), "ids": sorted(step.retired)}).encode(),
        )
    jobs = [
        MergeJob(
            step.name, [int(b) for b in bands], r, n_ranges, str(work_dir), tasks, segments, options, retired
        )
        for r in range(n_ranges)
        for bands in band_groups
    ]
    start = time.perf_counter()
    for result in engine.map_ordered(merge_task, iter(jobs)):
        step.stats.counters.update(result.counters)
        step.stats.counters["merge_tasks_resumed"] += result.resumed
        checkpoint("merge")
    merge_seconds = time.perf_counter() - start
    start = time.perf_counter()
    found = resolve([j.paths["edges"] for j in jobs], step.options["verify"] == "exact", step.stats.counters)
    step.stats.counters["indexed_segments"] = len(segments)
    timing = {
        "merge_seconds": round(merge_seconds, 3),
        "resolve_seconds": round(time.perf_counter() - start, 3),
    }
    return ShardedReduce(found, jobs, segments, n_ranges, timing)


# --- 5. stage and commit the cross-run index segment -------------------------------------


@dataclass
class StageJob:
    step_name: str
    bands: list[int]
    range_index: int
    n_ranges: int
    work_dir: str
    segment: str
    dropped: str  # .npy of this step's dropped orders (sorted)


def stage_task(job: StageJob) -> int:
    """Write the kept documents' band keys of one key range and some bands into the segment; returns rows."""
    dropped = np.load(job.dropped)
    total = 0
    for band in job.bands:
        rows = np.load(rows_path(Path(job.work_dir), job.step_name, band, job.range_index, job.n_ranges))
        if dropped.size and rows.size:
            rows = rows[~np.isin(rows["order"], dropped)]
        stem = Path(job.segment) / f"band-{band:03d}" / f"range-{job.range_index:05d}-of-{job.n_ranges:05d}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        _save(Path(f"{stem}.keys.npy"), np.ascontiguousarray(rows["key"]))
        refs = (rows["task"].astype(np.uint64) << np.uint64(32)) | rows["pos"].astype(np.uint64)
        _save(Path(f"{stem}.refs.npy"), refs)
        total += int(rows.size)
    return total


def stage_sharded(step, plan: ShardedReduce, engine, work_dir: Path, delta_dir: Path, run_id: str) -> None:
    """This run's segment of the cross-run index, in the run's delta dir (before the manifest)."""
    if not step.options["persist"]:
        return
    work_dir, delta_dir = Path(work_dir), Path(delta_dir)
    segment = delta_dir / SEGMENT
    shutil.rmtree(segment, ignore_errors=True)
    (segment / "docs").mkdir(parents=True)
    dropped = work_dir / f"{step.name}.dropped.npy"
    _save(dropped, np.array([d.order for d in plan.drops], dtype=np.int64))
    jobs = [
        StageJob(step.name, j.bands, j.range_index, j.n_ranges, str(work_dir), str(segment), str(dropped))
        for j in plan.jobs
    ]
    for _ in engine.map_ordered(stage_task, iter(jobs)):
        pass
    for task in sorted({t for j in plan.jobs for t in j.tasks}):  # the documents the keys point at
        source, target = near_files(work_dir, task, step.name), near_files(segment / "docs", task, step.name)
        for name in ("docs", "sh", "sig", "ids"):
            shutil.copyfile(source[name], target[name])
    meta = {
        "params": step.params,
        "index_dir": step.options["index_dir"],
        "run_id": run_id,
        "n_ranges": plan.n_ranges,
    }
    write_atomic(segment / "meta.json", json.dumps(meta, sort_keys=True).encode())
    write_atomic(delta_dir / COMMIT_FILE, json.dumps(meta, sort_keys=True).encode())  # outlives the move


def commit_segments(state_dir: Path, delta_root: Path) -> None:
    """Apply a finished sharded run to the cross-run index: move its staged segment in (a rename, so
    idempotent), take the records it retired out of the earlier segments, write the corpus digest.
    Every part can be redone after a kill (`<step>/sharded.json` stays in the delta to say how)."""
    if not Path(delta_root).is_dir():
        return
    for commit_file in sorted(Path(delta_root).glob(f"*/{COMMIT_FILE}")):
        meta = json.loads(commit_file.read_text())
        index_dir = Path(meta["index_dir"])
        root = (index_dir if index_dir.is_absolute() else Path(state_dir) / index_dir) / BANDS
        (root / "segments").mkdir(parents=True, exist_ok=True)
        if not (root / "meta.json").exists():
            write_atomic(root / "meta.json", json.dumps(meta["params"], sort_keys=True).encode())
        segment, target = commit_file.parent / SEGMENT, root / "segments" / meta["run_id"]
        if segment.is_dir() and not target.exists():
            os.replace(segment, target)
        shutil.rmtree(segment, ignore_errors=True)
        checkpoint("segments_commit")  # tests kill here: segment moved in, retired entries not yet out
        retired, after = read_change(commit_file.parent)
        change = (
            json.loads((Path(delta_root) / "corpus.json").read_text())
            if (Path(delta_root) / "corpus.json").exists()
            else {}
        )
        retire_in_segments(root, set(change.get("runs", [])), set(retired), commit_file.parent.name)
        if after is not None:
            write_digest(root, after)


def retire_in_segments(root: Path, runs: set[str], ids: set[str], step_name: str) -> None:
    """Remove the index entries of `ids` from the segments of `runs` (the runs that kept them): their
    band rows go; the docs files stay (positions do not move). Idempotent."""
    for run_id in sorted(runs):
        segment = root / "segments" / run_id
        if not ids or not segment.is_dir():
            continue
        gone = []
        for ids_file in sorted((segment / "docs").glob(f"task-*.{step_name}.ids.pkl")):
            task = int(ids_file.name.split(".")[0].split("-")[1])
            task_ids = workfile.load(ids_file)
            gone += [(task << 32) | pos for pos, doc_id in enumerate(task_ids) if doc_id in ids]
        if not gone:
            continue
        gone_refs = np.array(gone, dtype=np.uint64)
        for refs_file in sorted(segment.glob("band-*/range-*.refs.npy")):
            refs = np.load(refs_file)
            keep = ~np.isin(refs, gone_refs)
            if keep.all():
                continue
            keys_file = refs_file.with_name(refs_file.name.replace(".refs.npy", ".keys.npy"))
            _save(keys_file, np.load(keys_file)[keep])  # keys first: a kill between leaves a redo-able state
            _save(refs_file, refs[keep])


# --- the index describes the corpus (s6_dedup/corpus_state.py) -----------------------------

DIGEST_FILE = "corpus.json"  # under bands/: the corpus digest the segments describe


def write_digest(root: Path, digest) -> None:
    write_atomic(Path(root) / DIGEST_FILE, json.dumps(digest.as_dict(), sort_keys=True).encode())


def read_digest(root: Path):
    return Digest.from_dict(json.loads((Path(root) / DIGEST_FILE).read_text()))


def segments_problem(step, state_dir, expected) -> str | None:
    """Why the sharded index does not describe the corpus with digest `expected`, or None."""
    root = index_root(step, state_dir)
    if not root.is_dir():
        return None if expected.documents == 0 else f"{root} is missing"
    if not (root / DIGEST_FILE).exists():
        return f"{root} carries no corpus digest (made by an older version)"
    try:
        found = read_digest(root)
        for segment in (root / "segments").iterdir() if (root / "segments").is_dir() else ():
            json.loads((segment / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        return f"{root} is unreadable ({exc})"
    if found != expected:
        return f"{root} describes another state of the corpus (index: {found}; corpus: {expected})"
    return None


def write_segment(step, segment: Path, run_id: str, rows: list[tuple]) -> None:
    """One run's segment, from (id, created, signature, shingles) rows in keep order (a rebuild):
    one docs task, one key range per band, the layout `stage_task` writes."""
    docs = np.zeros(len(rows), DOC_DTYPE)
    shingles, offset = [], 0
    for pos, (_doc_id, created, _signature, sh) in enumerate(rows):
        created = _created_bytes(created)
        sh = np.zeros(0, np.uint32) if sh is None else np.asarray(sh, np.uint32)
        docs[pos] = (pos, not created, created, offset, sh.size)
        offset += sh.size
        shingles.append(sh)
    signatures = np.stack([np.asarray(row[2], np.uint32) for row in rows])
    paths = near_files(segment / "docs", 0, step.name)
    paths["docs"].parent.mkdir(parents=True, exist_ok=True)
    _save(paths["docs"], docs)
    _save(paths["sh"], np.concatenate(shingles))
    _save(paths["sig"], signatures)
    write_atomic(paths["ids"], workfile.dumps([row[0] for row in rows]))
    keys = band_keys(signatures, step.bands, step.rows)
    for band in range(step.bands):
        order = np.lexsort((docs["order"], docs["created"], docs["undated"], keys[:, band]))
        stem = segment / f"band-{band:03d}" / "range-00000-of-00001"
        stem.parent.mkdir(parents=True, exist_ok=True)
        _save(Path(f"{stem}.keys.npy"), np.ascontiguousarray(keys[order, band]))
        _save(Path(f"{stem}.refs.npy"), order.astype(np.uint64))
    meta = {"params": step.params, "index_dir": step.options["index_dir"], "run_id": run_id, "n_ranges": 1}
    write_atomic(segment / "meta.json", json.dumps(meta, sort_keys=True).encode())
