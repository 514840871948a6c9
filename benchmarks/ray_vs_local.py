#!/usr/bin/env python3
"""Throughput of `--engine ray` and of the local engine, side by side, in one run.

    .venv/bin/pip install -e '.[ray]'
    .venv/bin/python benchmarks/ray_vs_local.py [--docs 10000] [--config config/default.yaml]

Input: ../shared/bench/dedup/visible-10k.jsonl.gz (7,000 real Vietnamese articles +
3,000 injected near-copies) read natively by the JSONL reader: the file itself for
--docs 10000, else its first --docs lines as one JSONL file. The file is cut into
record-range tasks (run.task_size, 2,000 by default: 5 tasks for 10k). Every
configuration processes it into a fresh corpus with the default config:

- local, 1 worker (near-dup reduce in the run process: dedup driver);
- local, 2 workers (dedup driver);
- local, 2 workers, dedup sharded (the merge tasks on the process pool): the cost of
  the sharded dedup path alone, without Ray;
- ray, a local Ray with 2 CPUs (dedup sharded, the Ray engine's default). Ray is
  started before the timed run ("warm", as on a cluster that is already up); its
  start-up time is reported on its own.

Local runs come first and run in this process; Ray is started only after them (a
process pool must not fork a process that runs Ray's threads). For each run: wall
time, documents/s, per-stage seconds from the manifest (summed over workers: CPU-ish
time) and, for the sharded runs, the merge and resolve times of near_dedup. It also
checks that every configuration kept the same ids and gave the same counts. A table
goes to stdout, everything to benchmarks/results/ray_vs_local.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, jsonl_records, require, shared_path

HERE = Path(__file__).resolve().parent
CORPUS = shared_path("bench", "dedup", "visible-10k.jsonl.gz")


def jsonl_input(n: int, tmp: Path) -> Path:
    """The benchmark file itself, or its first n lines as one JSONL file in tmp."""
    if n >= 10_000:
        return CORPUS
    path = tmp / f"visible-{n}.jsonl.gz"
    with gzip.open(CORPUS, "rb") as src, gzip.open(path, "wb") as dst:
        for _, line in zip(range(n), src):
            dst.write(line)
    return path


def kept_ids(run_dir: Path, manifest: dict) -> list[str]:
    ids = []
    for shard in manifest["shards"]:
        ids += [r["id"] for r in jsonl_records(run_dir / shard["file"])]
    return sorted(ids)


class Phases:
    """Wall-clock phase boundaries from the run's named checkpoints (pipeline/faults.py), and the
    sizes of the run's work files when the reduce ends (they are deleted at the end of the run)."""

    def __init__(self, out: Path):
        self.out, self.start, self.last, self.work = out, time.perf_counter(), {}, {}

    def __call__(self, point: str) -> None:
        self.last[point] = time.perf_counter() - self.start
        if point == "reduced":
            self.work = work_files(self.out)

    def seconds(self, total: float) -> dict:
        marks = [
            ("map", "task"),
            ("reduce", "reduced"),
            ("filter_and_stage", "staged"),
            ("report_and_manifest", "manifest"),
            ("commit", "committed"),
        ]
        result, before = {}, 0.0
        for name, point in marks:
            at = self.last.get(point, before)
            result[name] = round(at - before, 2)
            before = at
        result["after_commit"] = round(total - before, 2)
        return result


def work_files(out: Path) -> dict:
    """Files and bytes under the run's _work dir, by kind (the file name with numbers as N)."""
    kinds: dict = {}
    for path in Path(out).glob("runs/*/_work/**/*"):
        if path.is_file():
            kind = re.sub(
                r"\d+",
                "N",
                path.relative_to(path.parents[1]).as_posix() if path.parent.name == "out" else path.name,
            )
            entry = kinds.setdefault(kind, {"files": 0, "bytes": 0})
            entry["files"] += 1
            entry["bytes"] += path.stat().st_size
    return kinds


