#!/usr/bin/env python3
"""What stays in the driver (the run process) under `--engine ray`, per document: for the
100M-document estimate of the Ray issue.

    .venv/bin/python benchmarks/driver_costs.py [--docs 1000000]

Each measure runs in a fresh subprocess (peak RSS is its own):

- exact_dedup.reduce over --docs (DocRef, 16-byte hash) pairs, 10% duplicates: the
  exact reduce stays in the driver (one dict entry per distinct text);
- the same against a cross-run index (OUTPUT/state/exact_dedup.sqlite) of --docs
  earlier hashes, a tenth of this run's documents found there: one SQLite lookup per
  document, as every nightly run after the first does;
- the sharded near-dup resolution (`resolve`) over edge files with --docs // 10
  documents in components of 2-6 (the documents that have a near-copy);
- the run loop's `drops` dict (order -> (stage, Drop)) for --docs // 5 drops.

Prints wall and CPU seconds (of the measuring process: the steadier figure on a shared
machine) and MB per million, and writes benchmarks/results/driver_costs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

EXACT = """
import random, resource, sys, time
from pipeline.s6_dedup.exact import ExactDedup
from pipeline.step import DocRef
n = int(sys.argv[1])
rng = random.Random(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def items():
    for i in range(n):
        h = rng.randrange(int(n * 0.9)).to_bytes(16, "little")
        yield DocRef(i, f"doc-{i:09d}", None), h
t, c = time.perf_counter(), time.process_time()
drops = sum(1 for _ in ExactDedup().reduce(items(), None))
print(time.perf_counter() - t, time.process_time() - c, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, drops)
"""

EXACT_INDEXED = """
import random, resource, sqlite3, sys, tempfile, time
from pathlib import Path
from pipeline.s6_dedup.exact import ExactDedup, INDEX_FILE
from pipeline.step import DocRef
n = int(sys.argv[1])
rng = random.Random(1)
state = Path(tempfile.mkdtemp())
with sqlite3.connect(state / INDEX_FILE) as db:  # earlier runs' kept hashes: n of them, a tenth met again
    db.execute("CREATE TABLE kept (hash BLOB PRIMARY KEY, id TEXT NOT NULL)")
    db.executemany("INSERT INTO kept VALUES (?, ?)",
                   (((n + i).to_bytes(16, "little"), f"old-{i:09d}") for i in range(n)))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def items():
    for i in range(n):
        h = (rng.randrange(int(n * 0.9)) + (n if i % 10 == 0 else 0)).to_bytes(16, "little")
        yield DocRef(i, f"doc-{i:09d}", None), h
t, c = time.perf_counter(), time.process_time()
drops = sum(1 for _ in ExactDedup().reduce(items(), state))
print(time.perf_counter() - t, time.process_time() - c, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, drops)
"""

RESOLVE = """
import pickle, random, resource, sys, tempfile, time
from collections import Counter
from pathlib import Path
from pipeline.s6_dedup.sharded import resolve
n = int(sys.argv[1])
rng = random.Random(1)
d = Path(tempfile.mkdtemp())
files, order, part = [], 0, {"edges": [], "hits": [], "nodes": {}}
while order < n:
    k = rng.randrange(2, 7)
    members = list(range(order, order + k))
    for m in members:
        part["nodes"][m] = (1, b"", f"doc-{m:09d}")
    for a, b in zip(members[1:], members[:-1]):
        part["edges"].append((a, b, 0.9))
    order += k
    if len(part["nodes"]) > 200_000:
        files.append(d / f"{len(files)}.pkl"); files[-1].write_bytes(pickle.dumps(part))
        part = {"edges": [], "hits": [], "nodes": {}}
files.append(d / f"{len(files)}.pkl"); files[-1].write_bytes(pickle.dumps(part))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t, c = time.perf_counter(), time.process_time()
drops = len(resolve(files, True, Counter()))
print(time.perf_counter() - t, time.process_time() - c, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, drops)
"""

DROPS = """
import resource, sys, time
from pipeline.step import Drop
n = int(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t, c = time.perf_counter(), time.process_time()
drops = {i * 3: ("near_dedup", Drop(i * 3, "near_duplicate", f"jaccard 0.912 with doc-{i:09d}", f"doc-{i:09d}"))
         for i in range(n)}
print(time.perf_counter() - t, time.process_time() - c, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, len(drops))
"""


def measure(code: str, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, str(n)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    seconds, cpu, mb, count = out.stdout.split()
    return {
        "n": n,
        "seconds": round(float(seconds), 2),
        "cpu_seconds": round(float(cpu), 2),
        "peak_mb": round(float(mb), 1),
        "result": int(count),
        "seconds_per_million": round(float(seconds) / n * 1e6, 2),
        "cpu_seconds_per_million": round(float(cpu) / n * 1e6, 2),
        "mb_per_million": round(float(mb) / n * 1e6, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    args = parser.parse_args()
    results = {
        "exact_reduce": measure(EXACT, args.docs),
        "exact_reduce_with_index": measure(EXACT_INDEXED, args.docs),
        "near_resolve": measure(RESOLVE, args.docs // 10),
        "drops_dict": measure(DROPS, args.docs // 5),
    }
    for name, r in results.items():
        print(
            f"{name:24} n={r['n']:>9}  {r['seconds']:7.2f} s wall  {r['cpu_seconds']:7.2f} s CPU  "
            f"{r['peak_mb']:8.1f} MB  -> {r['cpu_seconds_per_million']:6.2f} s CPU and {r['mb_per_million']:7.1f} MB "
            f"per million"
        )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    out = HERE / "results" / "driver_costs.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
