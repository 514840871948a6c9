"""The id check and exact_dedup as file-to-file tasks (`run.dedup: sharded`), so that the
driver's memory does not grow with the number of documents.

The result equals the in-process path (`ids.IdCheck.check`, then `ExactDedup.reduce`)
document for document: the same drops, reasons, details and `dup_of`. It mirrors the
sharded near dedup (`sharded.py`):

1. map (in `run_map_task`): each map task writes, sorted by key, its candidates' id rows
   (64-bit id hash, order, text hash) and exact rows (128-bit content hash, order,
   `created`), plus the ids themselves (`task-N.ids.bin`).
2. id reduce, one task per range of the id-hash space: every map task's slice of the
   range, in input order, through `IdCheck` (the registry read-only): the collisions,
   and the registry rows this run adds (`ids-part-R.npy`).
3. exact reduce, one task per range of the content-hash space: every map task's slice
   minus the id collisions, in input order, through the keep rule of `ExactDedup.reduce`
   (earliest `created`, then input order; a text the corpus already keeps, in the
   state's SQLite index read-only, loses to it).
4. the filter tasks join each range's drops (files sorted by order, read by binary
   search: only the task's stretch) with the driver's remove list (near dedup), follow
   `dup_of` chains, and write, beside the task's shards, the kept documents' content
   hashes (the exact index's delta) and the (dup_of, input) pairs (`copies`).

The driver holds only per-range counters and the orders of the dropped documents
(8 bytes each, for the near-dup step after it). Commit points: the parts are moved
into `<run>/delta/` before the manifest, and `ids.commit` / `ExactDedup.commit` apply
them after it, in one transaction each, as the single files of the in-process path.
Reduce tasks are redone after a kill (their outputs are rewritten atomically).
"""

from __future__ import annotations

import json
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from pipeline import ids
from pipeline.faults import checkpoint
from pipeline.keysfile import read_refs
from pipeline.s6_dedup.sharded import CREATED_WIDTH, _created_bytes, _save, key_range
from pipeline.s7_write.atomic import write_atomic
from pipeline.step import DocRef, Drop
from pipeline.workfile import task_paths

EXACT_DTYPE = np.dtype(
    [
        ("hi", "<u8"),  # first 8 bytes of the content hash (big endian): the range key
        ("lo", "<u8"),
        ("order", "<i8"),
        ("undated", "u1"),
        ("created", f"S{CREATED_WIDTH}"),
        ("id_off", "<i8"),
        ("id_len", "<i4"),
    ]
)
ID_DTYPE = np.dtype(
    [
        ("key", "<u8"),  # the id hash (ids._h) + 2**63: the range key
        ("order", "<i8"),
        ("text", "<i8"),
        ("id_off", "<i8"),
        ("id_len", "<i4"),
    ]
)
DROP_DTYPE = np.dtype(
    [("order", "<i8"), ("kind", "u1"), ("s_off", "<i8"), ("d_len", "<i4"), ("u_len", "<i4")]
)
ROWS_PER_REDUCE = 250_000  # rows of one reduce task when the number of ranges is automatic
KIND_ID, KIND_EXACT = 0, 1
HASHES_PART = "hashes-{:06d}.tsv"  # in <run>/delta/exact_dedup/: one per filter task
IDS_PART = "ids-part-{:05d}.npy"  # in <run>/delta/_ids/: one per id range, rows (id, key, text)
COPIES_PARTS = "copies-parts"  # in <run>/delta/: copies-<task>.json


def handles(step) -> bool:
    """The built-in exact_dedup (a subclass of it keeps its own reduce, run in the driver)."""
    from pipeline.s6_dedup.exact import ExactDedup

    return type(step) is ExactDedup


def map_paths(work_dir: Path, index: int) -> dict[str, Path]:
    stem = Path(work_dir) / f"task-{index:06d}"
    return {name: Path(f"{stem}.{name}") for name in ("exact.npy", "idkeys.npy", "ids.bin")}


# --- 1. map side -----------------------------------------------------------------------


