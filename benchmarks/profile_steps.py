#!/usr/bin/env python3
"""CPU time per document of each step, in one process: where a run's time goes.

    .venv/bin/python benchmarks/profile_steps.py [-i INPUT] [-n 3000] [--pyinstrument out.html]

Reads the first N documents of INPUT (default ../shared/bench/articles-30k.jsonl.gz),
takes them through the default config's steps one step at a time (all documents
through a step, then the next), and reports process CPU time per document for
reading, each per-document step, each global step's key, and writing (record, JSON,
gzip). CPU time, not wall time, so the figures hold on a busy machine; a first
pass over a few documents loads models and rules so that setup is reported apart.
The run's per-document time limit is armed as in a run. The steps preload their models and
compiled kernels (pipeline/kernels.py) for N documents, as a run does before its first
document: the kernels are used from the first document when N >= 2,000 (their load is then
in setup), else after 2,000 per step; NEWSCLEAN_JIT=0|1 forces either path.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import orjson
from common import ROOT, shared_path

from pipeline.config import load_config
from pipeline.plan import list_inputs, plan_tasks, read_task
from pipeline.runner import build_pipeline
from pipeline.s7_write.records import kept_record
from pipeline.step import DocRef, GlobalStep
from pipeline.timelimit import set_doc_timeout

ARTICLES = shared_path("bench", "articles-30k.jsonl.gz")


def plan(inputs: list[str], config) -> list:
    return plan_tasks(list_inputs(inputs), config.run["task_size"], config.read)


def read_docs(inputs: list[str], config, n: int, tasks: list | None = None) -> list:
    docs = []
    for task in tasks if tasks is not None else plan(inputs, config):
        for doc in read_task(task, config.read):
            docs.append(doc)
            if len(docs) >= n:
                return docs
    return docs


def profile(inputs: list[str], config_path: str, n: int, warm: int = 50) -> list[tuple[str, float, int]]:
    config = load_config(config_path)
    pipeline = build_pipeline(config, "2024-01-01T00:00:00Z", "bench")
    set_doc_timeout(config.run["doc_timeout"])  # as a run does: the time limit's cost is the steps
    rows = []
    t = time.process_time()
    tasks = plan(inputs, config)  # hashes and counts (indexes) the whole input, once, in the driver
    planned = sum(t.records[1] - t.records[0] if t.records else len(t.files) for t in tasks)
    rows.append(("plan (whole input, driver)", time.process_time() - t, planned))
    t = time.process_time()
    docs = read_docs(inputs, config, n + warm, tasks)
    rows.append(("read", time.process_time() - t, len(docs)))
    warm_docs, docs = docs[:warm], docs[warm:]
    t = time.process_time()
    for step in pipeline.steps:  # setup: what a run loads before its first document (runner._preload_shared)
        step.preload(n)
    for step in pipeline.per_document:  # models, rules, caches
        warm_docs = list(step.run(warm_docs))
    for doc in warm_docs:
        for step in pipeline.global_steps:
            if not doc.dropped:
                step.key(doc)
    rows.append(("(setup, first documents)", time.process_time() - t, 0))
    decided = []  # template_lines: its keys, for its reduce and filter below
    for step in pipeline.steps:
        if isinstance(step, GlobalStep):
            live = [d for d in docs if not d.dropped]
            t = time.process_time()
            keys = [step.key(doc) for doc in live]
            rows.append((f"{step.name}.key", time.process_time() - t, len(live)))
            if hasattr(step, "write_edits"):
                decided.append((step, [(DocRef(n, d.id), k) for n, (d, k) in enumerate(zip(live, keys))]))
        else:
            n_in = sum(not d.dropped for d in docs)
            t = time.process_time()
            docs = list(step.run(docs))
            rows.append((step.name, time.process_time() - t, n_in))
    kept = [d for d in docs if not d.dropped]
    t = time.process_time()
    lines = [orjson.dumps(kept_record(d, pipeline.added, pipeline.collection)) + b"\n" for d in kept]
    rows.append(("record + JSON", time.process_time() - t, len(kept)))
    rows += _template_rows(decided, lines)
    data = b"".join(lines)
    for level in (6, 1):
        t = time.process_time()
        gzip.compress(data, compresslevel=level, mtime=0)
        rows.append((f"gzip level {level}", time.process_time() - t, len(kept)))
    return rows


def _template_rows(decided: list, lines: list[bytes]) -> list[tuple[str, float, int]]:
    """template_lines' reduce (counting, in the driver) and filter (kept records edited) per document."""
    from pipeline.s3_clean.template_lines import strip_record

    rows = []
    for step, items in decided:
        t = time.process_time()
        list(step.reduce(items, None))
        rows.append((f"{step.name}.reduce", time.process_time() - t, len(items)))
        edits = {"template": step.template, "max_chars": step.options["max_chars"]}
        t = time.process_time()
        for line in lines:
            strip_record(line, edits)
        rows.append((f"{step.name}.filter", time.process_time() - t, len(lines)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-i", "--input", nargs="+", default=[str(ARTICLES)])
    ap.add_argument("-c", "--config", default=str(ROOT / "config" / "default.yaml"))
    ap.add_argument("-n", type=int, default=3000, help="documents (default 3000)")
    ap.add_argument("--pyinstrument", metavar="HTML", help="also write a pyinstrument profile of the run")
    args = ap.parse_args(argv)
    profiler = None
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    rows = profile(args.input, args.config, args.n)
    if profiler:
        profiler.stop()
        Path(args.pyinstrument).write_text(profiler.output_html())
    n = args.n
    print(f"{'step':28} {'CPU s':>8} {'docs':>6} {'us/doc':>8} {'us per input doc':>17}")
    total = 0.0
    for name, seconds, docs in rows:
        per = f"{1e6 * seconds / docs:8.0f}" if docs else " " * 8
        if name.startswith("plan"):  # a figure per document of the whole input, not of the N read
            print(f"{name:28} {seconds:8.3f} {docs:6d} {per} {1e6 * seconds / docs if docs else 0:17.0f}")
            total += seconds * n / docs if docs else 0
            continue
        print(f"{name:28} {seconds:8.3f} {docs:6d} {per} {1e6 * seconds / n:17.0f}")
        if not name.startswith(("(setup", "gzip level 6")):
            total += seconds
    print(
        f"{'total (gzip level 1)':28} {total:8.3f} {n:6d} {'':8} {1e6 * total / n:17.0f}"
        f"   -> {n / total:.0f} docs/s per core"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
