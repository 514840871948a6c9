"""Planning CPU of the scale simulation's 1M corpus: record counting serial in the driver vs on 2 workers
(pipeline/plan_count.py). Run after `scale_sim.py run --docs 1000000` (it reads /tmp/scale-sim/corpus-1000000)."""

import resource, time
from pipeline.config import load_config
from pipeline.plan import list_inputs, plan_tasks
from pipeline.plan_count import plan

files = list_inputs(["/tmp/scale-sim/corpus-1000000"])
config = load_config(None, {"run.task_size": 25000})


def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


for name, fn in (
    ("serial", lambda: (25000, plan_tasks(files, 25000, dict(config.read)), None)),
    ("workers=2", lambda: plan(files, config, 2)),
):
    t, c, k = time.perf_counter(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    size, tasks, _ = fn()
    print(
        name,
        len(tasks),
        "tasks; wall %.1f s, driver CPU %.1f s, workers CPU %.1f s"
        % (time.perf_counter() - t, cpu(resource.RUSAGE_SELF) - c, cpu(resource.RUSAGE_CHILDREN) - k),
    )
