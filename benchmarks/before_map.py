#!/usr/bin/env python3
"""What a run costs before its first task: `newsclean run` stopped right after the preload.

    python benchmarks/before_map.py -w 2 --rounds 3 [--checkout BASE] [--checkout NEW] [-i INPUT]

Each measurement is a fresh `python -m pipeline run` (interpreter, imports, config, plan, preload: all a
run does before the map's first task) into a temporary output; a hook ends the process once the preload
is done and prints its wall time since the process started (from /proc) and its CPU time (all threads).
With several checkouts they run interleaved, round by round (A/B on a shared machine), each with its
own PYTHONPATH. Default input: articles-30k (shared benchmark data).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, require, shared_path

# run in the measured process: the CLI, with runner._preload_shared wrapped to report and exit
HOOK = """
import os, resource, sys
import pipeline.runner as runner
preload = runner._preload_shared
def stop(run):
    preload(run)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/stat") as fh:
        started = int(fh.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as fh:
        wall = float(fh.read().split()[0]) - started
    print(f"BEFORE_MAP {wall:.3f} {usage.ru_utime + usage.ru_stime:.3f}", flush=True)
    os._exit(0)
runner._preload_shared = stop
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def measure(checkout: Path, input_path: Path, workers: int) -> tuple[float, float]:
    """(wall s, CPU s) of one run of `checkout` up to its first task."""
    with tempfile.TemporaryDirectory(prefix="before-map-") as tmp:
        args = ["run", "-q", "--progress", "off", "-w", str(workers), "-i", str(input_path), "-o", tmp]
        env = {**os.environ, "PYTHONPATH": str(checkout), "SOURCE_DATE_EPOCH": "1700000000"}
        done = subprocess.run(
            # cwd: the temporary folder, so that `python -c` imports the checkout's package, not this one's
            [sys.executable, "-c", HOOK, *args],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=600,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("BEFORE_MAP ")]
    if not lines:
        sys.exit(f"{checkout}: the run did not reach its map (exit {done.returncode}): {done.stderr[-500:]}")
    _, wall, cpu = lines[-1].split()
    return float(wall), float(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--input", default=str(shared_path("bench", "articles-30k.jsonl.gz")))
    parser.add_argument("-w", "--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--checkout", action="append", help="a checkout to measure (repeat for A/B)")
    args = parser.parse_args()
    input_path = require(Path(args.input))
    checkouts = [Path(c).resolve() for c in args.checkout or [ROOT]]
    for round_no in range(1, args.rounds + 1):
        for checkout in checkouts:
            load = os.getloadavg()[0]
            wall, cpu = measure(checkout, input_path, args.workers)
            print(
                f"round {round_no}  {checkout}  workers {args.workers}  wall {wall:.2f} s  CPU {cpu:.2f} s  load {load:.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