def write_map_parts(
    pipeline, work_dir: Path, index: int, refs: list[DocRef], keys: list, text_hashes: list
) -> list:
    """Write the task's id rows and exact rows, sorted by key; return the keys with the exact slot emptied."""
    blob = [ref.id.encode("utf-8", "surrogatepass") for ref in refs]
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blob], dtype=np.int64)]).astype(np.int64)
    rows = np.zeros(len(refs), ID_DTYPE)
    rows["key"] = np.array([ids._h(ref.id) + (1 << 63) for ref in refs], np.uint64)
    rows["order"] = [ref.order for ref in refs]
    rows["text"] = [0 if t is None else t for t in text_hashes]
    rows["id_off"], rows["id_len"] = offsets[:-1], np.diff(offsets)
    paths = map_paths(work_dir, index)
    _save(paths["idkeys.npy"], rows[np.argsort(rows["key"], kind="stable")])
    write_atomic(paths["ids.bin"], b"".join(blob))
    positions = [p for p, step in enumerate(pipeline.global_steps) if handles(step)]
    keys = [list(k) for k in keys]
    exact = np.zeros(0, EXACT_DTYPE)
    if positions:
        pos = positions[0]
        mine = [i for i, k in enumerate(keys) if k and k[pos] is not None]
        exact = np.zeros(len(mine), EXACT_DTYPE)
        digests = np.frombuffer(b"".join(bytes(keys[i][pos]) for i in mine), ">u8").reshape(-1, 2)
        exact["hi"], exact["lo"] = digests[:, 0], digests[:, 1]
        exact["order"] = [refs[i].order for i in mine]
        exact["undated"] = [refs[i].created is None for i in mine]
        exact["created"] = [_created_bytes(refs[i].created) for i in mine]
        exact["id_off"], exact["id_len"] = offsets[:-1][mine], np.diff(offsets)[mine]
        for i in mine:
            keys[i][pos] = None
        exact = exact[np.lexsort((exact["lo"], exact["hi"]))]
    _save(paths["exact.npy"], exact)
    return [tuple(k) for k in keys]


def _range_rows(work_dir: Path, tasks: list[int], name: str, field: str, r: int, n: int):
    """Every map task's rows of key range r, with the id of each, in input order."""
    lo, hi = key_range(r, n)
    parts, id_list = [], []
    for t in tasks:
        paths = map_paths(work_dir, t)
        rows = np.load(paths[name], mmap_mode="r")
        keys = rows[field]
        a = int(np.searchsorted(keys, np.uint64(lo), side="left"))
        b = len(keys) if hi >= 1 << 64 else int(np.searchsorted(keys, np.uint64(hi), side="left"))
        if a == b:
            continue
        part = np.array(rows[a:b])
        parts.append(part)
        id_list += _ids_at(paths["ids.bin"], part)
    if not parts:
        return np.zeros(0, EXACT_DTYPE if name == "exact.npy" else ID_DTYPE), []
    rows = np.concatenate(parts)
    order = np.argsort(rows["order"], kind="stable")
    return rows[order], [id_list[i] for i in order]


def _ids_at(path: Path, rows: np.ndarray) -> list[str]:
    """The ids of `rows` from a map task's ids file, memory-mapped: only the pages they are on are read."""
    if path.stat().st_size == 0:
        return ["" for _ in range(len(rows))]
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as blob:
        offsets, lengths = rows["id_off"].tolist(), rows["id_len"].tolist()
        return [blob[o : o + k].decode("utf-8", "surrogatepass") for o, k in zip(offsets, lengths)]


# --- drop files: sorted by order, read by the filter tasks by binary search --------------


def _write_drops(stem: Path, drops: list[tuple[int, int, str, str | None]]) -> None:
    """(order, kind, detail, dup_of) rows, sorted by order."""
    drops.sort()
    rows = np.zeros(len(drops), DROP_DTYPE)
    blob, offset = [], 0
    for i, (order, kind, detail, dup_of) in enumerate(drops):
        d = detail.encode("utf-8", "surrogatepass")
        u = b"" if dup_of is None else dup_of.encode("utf-8", "surrogatepass")
        rows[i] = (order, kind, offset, len(d), -1 if dup_of is None else len(u))
        blob += [d, u]
        offset += len(d) + len(u)
    write_atomic(Path(f"{stem}.bin"), b"".join(blob))
    _save(Path(f"{stem}.npy"), rows)


