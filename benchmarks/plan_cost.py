"""Planning CPU of the scale simulation's 1M corpus: record counting serial in the driver vs on 2
workers (pipeline/plan_count.py). Run after `scale_sim.py run --docs 1000000` (it reads
/tmp/scale-sim/corpus-1000000, or the folder given).

    python benchmarks/plan_cost.py [FOLDER]
"""

from __future__ import annotations

import resource
import sys
import time

from pipeline.config import load_config
from pipeline.plan import list_inputs, plan_tasks
from pipeline.plan_count import plan


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    files = list_inputs([sys.argv[1] if len(sys.argv) > 1 else "/tmp/scale-sim/corpus-1000000"])
    config = load_config(None, {"run.task_size": 25000})
    ways = (
        ("serial", lambda: plan_tasks(files, 25000, dict(config.read))),
        ("workers=2", lambda: plan(files, config, 2)[1]),
    )
    for name, fn in ways:
        t, me, kids = time.perf_counter(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
        tasks = fn()
        print(
            f"{name}: {len(tasks)} tasks; wall {time.perf_counter() - t:.1f} s, "
            f"driver CPU {cpu(resource.RUSAGE_SELF) - me:.1f} s, "
            f"workers CPU {cpu(resource.RUSAGE_CHILDREN) - kids:.1f} s"
        )


if __name__ == "__main__":
    main()
