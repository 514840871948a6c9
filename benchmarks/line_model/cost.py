#!/usr/bin/env python3
"""CPU time of the text path per full-page dump: the default config's text steps, step by step.

    .venv/bin/python benchmarks/line_model/cost.py [--repeat 5]

Runs every dump of benchmarks/devpages/dumps through the per-document text steps (decode to
repeated_lines) `--repeat` times, after one untimed pass (rule alternations compiled on first use,
tables built once per process: a run over a crawl pays them once), and prints CPU microseconds per
page for each step (process time, so the figure holds on a shared machine). Compare two checkouts by
running it in each, one after the other, twice (the machine's load moves the figures).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pipeline.config import load_config
from pipeline.document import Document
from pipeline.runner import build_pipeline

ROOT = Path(__file__).resolve().parents[2]

TEXT_STEPS = (
    "clean_lines",
    "article_region",
    "template_lines",
    "dump_metadata",
    "repeated_lines",
    "normalize",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    texts = [
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "benchmarks/devpages/dumps").glob("*.txt"))
    ]
    pipeline = build_pipeline(load_config(ROOT / "config" / "default.yaml"), "2024-01-01T00:00:00Z", "bench")
    steps = [s for s in pipeline.per_document if s.name in TEXT_STEPS]
    cpu = {s.name: 0.0 for s in steps}
    pages = 0
    warm = iter(Document(id=str(n), text=t) for n, t in enumerate(texts))
    for step in steps:
        warm = step.run(warm)
    list(warm)
    for _ in range(a.repeat):
        docs = [Document(id=str(n), text=t) for n, t in enumerate(texts)]
        for step in steps:
            start = time.process_time()
            docs = list(step.run(iter(docs)))
            cpu[step.name] += time.process_time() - start
        pages += len(texts)
    cpu["template_lines"] = _template_lines_cpu(docs) * a.repeat  # one pass, counted like the others
    for name, seconds in cpu.items():
        print(f"{name:16s} {1e6 * seconds / pages:8.0f} us/page")
    print(f"{'text steps':16s} {1e6 * sum(cpu.values()) / pages:8.0f} us/page ({pages} pages)")


def _template_lines_cpu(docs: list) -> float:
    """template_lines (a global step, on or off in the config): key in the map, count in the reduce,
    the kept text edited in the filter, for the pages that went through, as one source."""
    from pipeline.registry import step_class
    from pipeline.s3_clean import template_lines as tl
    from pipeline.step import DocRef

    step = step_class("template_lines")({}, {})
    live = [d for d in docs if not d.dropped]
    start = time.process_time()
    items = [(DocRef(n, d.id), ("site", step.key(d)[1])) for n, d in enumerate(live)]
    list(step.reduce(items, None))
    found = step.template.get("site", set())
    for doc in live:
        tl.strip_text(doc.text, found, step.options["max_chars"])
    return time.process_time() - start


if __name__ == "__main__":
    main()