def one_run(label: str, config_path: Path, inputs: Path, workers: int, **run_options) -> dict:
    from pipeline import runner, sharded_run
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline

    overrides = {"run.progress": "off", **{f"run.{k}": v for k, v in run_options.items()}}
    config = load_config(config_path, overrides)
    with tempfile.TemporaryDirectory(prefix="nc-bench-") as out:
        phases = Phases(Path(out))
        saved = runner.checkpoint, sharded_run.checkpoint
        runner.checkpoint = sharded_run.checkpoint = phases
        try:
            start = time.perf_counter()
            result = run_pipeline(config, [inputs], out, workers=workers)
            seconds = time.perf_counter() - start
        finally:
            runner.checkpoint, sharded_run.checkpoint = saved
        manifest = result.manifest
        ids = kept_ids(result.run_dir, manifest)
        output_bytes = sum(p.stat().st_size for p in result.run_dir.iterdir() if p.name.endswith(".gz"))
        state_bytes = sum(p.stat().st_size for p in (Path(out) / "state").rglob("*") if p.is_file())
    near = manifest["stages"].get("near_dedup", {}).get("counters", {})
    return {
        "label": label,
        "engine": manifest["engine"],
        "dedup": manifest["dedup"],
        "workers": manifest["workers"],
        "tasks": manifest["tasks"],
        "seconds": round(seconds, 2),
        "docs_per_s": round(manifest["counts"]["documents"] / seconds, 1),
        "counts": manifest["counts"],
        "kept_ids_sha": _digest(ids),
        "phase_seconds": phases.seconds(seconds),
        "stage_seconds": {name: s["seconds"] for name, s in manifest["stages"].items()},
        "near_dedup": {
            k: near[k]
            for k in ("merge_seconds", "resolve_seconds", "candidate_pairs", "verified_pairs", "components")
            if k in near
        },
        "work_files": phases.work,
        "output_bytes": output_bytes,
        "state_bytes": state_bytes,
    }


def _digest(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "default.yaml")
    args = parser.parse_args()
    require(CORPUS)
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1767225600")
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    tmp = tempfile.TemporaryDirectory(prefix="nc-bench-input-")
    inputs = jsonl_input(args.docs, Path(tmp.name))
    runs = [
        one_run("local, 1 worker", args.config, inputs, 1, engine="local"),
        one_run("local, 2 workers", args.config, inputs, 2, engine="local"),
        one_run("local, 2 workers, dedup sharded", args.config, inputs, 2, engine="local", dedup="sharded"),
    ]
    import ray

    os.environ["PYTHONPATH"] = str(
        ROOT
    )  # Ray's workers import this tree's pipeline (they inherit the environment)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray_start = time.perf_counter() - start
    try:
        runs.append(one_run("ray, 2 CPUs (warm)", args.config, inputs, 2, engine="ray"))
    finally:
        ray.shutdown()
    tmp.cleanup()
    same = len({(r["kept_ids_sha"], json.dumps(r["counts"], sort_keys=True)) for r in runs}) == 1

    print(
        f"\n{args.docs} documents ({inputs.name}, JSONL read natively), {os.cpu_count()} cores shared with other "
        f"work (load average before: {load_before}); "
        f"ray start-up {ray_start:.1f} s (not in the ray row)\n"
    )
    print(f"| {'configuration':34} | {'tasks':>5} | {'seconds':>8} | {'docs/s':>7} | {'near merge s':>12} |")
    print(f"|{'-' * 36}|{'-' * 7}|{'-' * 10}|{'-' * 9}|{'-' * 14}|")
    for r in runs:
        merge = r["near_dedup"].get("merge_seconds", "")
        print(
            f"| {r['label']:34} | {r['tasks']:>5} | {r['seconds']:>8.1f} | {r['docs_per_s']:>7.1f} | {merge!s:>12} |"
        )
    print(f"\nsame kept ids and counts in every configuration: {same}")
    print("phase seconds (wall; map includes listing, hashing and counting the input):")
    for r in runs:
        print(f"  {r['label']}: " + ", ".join(f"{k} {v:.2f}" for k, v in r["phase_seconds"].items()))
    print("stage seconds (summed over workers):")
    for r in runs:
        top = sorted(r["stage_seconds"].items(), key=lambda kv: -kv[1])[:6]
        print(f"  {r['label']}: " + ", ".join(f"{k} {v:.1f}" for k, v in top))
    results = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "note": "2 cores shared with other processes: timings are noisy",
        },
        "docs": args.docs,
        "input": inputs.name,
        "load_average_before": load_before,
        "load_average_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "ray_startup_seconds": round(ray_start, 2),
        "same_output": same,
        "runs": runs,
    }
    out = HERE / "results" / "ray_vs_local.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
