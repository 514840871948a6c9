"""near_dedup memory at scale: RAM per document of the reduce and of the persistent index.

    python ../shared/bench/dedup/make_corpus.py build --n 200000 --seed 2 --dup-frac 0.25 --out /tmp/c200k.jsonl
    python benchmarks/dedup_index_memory.py /tmp/c200k.jsonl [--workers 2] [--json OUT.json]

1. keys: the near_dedup key of every document (signature + shingle set), computed
   on a process pool and written to a keys file, as the run loop's map phase does;
2. day 1: in a fresh process, reduce over all documents, stage the delta and
   commit it into a new index (SQLite) -- peak RSS (VmHWM, reset between the
   phases through /proc/self/clear_refs) above the process's RSS before the
   reduce, for each phase, per document;
3. day 2: in a fresh process, a run of `--day2` documents (copies of indexed
   ones under new ids) queried against that index -- peak RSS above the
   baseline, per indexed document, and how many were dropped as copies of day 1.

RSS is what the kernel reports (ru_maxrss): Python objects, numpy arrays and
SQLite's page cache alike. datasketch's in-memory MinHashLSH, for comparison,
holds ~3.5 KB per document (benchmarks/dedup_throughput.py measures it).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

from common import ROOT

CHUNK = 1000


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """VmHWM: the process's peak resident set since it started or since _reset_peak()."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _keys_of(lines: list[str]) -> list[tuple]:
    from pipeline.document import Document
    from pipeline.s6_dedup.near import NearDedup

    step = _keys_of.step = getattr(_keys_of, "step", None) or NearDedup({})
    out = []
    for line in lines:
        record = json.loads(line)
        out.append((record["id"], step.key(Document(record["id"], record["text"]))))
    return out


def compute_keys(corpus: Path, keys_file: Path, workers: int) -> dict:
    def chunks():
        with open(corpus, encoding="utf-8") as fh:
            batch = []
            for line in fh:
                batch.append(line)
                if len(batch) == CHUNK:
                    yield batch
                    batch = []
            if batch:
                yield batch

    t0, n = time.perf_counter(), 0
    with Pool(workers) as pool, open(keys_file, "wb") as out:
        for part in pool.imap(_keys_of, chunks()):
            pickle.dump(part, out, protocol=pickle.HIGHEST_PROTOCOL)
            n += len(part)
    seconds = time.perf_counter() - t0
    return {
        "documents": n,
        "seconds": round(seconds, 1),
        "docs_per_s": round(n / seconds),
        "workers": workers,
    }


def _parts(keys_file: Path):
    with open(keys_file, "rb") as fh:
        while True:
            try:
                yield pickle.load(fh)
            except EOFError:
                return


def iter_items(keys_file: Path, start: int, stop: int, id_prefix: str = ""):
    from pipeline.step import DocRef

    order = 0
    with open(keys_file, "rb") as fh:
        while order < stop:
            try:
                part = pickle.load(fh)
            except EOFError:
                return
            for doc_id, key in part:
                if start <= order < stop:
                    yield DocRef(order, id_prefix + doc_id, None), key
                order += 1