def read_drops(stem: str, first: int, last: int, exact_name: str) -> list[tuple[int, tuple[str, Drop]]]:
    """The drops of one range file whose order is in [first, last]: (order, (stage, Drop))."""
    rows = np.load(f"{stem}.npy", mmap_mode="r")
    a = int(np.searchsorted(rows["order"], first, side="left"))
    b = int(np.searchsorted(rows["order"], last, side="right"))
    if a == b:
        return []
    out = []
    with open(f"{stem}.bin", "rb") as fh:
        fh.seek(int(rows[a]["s_off"]))
        end = rows[b - 1]
        data = fh.read(
            int(end["s_off"]) + int(end["d_len"]) + max(0, int(end["u_len"])) - int(rows[a]["s_off"])
        )
    base = int(rows[a]["s_off"])
    for row in rows[a:b]:
        s, d, u = int(row["s_off"]) - base, int(row["d_len"]), int(row["u_len"])
        detail = data[s : s + d].decode("utf-8", "surrogatepass")
        dup_of = None if u < 0 else data[s + d : s + d + u].decode("utf-8", "surrogatepass")
        order = int(row["order"])
        if row["kind"] == KIND_ID:
            out.append((order, ("read", Drop(order, ids.REASON, detail))))
        else:
            out.append((order, (exact_name, Drop(order, "exact_duplicate", detail, dup_of))))
    return out


# --- 2. id reduce -------------------------------------------------------------------------


@dataclass
class IdJob:
    range_index: int
    n_ranges: int
    work_dir: str
    tasks: list
    state_dir: str
    inputs: str  # JSON: {"owned": [input keys], "key_of": {file index: input key}}

    @property
    def stem(self) -> Path:
        return Path(self.work_dir) / f"ids-range-{self.range_index:05d}-of-{self.n_ranges:05d}.drops"


def id_task(job: IdJob) -> int:
    """The id collisions of one range of the id-hash space (written as a drop file); the registry
    rows it adds (a part of the run's ids delta). Returns the number of collisions."""
    from pipeline.plan import ORDER_BITS

    rows, id_list = _range_rows(
        Path(job.work_dir), job.tasks, "idkeys.npy", "key", job.range_index, job.n_ranges
    )
    inputs = orjson.loads(Path(job.inputs).read_bytes())
    key_of = {int(k): v for k, v in inputs["key_of"].items()}
    check = ids.IdCheck(Path(job.state_dir), inputs["owned"])
    try:
        refs = (
            (DocRef(int(row["order"]), doc_id), key_of[int(row["order"]) >> ORDER_BITS], int(row["text"]))
            for row, doc_id in zip(rows, id_list)
        )
        found = check.check(refs)
    finally:
        check.close()
    part = np.array(sorted((i, k, t) for i, (k, t) in check.seen.items()), np.int64).reshape(-1, 3)
    _save(Path(job.work_dir) / IDS_PART.format(job.range_index), part)
    _write_drops(job.stem, [(d.order, KIND_ID, d.detail, None) for d in found])
    return len(found)


# --- 3. exact reduce --------------------------------------------------------------------


@dataclass
class ExactJob:
    range_index: int
    n_ranges: int
    work_dir: str
    tasks: list
    state_dir: str
    dropped_before: str  # .npy of the orders the id check dropped (sorted)
    retired: str  # JSON list of the ids this run retires ("" = none)

    @property
    def stem(self) -> Path:
        return Path(self.work_dir) / f"exact-range-{self.range_index:05d}-of-{self.n_ranges:05d}.drops"


def exact_task(job: ExactJob) -> dict:
    """`ExactDedup.reduce` over one range of the content-hash space; the drops go to a drop file."""
    from pipeline.s6_dedup.exact import _lookup, _open_index

    rows, id_list = _range_rows(
        Path(job.work_dir), job.tasks, "exact.npy", "hi", job.range_index, job.n_ranges
    )
    dropped = np.load(job.dropped_before)
    if dropped.size and rows.size:
        keep = ~np.isin(rows["order"], dropped)
        rows, id_list = rows[keep], [d for d, k in zip(id_list, keep) if k]
    retired = set(json.loads(Path(job.retired).read_text())) if job.retired else set()
    best: dict[tuple[int, int], tuple[tuple, str]] = {}  # digest -> (keep rank, id)
    losers: list[tuple[int, str, tuple[int, int]]] = []
    drops: list[tuple[int, int, str, str | None]] = []
    self_ids = []  # documents dropped as a copy of a document with their own id (see follow_chains)
    index = _open_index(job.state_dir)
    try:
        for row, doc_id in zip(rows, id_list):
            digest = (int(row["hi"]), int(row["lo"]))
            order = int(row["order"])
            kept_before = _lookup(index, digest[0].to_bytes(8, "big") + digest[1].to_bytes(8, "big"))
            if kept_before is not None and kept_before not in retired:
                detail = f"same normalized text as {kept_before} (an earlier run)"
                drops.append((order, KIND_EXACT, detail, kept_before))
                if kept_before == doc_id:
                    self_ids.append(doc_id)
                continue
            rank = (bool(row["undated"]), bytes(row["created"]), order)
            current = best.get(digest)
            if current is None:
                best[digest] = (rank, doc_id)
            elif rank < current[0]:
                best[digest] = (rank, doc_id)
                losers.append((current[0][2], current[1], digest))
            else:
                losers.append((order, doc_id, digest))
    finally:
        if index is not None:
            index.close()
    for order, doc_id, digest in losers:
        winner = best[digest][1]
        drops.append((order, KIND_EXACT, f"same normalized text as {winner}", winner))
        if winner == doc_id:
            self_ids.append(doc_id)
    _write_drops(job.stem, drops)
    return {
        "docs_in": int(rows.size),
        "dropped": len(drops),
        "earlier_run_matches": len(drops) - len(losers),
        "self_ids": self_ids,
    }


