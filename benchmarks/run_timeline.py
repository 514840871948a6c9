#!/usr/bin/env python3
"""A run's timeline, phase by phase: where the wall time of one `newsclean run` goes.

    python benchmarks/run_timeline.py -i ../shared/bench/articles-30k.jsonl.gz -w 2 [--json OUT]

Runs the pipeline in this process (as `python -m pipeline run -q --progress off` does, with
SOURCE_DATE_EPOCH set) and wraps the run path's phase functions to record, for each phase,
its wall seconds, the CPU seconds of this process (the driver) and of the finished workers
(RUSAGE_CHILDREN: a phase's pool is closed before the next phase starts). The map and filter
tasks record when they started and ended, and in which process, to show how they balance
over the workers. Start-up = interpreter and imports up to the run call. Measures only: the
run is the same run (same output).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

T_START = time.perf_counter()  # as early as possible: start-up is measured from here
CPU_START = time.process_time()

ROWS: list[dict] = []
TASK_LOG: Path | None = None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(name: str, fn, summed: bool = False):
    """fn timed, a row per call; `summed`: one row for all its calls (its start: the first's)."""

    def wrapper(*args, **kwargs):
        wall, cpu, child = time.perf_counter(), time.process_time(), _children_cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            label = name(*args) if callable(name) else name
            row = {
                "phase": label,
                "start": round(wall - T_START, 3),
                "wall": round(time.perf_counter() - wall, 3),
                "driver_cpu": round(time.process_time() - cpu, 3),
                "workers_cpu": round(_children_cpu() - child, 3),
            }
            before = next((r for r in ROWS if r["phase"] == label), None) if summed else None
            if before is None:
                ROWS.append(row)
            else:
                for key in ("wall", "driver_cpu", "workers_cpu"):
                    before[key] = round(before[key] + row[key], 3)

    return wrapper


def _log_task(kind: str, fn, job):
    """Run a task; append (kind, index, pid, start, end, CPU s) to the task log (from any process)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn(job)
    index = getattr(result, "index", -1)
    end, cpu = round(time.perf_counter() - T_START, 3), round(time.process_time() - cpu, 3)
    line = json.dumps([kind, index, os.getpid(), round(start - T_START, 3), end, cpu])
    with open(os.environ["TIMELINE_TASKS"], "a") as fh:
        fh.write(line + "\n")
    return result


_MAP_TASK = None


def map_task(job):  # module level: the pool pickles it by name (the workers are forked from here)
    return _log_task("map", _MAP_TASK, job)


def _instrument() -> None:
    import pipeline.report as report
    import pipeline.runner as runner
    import pipeline.s7_write.manifest as manifest

    phases = ("plan_run", "open_run_dir", "map_phase", "reduce_phase", "filter_and_stage", "filter_phase")
    # stage_phase: before the stage ran beside the filter (a checkout of then is measured too)
    for name in (*phases, "stage_phase", "stage_steps", "stage_change"):
        if hasattr(runner, name):
            setattr(runner, name, _timed(name, getattr(runner, name)))
    forked = getattr(runner, "forked", None)
    if forked is not None:  # the run's waits for its forked children (their own CPU is not counted)
        forked.Forked.result = _timed(
            lambda child: f"  wait for the {child.name} child", forked.Forked.result
        )
    runner._preload_shared = _timed("  map: preload", runner._preload_shared)
    runner._reduce_step = _timed(lambda run, step, *a: f"  reduce: {step.name}", runner._reduce_step)
    # (summed: with workers it runs per map task, as each ends: pipeline/early_reduce.py)
    runner.IdCheck.check = _timed("  reduce: id check (driver)", runner.IdCheck.check, summed=True)
    early = getattr(runner, "EarlyReduce", None)
    if early is not None:  # the keys read, fed and held as the map tasks end (in the map's time)
        early.add_task = _timed("  map: early reduce (driver, summed)", early.add_task, summed=True)
    runner.check_accounting = _timed("check_accounting", runner.check_accounting)
    runner.build_manifest = _timed("build_manifest", runner.build_manifest)
    runner.write_manifest = _timed("write_manifest (report + manifest)", runner.write_manifest)
    report.write_report = _timed("  report.html", report.write_report)
    runner.apply_run = _timed("apply_run (commit)", runner.apply_run)
    global _MAP_TASK
    _MAP_TASK = runner.run_map_task_in_worker
    runner.run_map_task_in_worker = map_task
    manifest.report = report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--input", required=True)
    parser.add_argument("-w", "--workers", type=int, default=1)
    parser.add_argument("-o", "--output", help="output folder (default: a temporary one, deleted)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1700000000")
    t_import = time.perf_counter()
    from pipeline.config import load_config
    from pipeline.log import setup_logging
    from pipeline.runner import run_pipeline

    imports = time.perf_counter() - t_import
    _instrument()
    setup_logging("warning", False)
    with tempfile.TemporaryDirectory(prefix="timeline-") as tmp:
        out = Path(args.output or Path(tmp) / "out")
        os.environ["TIMELINE_TASKS"] = str(Path(tmp) / "tasks.jsonl")
        config = load_config(
            None, {"run.workers": (args.workers, "-w"), "run.progress": ("off", "--progress")}
        )
        t_run, cpu_run = time.perf_counter(), time.process_time()
        result = _timed("run_pipeline (total)", run_pipeline)(config, [args.input], str(out))
        tasks = [json.loads(line) for line in Path(os.environ["TIMELINE_TASKS"]).read_text().splitlines()]
    total = time.perf_counter() - T_START
    head = {
        "workers": args.workers,
        "startup_before_run_wall": round(t_run - T_START, 3),
        "startup_before_run_cpu": round(cpu_run - CPU_START, 3),
        "pipeline_imports_wall": round(imports, 3),
        "total_wall": round(total, 3),
        "driver_cpu": round(time.process_time() - CPU_START, 3),
        "workers_cpu": round(_children_cpu(), 3),
        "kept": result.manifest["counts"]["kept"],
        "shards_sha256": [s.get("sha256") for s in result.manifest["shards"]],
        "stages_seconds": round(sum(v.get("seconds", 0) for v in result.manifest["stages"].values()), 3),
    }
    print(json.dumps(head))
    print(f"{'phase':40} {'start':>7} {'wall':>7} {'drv cpu':>8} {'wrk cpu':>8}")
    for row in sorted(ROWS, key=lambda r: r["start"]):
        print(
            f"{row['phase']:40} {row['start']:7.2f} {row['wall']:7.2f} {row['driver_cpu']:8.2f} {row['workers_cpu']:8.2f}"
        )
    by_pid: dict[int, list] = {}
    for _kind, _index, pid, start, end, cpu in tasks:
        by_pid.setdefault(pid, []).append((start, end, cpu))
    for pid, spans in sorted(by_pid.items()):
        spans.sort()
        busy, cpu = sum(e - s for s, e, _c in spans), sum(c for _s, _e, c in spans)
        print(
            f"process {pid}: {len(spans)} tasks, busy {busy:.2f} s wall, {cpu:.2f} s CPU, "
            f"first start {spans[0][0]:.2f}, last end {spans[-1][1]:.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"head": head, "rows": ROWS, "tasks": tasks}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
