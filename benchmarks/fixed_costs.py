#!/usr/bin/env python3
"""A run's fixed costs after its work: the commit, and the process's end.

    python benchmarks/fixed_costs.py exit -w 1 --rounds 3 [--checkout BASE] [--checkout NEW] [-i INPUT] [--records N]
    python benchmarks/fixed_costs.py commit KILLED_OUTPUT --rounds 3 [--checkout BASE] [--checkout NEW]

`exit`: a fresh `python -m pipeline run -q` (as `newsclean run`) on the first N records of INPUT
(default 5,000 of articles-30k: enough for each process to load numba); the process stamps the time its
command returned, and its parent the time it ended: the difference is what the process's end costs.
`commit`: `roll_forward` (the commit a run makes after its manifest) on a fresh copy of KILLED_OUTPUT, a
corpus whose last run was killed at its manifest (`NEWSCLEAN_TEST_KILL_AT=manifest newsclean run ...`),
timed in the process (wall, CPU). With several checkouts both run interleaved, round by round (A/B on a
shared machine), each with its own PYTHONPATH.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, require, shared_path

# in the measured process: the CLI's entry, its command's return stamped on stderr
EXIT_HOOK = """
import sys, time, pipeline.cli as cli
if hasattr(cli, "entry"):
    def stamped(args, command=cli._run_command):
        status = command(args)
        sys.stderr.write(f"RETURNED {time.time():.4f}\\n")
        return status
    cli._run_command = stamped
    sys.argv = ["newsclean", *sys.argv[1:]]
    cli.entry()
status = cli.main(sys.argv[1:])  # a checkout from before `entry`
sys.stderr.write(f"RETURNED {time.time():.4f}\\n")
sys.exit(status)
"""

COMMIT_HOOK = """
import sys, time
from pathlib import Path
from pipeline.commit import Recovery, open_store, roll_forward
store = open_store(Path(sys.argv[1]), Recovery())
wall, cpu = time.perf_counter(), time.process_time()
assert len(roll_forward(Path(sys.argv[1]), store)) == 1, "no run to commit"
print(f"COMMIT {time.perf_counter() - wall:.3f} {time.process_time() - cpu:.3f}")
"""


def _env(checkout: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(checkout), "SOURCE_DATE_EPOCH": "1700000000"}


def measure_exit(checkout: Path, input_path: Path, workers: int, tmp: Path) -> tuple[float, float]:
    """(seconds from the command's return to the process's end, the process's CPU seconds)."""
    out = tmp / "out"
    shutil.rmtree(out, ignore_errors=True)
    args = ["run", "-q", "--progress", "off", "-w", str(workers), "-i", str(input_path), "-o", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-c", EXIT_HOOK, *args],
        env=_env(checkout),
        cwd=tmp,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = process.stderr.read() if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    ended = time.time()
    returned = re.search(r"RETURNED ([\d.]+)", err)
    if status != 0 or returned is None:
        sys.exit(f"{checkout}: the run failed (status {status}): {err[-500:]}")
    return ended - float(returned.group(1)), usage.ru_utime + usage.ru_stime


def measure_commit(checkout: Path, killed: Path, tmp: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of the commit of a copy of `killed`."""
    copy = tmp / "commit"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(killed, copy)
    (copy / "state" / "run.lock").unlink(missing_ok=True)
    for work in (copy / "runs").glob("*/_work"):  # the commit alone (the base removed them before it)
        shutil.rmtree(work)
    os.sync()  # the copy's writes are not the commit's
    done = subprocess.run(
        [sys.executable, "-c", COMMIT_HOOK, str(copy)],
        env=_env(checkout),
        cwd=tmp,
        capture_output=True,
        text=True,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("COMMIT ")), None)
    if line is None:
        sys.exit(f"{checkout}: the commit failed: {done.stderr[-500:]}")
    _, wall, cpu = line.split()
    return float(wall), float(cpu)


def _first_records(source: Path, n: int, dest: Path) -> Path:
    with gzip.open(source, "rt", encoding="utf-8") as fh, gzip.open(dest, "wt", encoding="utf-8") as out:
        for _, line in zip(range(n), fh):
            out.write(line)
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["exit", "commit"])
    parser.add_argument(
        "killed", nargs="?", type=Path, help="commit: a corpus whose last run was killed at its manifest"
    )
    parser.add_argument("-i", "--input", default=str(shared_path("bench", "articles-30k.jsonl.gz")))
    parser.add_argument("--records", type=int, default=5000, help="exit: the first N records of the input")
    parser.add_argument("-w", "--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkout", action="append", help="a checkout to measure (repeat for A/B)")
    args = parser.parse_args()
    checkouts = [Path(c).resolve() for c in args.checkout or [ROOT]]
    with tempfile.TemporaryDirectory(prefix="fixed-costs-") as name:
        tmp = Path(name)
        if args.what == "exit":
            source = _first_records(require(Path(args.input)), args.records, tmp / "input.jsonl.gz")
        elif args.killed is None:
            parser.error("commit: give the corpus whose last run was killed at its manifest")
        for round_no in range(1, args.rounds + 1):
            for checkout in checkouts:
                load = os.getloadavg()[0]
                if args.what == "exit":
                    after, cpu = measure_exit(checkout, source, args.workers, tmp)
                    figures = f"after the command {after:.3f} s  process CPU {cpu:.2f} s"
                else:
                    wall, cpu = measure_commit(checkout, args.killed, tmp)
                    figures = f"commit wall {wall:.3f} s  CPU {cpu:.3f} s"
                print(f"round {round_no}  {checkout}  {figures}  load {load:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
