#!/usr/bin/env python3
"""Cost of the sharded near-dup merge as a function of how many map tasks it reads from.

    .venv/bin/python benchmarks/archive/merge_fanin.py [--docs 10000] [--tasks 5,50,500] [--ranges 1,8]

Every merge task reads its key range of every band from every map task's sorted band-key
files (`pipeline/s6_dedup/sharded.py`), so its fixed cost grows with (map tasks x bands)
and the run's with (map tasks x key ranges x bands). This takes the same --docs documents
of ../shared/bench/dedup/visible-10k.jsonl.gz (near keys computed once, default near_dedup
options), cuts them into M map tasks, writes the map files and runs the merge tasks and the
resolution inline (one process, local disk), for each M and number of key ranges R. It
checks that every cut drops the same documents, and prints CPU seconds of the merge and
the cost per (map task x key range x band) slice. On shared storage (NFS) each slice also
costs a few file opens and small random reads, so these are lower bounds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # the repository (newsclean is installed editable)
CORPUS = ROOT.parent / "shared" / "bench" / "dedup" / "visible-10k.jsonl.gz"


def main() -> int:
    from pipeline.engine.local import LocalEngine
    from pipeline.s6_dedup import sharded
    from pipeline.s6_dedup.near import NearDedup
    from pipeline.step import DocRef

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--tasks", default="5,50,500")
    parser.add_argument("--ranges", default="1,8")
    args = parser.parse_args()
    step = NearDedup({"scratch_dir": ""}, {})
    docs = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for i, (_, line) in enumerate(zip(range(args.docs), fh)):
            record = json.loads(line)
            docs.append((DocRef(i, record["id"], None), (step.key(SimpleNamespace(text=record["text"])),)))
    results, expected = [], None
    for m in [int(x) for x in args.tasks.split(",")]:
        for r in [int(x) for x in args.ranges.split(",")]:
            with tempfile.TemporaryDirectory(prefix="nc-fanin-") as tmp:
                work = Path(tmp)
                size = -(-len(docs) // m)
                pipeline = SimpleNamespace(global_steps=[step])
                for t in range(m):
                    part = docs[t * size : (t + 1) * size]
                    sharded.write_map_files(pipeline, work, t, [ref for ref, _ in part], [k for _, k in part])
                step.stats.counters.clear()
                wall, cpu = time.perf_counter(), time.process_time()
                where = sharded.ShardedWork(LocalEngine(1), work, m, work / "state", r)
                reduced = sharded.reduce_sharded(step, where, {})
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                n_merge = len(reduced.jobs)
            dropped = [d.order for d in reduced.drops]
            expected = expected or dropped
            slices = m * r * step.bands
            row = {
                "map_tasks": m,
                "key_ranges": r,
                "merge_tasks": n_merge,
                "bands": step.bands,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "slices": slices,
                "cpu_ms_per_slice": round(cpu / slices * 1e3, 3),
                "drops": len(dropped),
                "same_drops": dropped == expected,
                "verified_pairs": step.stats.counters["verified_pairs"],
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    out = ROOT / "benchmarks" / "results" / "merge_fanin.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"docs": args.docs, "runs": results}, indent=2) + "\n")
    print(f"written: {out.relative_to(ROOT)}")
    return 0 if all(r["same_drops"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
