"""The dedup indexes describe the corpus: its kept documents, nothing more, nothing less.

Every index in OUTPUT/state/ carries the digest of the corpus it describes: the
number of kept documents of the corpus view and an order-independent sum of a
hash of their ids (`Digest`). Each run's manifest records what it changed
(`corpus_change`: the digest of the documents it added and of the earlier
records it retired, i.e. superseded), so the digest the indexes must carry is
known from the manifests alone, without reading the corpus.

At run start (before the map phase) each global step compares its index's
digest with that one; a missing, stale or unreadable index is rebuilt from the
corpus (the kept records hold the text the keys are computed from). A run's
changes reach the indexes in its commit: the records it retired leave them, its
kept documents enter them, and the new digest is written with them
(`<run>/delta/corpus.json`, read by every step's `commit`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import xxhash

from pipeline.corpus import Run, finished_runs, from_input, read_jsonl, superseded
from pipeline.s7_write.atomic import write_atomic
from pipeline.workfile import plain

CHANGE_FILE = "corpus.json"  # in <run>/delta/: retired ids and the corpus digest after the run
_MASK = (1 << 128) - 1


def id_hash(doc_id: str) -> int:
    return xxhash.xxh3_128_intdigest(doc_id.encode("utf-8", "surrogatepass"))


@plain
@dataclass(frozen=True)
class Digest:
    """Kept documents: how many, and the sum of their id hashes mod 2**128 (order-independent)."""

    documents: int = 0
    total: int = 0

    @classmethod
    def of(cls, ids) -> Digest:
        n, total = 0, 0
        for doc_id in ids:
            n, total = n + 1, (total + id_hash(doc_id)) & _MASK
        return cls(n, total)

    def __add__(self, other: Digest) -> Digest:
        return Digest(self.documents + other.documents, (self.total + other.total) & _MASK)

    def __sub__(self, other: Digest) -> Digest:
        return Digest(self.documents - other.documents, (self.total - other.total) & _MASK)

    def as_dict(self) -> dict:
        return {"documents": self.documents, "sum": f"{self.total:032x}"}

    @classmethod
    def from_dict(cls, data: dict | None) -> Digest | None:
        if data is None:
            return None
        try:
            return cls(int(data["documents"]), int(data["sum"], 16))
        except (TypeError, KeyError, ValueError):
            return None

    def __str__(self) -> str:
        return f"{self.documents} documents, sum {self.total:032x}"


# --- what a run retires, and the digest the manifests say ---------------------------------


def retired_records(output: Path, supersedes: list[dict]) -> Iterator[dict]:
    """The kept records of earlier runs that `supersedes` replaces (they leave the corpus view)."""
    return _records_of(finished_runs(output), supersedes)


def run_change(run: Run, runs: list[Run]) -> Digest:
    """What `run` changed in the corpus digest: from its manifest, or (made before digests were
    recorded) from its shards and those of the records it superseded."""
    change = run.manifest.get("corpus_change") or {}
    added, retired = Digest.from_dict(change.get("added")), Digest.from_dict(change.get("retired"))
    if added is not None and retired is not None:
        return added - retired
    added = Digest.of(
        r["id"] for shard in run.manifest.get("shards", []) for r in read_jsonl(run.dir / shard["file"])
    )
    earlier = [r for r in runs if r.id < run.id]
    retired = Digest.of(r["id"] for r in _records_of(earlier, run.manifest.get("supersedes", [])))
    return added - retired


def _records_of(runs: list[Run], supersedes: list[dict]) -> Iterator[dict]:
    """The records of `runs` that come from the (run, input) pairs `supersedes` names."""
    gone = superseded([Run(Path("."), {"supersedes": supersedes})])
    for run in runs:
        paths = gone.get(run.id) or set()
        for shard in run.manifest.get("shards", []) if paths else []:
            yield from (r for r in read_jsonl(run.dir / shard["file"]) if from_input(r, paths))


LEGACY_CACHE = "legacy_run_changes.json"  # in OUTPUT/state/: run_change of runs without `corpus_change`


def expected_digest(output: Path, runs: list[Run] | None = None, write_cache: bool = True) -> Digest:
    """The digest of the corpus view, from the finished runs' manifests. Runs made before manifests
    recorded it are read once; their change is cached in the state directory (runs never change)."""
    runs = finished_runs(output) if runs is None else runs
    cache_path = Path(output) / "state" / LEGACY_CACHE
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    except (OSError, ValueError):
        cache = {}
    digest, cached = Digest(), len(cache)
    for run in runs:
        if run.manifest.get("corpus_change") is None and run.id in cache:
            change = Digest.from_dict(cache[run.id]) or run_change(run, runs)
        else:
            change = run_change(run, runs)
            if run.manifest.get("corpus_change") is None:
                cache[run.id] = {"documents": change.documents, "sum": f"{change.total:032x}"}
        digest = digest + change
    if write_cache and len(cache) != cached and cache_path.parent.is_dir():
        write_atomic(cache_path, json.dumps(cache, sort_keys=True).encode())
    return digest


# --- the change a run commits to every index -----------------------------------------------


def write_change(delta_root: Path, retired_ids, retired_runs, after: Digest) -> None:
    """What every index's commit applies: the ids retired (kept by `retired_runs`), the digest after."""
    delta_root.mkdir(parents=True, exist_ok=True)
    write_atomic(
        delta_root / CHANGE_FILE,
        json.dumps(
            {"retired": sorted(retired_ids), "runs": sorted(retired_runs), "digest": after.as_dict()}
        ).encode(),
    )


def read_change(step_delta_dir: Path) -> tuple[list[str], Digest | None]:
    """(ids retired by the run, corpus digest after it) from `<run>/delta/corpus.json`; ([], None)
    for a run staged before digests were recorded."""
    path = Path(step_delta_dir).parent / CHANGE_FILE
    if not path.exists():
        return [], None
    data = json.loads(path.read_bytes())
    return list(data.get("retired", [])), Digest.from_dict(data.get("digest"))


# --- the corpus, read back to rebuild an index ---------------------------------------------


def kept_by_run(output: Path) -> Iterator[tuple[Run, Iterator[dict]]]:
    """Each finished run with its records in the corpus view (superseded ones left out), streamed
    in the order the run wrote them (input order). Read each run's records before the next run."""
    runs = finished_runs(output)
    replaced = superseded(runs)
    for run in runs:
        gone = replaced.get(run.id, set())
        yield (
            run,
            (
                r
                for shard in run.manifest.get("shards", [])
                for r in read_jsonl(run.dir / shard["file"])
                if not (gone and from_input(r, gone))
            ),
        )
