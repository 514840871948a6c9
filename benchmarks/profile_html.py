#!/usr/bin/env python3
"""Where the HTML path's time goes, per part: extract_html over the extraction benchmark pages under cProfile.

    nice .venv/bin/python benchmarks/profile_html.py [--pages ../shared/bench/extraction/pages] [--dump OUT.prof]

Pages are read and decoded first (not profiled), a few warm the step up (rules, trafilatura's caches are
filled in a real run too), then every page goes through extract_html under cProfile. Each part is the
cumulative time of the functions named for it (the profiler's clock; its overhead inflates Python-heavy
parts, so compare shares and before/after runs of this script, not absolute figures with the benchmark).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.plan import list_inputs, plan_tasks, read_task  # noqa: E402
from pipeline.runner import build_pipeline  # noqa: E402

# part -> (file suffix, function name) whose cumulative time it is; trafilatura's extraction is what
# bare_extraction costs besides its metadata
PARTS = {
    "parse (lxml)": [("s2_extract/html.py", "parse_html"), ("trafilatura/utils.py", "load_html")],
    "page type": [("s2_extract/page_type.py", "classify")],
    "prune widgets + link lists": [
        ("s2_extract/site_rules.py", "prune"),
        ("site_rules.py", "drop_link_lists"),
    ],
    "captions, lead, tables (before)": [("s2_extract/html.py", "_page_extras")],
    "trafilatura metadata": [("trafilatura/metadata.py", "extract_metadata")],
    "trafilatura extraction": [("trafilatura/core.py", "bare_extraction")],
    "paragraphs restored (after)": [("s2_extract/html.py", "_paragraphs")],
    "our metadata (h1, shown date)": [
        ("s2_extract/html.py", "only_h1"),
        ("s2_extract/html.py", "shown_date"),
        ("s2_extract/html.py", "_metadata"),
        ("s2_extract/html.py", "page_metadata"),
    ],
}


def cumulative(stats: pstats.Stats, wanted: list[tuple[str, str]], caller_file: str | None = None) -> float:
    total = 0.0
    for (path, _line, func), (_cc, _nc, _tt, ct, callers) in stats.stats.items():
        if any(path.endswith(suffix) and func == name for suffix, name in wanted):
            if caller_file is None or any(c[0].endswith(caller_file) for c in callers):
                total += ct
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", default=str(ROOT.parent / "shared" / "bench" / "extraction" / "pages"))
    ap.add_argument("--dump", help="also write the raw cProfile stats here")
    args = ap.parse_args(argv)
    config = load_config(str(ROOT / "config" / "default.yaml"))
    pipeline = build_pipeline(config, "2024-01-01T00:00:00Z", "bench")
    steps = {step.name: step for step in pipeline.per_document}
    tasks = plan_tasks(list_inputs([args.pages]), config.run["task_size"], config.read)
    docs = list(steps["decode"].run([doc for task in tasks for doc in read_task(task, config.read)]))
    list(steps["extract_html"].run(copy.deepcopy(docs[:20])))
    profiler = cProfile.Profile(time.process_time)  # CPU time: the machine is shared
    cpu = time.process_time()
    profiler.enable()
    list(steps["extract_html"].run(docs))
    profiler.disable()
    cpu = time.process_time() - cpu
    if args.dump:
        profiler.dump_stats(args.dump)
    stats = pstats.Stats(profiler)
    total = cumulative(stats, [("s2_extract/html.py", "process")])
    rows = {}
    for part, wanted in PARTS.items():
        rows[part] = cumulative(stats, wanted, "s2_extract/html.py" if part.startswith("parse") else None)
    rows["trafilatura extraction"] -= rows["trafilatura metadata"]
    rows["rest of extract_html"] = total - sum(rows.values())
    print(
        f"{len(docs)} pages, extract_html under the profiler: {cpu:.2f} CPU s ({1000 * cpu / len(docs):.1f} ms a page)"
    )
    print(f"| {'part':<34} | profiler s | share |")
    print(f"| {'-' * 34} | ---------: | ----: |")
    for part, seconds in rows.items():
        print(f"| {part:<34} | {seconds:10.2f} | {100 * seconds / total:4.1f}% |")
    print(f"| {'extract_html (process) total':<34} | {total:10.2f} | 100.0% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
