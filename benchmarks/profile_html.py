#!/usr/bin/env python3
"""Where the HTML path's time goes, per part: extract_html over the extraction benchmark pages, in CPU time.

    nice .venv/bin/python benchmarks/profile_html.py [--pages ../shared/bench/extraction/pages] [--cprofile OUT]

Pages are read and decoded first (not timed), a few warm the step up, then every page goes through
extract_html with each part's function wrapped by a CPU-time counter (two clock reads per call: no
profiler overhead skewing Python-heavy parts). Works on older checkouts too (parts a checkout does not
have read 0): copy this file into its benchmarks/ and run it there. `--cprofile OUT` also writes a
cProfile dump of the same pass (its own overhead is large; use it for call counts and callers).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this checkout's pipeline, not the installed one: the script is copied into older checkouts too
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402
import trafilatura.core  # noqa: E402
import trafilatura.utils  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from pipeline.plan import list_inputs, plan_tasks, read_task  # noqa: E402
from pipeline.runner import build_pipeline  # noqa: E402
from pipeline.s2_extract import html  # noqa: E402

try:  # page metadata apart from trafilatura's extraction (newer checkouts)
    from pipeline.s2_extract import page_meta  # noqa: E402
except ImportError:
    page_meta = None
try:  # trafilatura's fast and full modes in one cascade (newer checkouts)
    from pipeline.s2_extract import cascade  # noqa: E402
except ImportError:
    cascade = None

# part -> the functions timed for it, as (object, attribute); trafilatura's metadata runs inside
# bare_extraction in older checkouts and is taken out of "trafilatura extraction" below
PARTS = {
    "parse (lxml)": [(html, "parse_html"), (trafilatura.utils, "load_html")],
    "page type": [(html, "classify")],
    "prune widgets + link lists": [(html, "prune"), (html, "drop_link_lists")],
    "captions, lead, tables (before)": [(html.ExtractHtml, "_page_extras")],
    "trafilatura extraction": [(trafilatura, "bare_extraction"), (cascade, "fast_then_full")],
    "trafilatura metadata": [(trafilatura.core, "extract_metadata"), (page_meta, "page_meta")],
    "paragraphs restored (after)": [(html.ExtractHtml, "_paragraphs")],
    "h1 title, headline date": [(html, "only_h1"), (html, "shown_date")],
}

# within "trafilatura metadata" (shown under it, not added to the total): htmldate's date search, the
# author and category searches (page_meta looks them up as module globals, so they can be wrapped there)
SUBPARTS = {
    "  of which date search (htmldate)": [(page_meta, "find_date")],
    # find_author (newer checkouts) calls extract_author only where it cannot do without its copy of the page
    "  of which author search": [
        (page_meta, "find_author" if hasattr(page_meta, "find_author") else "extract_author")
    ],
    "  of which category search": [(page_meta, "extract_catstags")],
}


def wrap_parts(spent: Counter) -> None:
    """Replace each part's functions by CPU-timed wrappers that add to spent[part]."""
    for part, targets in {**PARTS, **SUBPARTS}.items():
        for owner, name in targets:
            original = getattr(owner, name, None)
            if original is None:
                continue

            def timed(*args, _original=original, _part=part, **kwargs):
                started = time.process_time()
                try:
                    return _original(*args, **kwargs)
                finally:
                    spent[_part] += time.process_time() - started

            setattr(owner, name, timed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", default=str(ROOT.parent / "shared" / "bench" / "extraction" / "pages"))
    ap.add_argument("--cprofile", help="also write a cProfile dump of the pass here")
    ap.add_argument("-c", "--config", default=str(ROOT / "config" / "default.yaml"))
    args = ap.parse_args(argv)
    spent: Counter = Counter()
    wrap_parts(spent)  # before the step is built: it binds trafilatura's functions when it starts
    config = load_config(args.config)
    pipeline = build_pipeline(config, "2024-01-01T00:00:00Z", "bench")
    steps = {step.name: step for step in pipeline.per_document}
    tasks = plan_tasks(list_inputs([args.pages]), config.run["task_size"], config.read)
    docs = list(steps["decode"].run([doc for task in tasks for doc in read_task(task, config.read)]))
    list(steps["extract_html"].run(copy.deepcopy(docs[:20])))
    spent.clear()
    profiler = cProfile.Profile() if args.cprofile else None
    if profiler:
        profiler.enable()
    cpu = time.process_time()
    list(steps["extract_html"].run(docs))
    cpu = time.process_time() - cpu
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.cprofile)
    if page_meta is None:  # trafilatura's metadata ran inside bare_extraction
        spent["trafilatura extraction"] -= spent["trafilatura metadata"]
    spent["rest of extract_html"] = cpu - sum(spent[part] for part in PARTS)
    print(f"{len(docs)} pages, extract_html: {cpu:.2f} CPU s ({1000 * cpu / len(docs):.1f} ms a page)")
    print(f"| {'part':<34} | CPU s | ms/page | share |")
    print(f"| {'-' * 34} | ----: | ------: | ----: |")
    shown = [*PARTS, "rest of extract_html"]
    at = shown.index("trafilatura metadata") + 1
    shown[at:at] = [part for part in SUBPARTS if spent[part]]
    for part in shown:
        seconds = spent[part]
        print(
            f"| {part:<34} | {seconds:5.2f} | {1000 * seconds / len(docs):7.2f} | {100 * seconds / cpu:4.1f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
