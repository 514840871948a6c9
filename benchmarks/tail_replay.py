#!/usr/bin/env python3
"""How evenly 2 (or N) workers end the map, replayed from one in-process run's task CPU times.

    python benchmarks/run_timeline.py -i ../shared/bench/articles-30k.jsonl.gz -w 1 --json /tmp/t1.json
    python benchmarks/tail_replay.py /tmp/t1.json -i ../shared/bench/articles-30k.jsonl.gz [-w 2]

On a shared machine the wall time of a 2-worker map measures the other processes more than the tail's
cut. This replays instead: each task of a 1-worker run gives a CPU cost per record over its record
range (one JSONL input, `dedup: driver`; a run of the version before: `--timed-cut quarters`), so any cut of the same records gets a cost; the tasks are
handed out in order as `engine.local.map_ordered` does (a free worker takes the next task; at most
2 tasks per worker in flight, results taken in order). Printed per cut: how far the map's end is
past the ideal (the total CPU over the workers) and how far apart the workers end.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import load_config  # noqa: E402
from pipeline.plan import TAIL_TASKS, list_inputs, plan_tasks  # noqa: E402


def cost_per_record(cut: list[tuple[int, int]], timeline_tasks: list) -> list[tuple[int, int, float]]:
    """(start, stop, CPU seconds per record) of each task the timed run ran (task i: cut[i])."""
    cpu = {index: seconds for _kind, index, _pid, _start, _end, seconds in timeline_tasks}
    assert sorted(cpu) == list(range(len(cut))), "the timeline is of another cut: see --timed-cut"
    return [(a, b, cpu[i] / (b - a)) for i, (a, b) in enumerate(cut)]


def cost(start: int, stop: int, rates: list[tuple[int, int, float]]) -> float:
    return sum(max(0, min(stop, b) - max(start, a)) * r for a, b, r in rates)


def replay(costs: list[float], workers: int, in_flight: int = 2) -> tuple[float, float]:
    """(end of the map past total / workers, seconds between the first and the last worker's end)."""
    free, ends = [0.0] * workers, []
    for i, seconds in enumerate(costs):
        w = min(range(workers), key=free.__getitem__)
        start = free[w]
        if i >= workers * in_flight:  # submitted once the results before it were taken, in order
            start = max(start, max(ends[: i - workers * in_flight + 1]))
        free[w] = start + seconds
        ends.append(free[w])
    return max(free) - sum(costs) / workers, max(free) - min(free)


def quarters(uncut: list, task_size: int) -> list[tuple[int, int]]:
    """The cut before the shrinking tail: the last TAIL_TASKS tasks in equal quarters."""
    head = [t.records for t in uncut[:-TAIL_TASKS]]
    step = task_size // 4
    return head + [
        (a, min(b, a + step)) for t in uncut[-TAIL_TASKS:] for a, b in [t.records] for a in range(a, b, step)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timeline", help="run_timeline.py --json of a -w 1 run")
    parser.add_argument("-i", "--input", required=True, help="the run's one JSONL input")
    parser.add_argument("-w", "--workers", type=int, default=2)
    parser.add_argument(
        "--timed-cut", choices=("plan", "quarters"), default="plan", help="how the timed run was cut"
    )
    args = parser.parse_args()
    config = load_config(None, {})
    task_size, files = config.run["task_size"], list_inputs([args.input])
    timed = json.loads(Path(args.timeline).read_text())["tasks"]
    ran = plan_tasks(files, task_size, config.read, split_tail=True)
    uncut = plan_tasks(files, task_size, config.read)
    timed_cut = quarters(uncut, task_size) if args.timed_cut == "quarters" else [t.records for t in ran]
    rates = cost_per_record(timed_cut, timed)
    cuts = {
        "uncut": [t.records for t in uncut],
        "quarters": quarters(uncut, task_size),
        "this plan": [t.records for t in ran],
    }
    for name, cut in cuts.items():
        late, gap = replay([cost(a, b, rates) for a, b in cut], args.workers)
        print(
            f"{name:10} {len(cut):4} tasks: map ends {late:.3f} s past the ideal, workers end {gap:.3f} s apart"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
