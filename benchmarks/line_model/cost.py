#!/usr/bin/env python3
"""CPU time of the text path per full-page dump: the default config's text steps, step by step.

    .venv/bin/python benchmarks/line_model/cost.py [--repeat 5]

Runs every dump of benchmarks/devpages/dumps through the per-document text steps (decode to
repeated_lines) `--repeat` times and prints CPU microseconds per page for each step (process time,
so the figure holds on a shared machine). Compare two checkouts by running it in each.
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
    for _ in range(a.repeat):
        docs = [Document(id=str(n), text=t) for n, t in enumerate(texts)]
        for step in steps:
            start = time.process_time()
            docs = list(step.run(iter(docs)))
            cpu[step.name] += time.process_time() - start
        pages += len(texts)
    for name, seconds in cpu.items():
        print(f"{name:16s} {1e6 * seconds / pages:8.0f} us/page")
    print(f"{'text steps':16s} {1e6 * sum(cpu.values()) / pages:8.0f} us/page ({pages} pages)")


if __name__ == "__main__":
    main()