def phase(keys_file: Path, state: Path, start: int, stop: int, id_prefix: str) -> dict:
    """One run's reduce + stage + commit, in this (fresh) process."""
    from pipeline.s6_dedup.index import index_stats
    from pipeline.s6_dedup.near import NearDedup

    step = NearDedup({"scratch_dir": str(state.parent)})
    indexed = index_stats(step.index_dir(state))["documents"]
    items = iter_items(keys_file, start, stop, id_prefix)
    first = next(items)  # the reader's first chunk in memory before the baseline, as in a run
    baseline = _rss_bytes()
    reset = _reset_peak()
    t0 = time.perf_counter()

    def all_items():
        yield first
        yield from items

    drops = sum(1 for _ in step.reduce(all_items(), state))
    t1 = time.perf_counter()
    reduce_peak = _peak_rss_bytes() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    stage_baseline = _rss_bytes()
    _reset_peak()
    with tempfile.TemporaryDirectory(dir=state.parent) as delta:
        step.stage(Path(delta))
        t2 = time.perf_counter()
        stage_peak = _peak_rss_bytes() if reset else None
        commit_baseline = _rss_bytes()
        _reset_peak()
        step.commit(state, Path(delta))
    t3 = time.perf_counter()
    commit_peak = _peak_rss_bytes() if reset else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    after = index_stats(step.index_dir(state))
    return {
        "documents": stop - start,
        "indexed_before": indexed,
        "dropped": drops,
        "earlier_run_matches": step.stats.counters.get("earlier_run_matches", 0),
        "candidate_pairs": step.stats.counters.get("candidate_pairs", 0),
        "reduce_seconds": round(t1 - t0, 1),
        "stage_seconds": round(t2 - t1, 1),
        "commit_seconds": round(t3 - t2, 1),
        "baseline_rss_bytes": baseline,
        "reduce_peak_rss_above_baseline_bytes": reduce_peak - baseline,
        "stage_peak_rss_above_baseline_bytes": None if stage_peak is None else stage_peak - baseline,
        "commit_peak_rss_above_baseline_bytes": None if commit_peak is None else commit_peak - baseline,
        "rss_after_reduce_above_baseline_bytes": stage_baseline - baseline,
        "rss_after_stage_above_baseline_bytes": commit_baseline - baseline,
        "peak_rss_above_baseline_bytes": max(reduce_peak, stage_peak or 0, commit_peak or 0, 0) - baseline
        if reset
        else peak - baseline,
        "indexed_after": after["documents"],
        "index_bytes_on_disk": after["bytes_on_disk"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--day2", type=int, default=10_000, help="documents of the day-2 run (copies of day-1 ones)"
    )
    ap.add_argument("--work", type=Path, help="work directory (default: a temp dir, removed at the end)")
    ap.add_argument(
        "--keys", type=Path, help="keys file to reuse, or to keep (computed when it does not exist)"
    )
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "dedup_index_memory.json")
    ap.add_argument("--phase", nargs=5, help=argparse.SUPPRESS)  # keys_file state start stop prefix (child)
    args = ap.parse_args()
    if args.phase:
        keys_file, state, start, stop, prefix = args.phase
        print(json.dumps(phase(Path(keys_file), Path(state), int(start), int(stop), prefix)))
        return
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        work = Path(work)
        keys_file = args.keys or work / "keys.pickle"
        if args.keys and args.keys.exists():  # reuse the keys of an earlier run (same corpus)
            keys = {"documents": sum(len(part) for part in _parts(keys_file)), "reused": str(keys_file)}
        else:
            keys = compute_keys(args.corpus, keys_file, args.workers)
        n = keys["documents"]
        state = work / "state"
        state.mkdir()
        result = {"keys": keys}
        for name, (start, stop, prefix) in {
            "day1_all": (0, n, ""),
            "day2_copies": (0, min(args.day2, n), "day2-"),
        }.items():
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    str(args.corpus),
                    "--phase",
                    str(keys_file),
                    str(state),
                    str(start),
                    str(stop),
                    prefix,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result[name] = json.loads(child.stdout.strip().splitlines()[-1])
        day1, day2 = result["day1_all"], result["day2_copies"]
        result["summary"] = {
            "documents": n,
            "day1_reduce_peak_rss_bytes_per_document": round(
                day1["reduce_peak_rss_above_baseline_bytes"] / n
            ),
            "day1_stage_peak_rss_bytes_per_document": round(
                (day1["stage_peak_rss_above_baseline_bytes"] or 0) / n
            ),
            "day1_commit_peak_rss_bytes_per_document": round(
                (day1["commit_peak_rss_above_baseline_bytes"] or 0) / n
            ),
            "day1_peak_rss_bytes_per_document": round(day1["peak_rss_above_baseline_bytes"] / n),
            "day2_query_peak_rss_bytes_per_indexed_document": round(
                day2["peak_rss_above_baseline_bytes"] / max(day2["indexed_before"], 1)
            ),
            "index_disk_bytes_per_indexed_document": round(
                day1["index_bytes_on_disk"] / max(day1["indexed_after"], 1)
            ),
            "day2_dropped_as_copies": f"{day2['earlier_run_matches']}/{day2['documents']}",
        }
    summary = result["summary"]
    print(f"{'near_dedup memory at ' + str(n) + ' documents (RSS above the baseline)':<60} bytes/doc")
    for key, label in (
        ("day1_reduce_peak_rss_bytes_per_document", "day 1 reduce (all docs) peak"),
        ("day1_stage_peak_rss_bytes_per_document", "day 1 stage (delta of kept docs) peak"),
        ("day1_commit_peak_rss_bytes_per_document", "day 1 commit (into the index) peak"),
        ("day1_peak_rss_bytes_per_document", "day 1 peak of the three"),
        ("day2_query_peak_rss_bytes_per_indexed_document", "day 2 run against the index, per indexed doc"),
        ("index_disk_bytes_per_indexed_document", "index on disk, per indexed doc"),
    ):
        print(f"{label:<60} {summary[key]:>9}")
    print(f"day 2 copies dropped: {summary['day2_dropped_as_copies']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