# --- the driver's side ----------------------------------------------------------------------


class ShardedExact:
    """One run's sharded id check and exact dedup: plans the tasks, keeps only counters and
    the dropped orders (an int64 array), hands the drop files to the filter tasks."""

    def __init__(self, engine, work_dir: Path, state_dir: Path, todo, owned: list, n_ranges=0):
        from pipeline.state import input_key

        self.engine, self.work_dir, self.state_dir = engine, Path(work_dir), Path(state_dir)
        # the map tasks that wrote keys (names task-NNNNNN.idkeys.npy), in input order
        self.tasks = sorted(int(p.name[5:11]) for p in self.work_dir.glob("task-*.idkeys.npy"))
        rows = sum(np.load(map_paths(self.work_dir, t)["idkeys.npy"], mmap_mode="r").size for t in self.tasks)
        self.n_ranges = n_ranges or max(1, -(-rows // ROWS_PER_REDUCE))
        self.key_of = {f.index: input_key(f.path) for f in todo}
        self.inputs = self.work_dir / "ids-inputs.json"
        write_atomic(
            self.inputs, orjson.dumps({"owned": owned, "key_of": {str(k): v for k, v in self.key_of.items()}})
        )
        self.owned, self.exact_name = owned, "exact_dedup"
        self.stems: list[str] = []  # the drop files of every range (id and exact)
        self.id_dropped = self.exact_dropped = np.zeros(0, np.int64)
        self.n_dropped = 0
        self.self_ids: list[str] = []  # see follow_chains
        self.chains = ""

    def check_ids(self) -> None:
        jobs = [
            IdJob(r, self.n_ranges, str(self.work_dir), self.tasks, str(self.state_dir), str(self.inputs))
            for r in range(self.n_ranges)
        ]
        for found in self.engine.map_ordered(id_task, iter(jobs)):
            self.n_dropped += found
            checkpoint("id_reduce")
        self.stems += [str(j.stem) for j in jobs]
        self.id_dropped = self._orders([j.stem for j in jobs])

    def reduce(self, step, stats) -> None:
        """The exact step's drops, into drop files; its counters into `stats`."""
        self.exact_name = step.name
        before = self.work_dir / "exact-dropped-before.npy"
        _save(before, self.id_dropped)
        retired = ""
        if step.retired:
            retired = str(self.work_dir / "exact-retired.json")
            write_atomic(Path(retired), json.dumps(sorted(step.retired)).encode())
        jobs = [
            ExactJob(
                r, self.n_ranges, str(self.work_dir), self.tasks, str(self.state_dir), str(before), retired
            )
            for r in range(self.n_ranges)
        ]
        for result in self.engine.map_ordered(exact_task, iter(jobs)):
            stats.docs_in += result["docs_in"]
            stats.dropped["exact_duplicate"] += result["dropped"]
            stats.counters["earlier_run_matches"] += result["earlier_run_matches"]
            self.n_dropped += result["dropped"]
            self.self_ids += result["self_ids"]
            checkpoint("exact_reduce")
        stats.counters["reduce_tasks"] = len(jobs)
        self.stems += [str(j.stem) for j in jobs]
        self.exact_dropped = self._orders([j.stem for j in jobs])

    def reduce_iter(self, step, stats):
        """`reduce` as an (empty) iterator of drops, for the runner's check of a damaged index."""
        self.reduce(step, stats)
        yield from ()

    @staticmethod
    def _orders(stems: list[Path]) -> np.ndarray:
        parts = [np.load(f"{s}.npy", mmap_mode="r")["order"] for s in stems]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def dropped_orders(self, drops: dict) -> np.ndarray:
        """Every order dropped so far (the driver's `drops` and the drop files), sorted."""
        held = np.fromiter(drops.keys(), np.int64, len(drops))
        return np.sort(np.concatenate([self.id_dropped, self.exact_dropped, held]))

    def follow_chains(self, drops: dict) -> None:
        """Point `dup_of` at a document the corpus keeps, as runner._follow_dup_chains does over all
        the drops (only when two stages dropped documents): a copy whose original a later step
        (near dedup, in `drops`) dropped. Of the exact drops only those of a document whose id is
        its original's (the same document again, `self_ids`) can be an original: every other
        exact original is kept by exact dedup, or is an earlier run's document whose id no other
        document of this run has (the id check saw to it) or that this run retires (then it is
        no original). The map goes to a file for the filter tasks; the driver's drops are
        rewritten here."""
        stages = {stage for stage, _drop in drops.values()}
        stages |= {
            name
            for name, n in (("read", self.id_dropped.size), (self.exact_name, self.exact_dropped.size))
            if n
        }
        held = {order: drop.dup_of for order, (_s, drop) in drops.items() if drop.dup_of is not None}
        # the exact drops first, then the driver's: of two drops with one id the later step's wins, as
        # in runner._follow_dup_chains (insertion order of its `drops`)
        original_of = {doc_id: doc_id for doc_id in self.self_ids} if len(stages) > 1 else {}
        for t in self.tasks if held and len(stages) > 1 else []:
            refs = read_refs(task_paths(self.work_dir, t))
            original_of.update((ref.id, held[ref.order]) for ref in refs if ref.order in held)
        for order, (stage, drop) in list(drops.items()):
            drops[order] = (stage, _follow(drop, original_of))
        self.chains = str(self.work_dir / "exact-chains.json")
        write_atomic(Path(self.chains), orjson.dumps(original_of))

    def stage_ids(self, delta_root: Path, checked_keys: dict | None = None) -> None:
        """The registry delta: owned inputs and keys in ids.json, the rows in one part per range."""
        delta = Path(delta_root) / ids.DELTA
        delta.mkdir(parents=True, exist_ok=True)
        keys = {str(ids._h(k)): k for k in self.key_of.values()}
        body = {"owned": sorted(ids._h(k) for k in self.owned), "keys": keys, "ids": []}
        for r in range(self.n_ranges):
            os.replace(self.work_dir / IDS_PART.format(r), delta / IDS_PART.format(r))
        write_atomic(delta / "ids.json", orjson.dumps(body))

    def collect(self, out_dir: Path, delta_root: Path, tasks: list) -> None:
        """Move the filter tasks' exact-index and copies parts into the run's delta."""
        hashes, copies = Path(delta_root) / self.exact_name, Path(delta_root) / COPIES_PARTS
        hashes.mkdir(parents=True, exist_ok=True)
        copies.mkdir(parents=True, exist_ok=True)
        for task in tasks:
            os.replace(
                Path(out_dir) / HASHES_PART.format(task.index), hashes / HASHES_PART.format(task.index)
            )
            os.replace(
                Path(out_dir) / f"copies-{task.index:06d}.json", copies / f"copies-{task.index:06d}.json"
            )


def _follow(drop: Drop, original_of: dict) -> Drop:
    import dataclasses

    target, hops = drop.dup_of, 0
    while target in original_of and hops < 100:
        target, hops = original_of[target], hops + 1
    if not hops:
        return drop
    detail = f"{drop.detail} ({drop.dup_of} was dropped as a copy of {target})"
    return dataclasses.replace(drop, dup_of=target, detail=detail)


def _escape(doc_id: str) -> str:
    from pipeline.s6_dedup.exact import _escape as escape

    return escape(doc_id)


def iter_copies(delta_root: Path):
    """The (dup_of, input key) pairs of the filter tasks' parts, file by file."""
    for path in sorted((Path(delta_root) / COPIES_PARTS).glob("copies-*.json")):
        yield from (tuple(pair) for pair in orjson.loads(path.read_bytes()))
