"""Quality benchmark: drop rate by reason on real news, speed and cost share of the quality steps.

    .venv/bin/python benchmarks/quality.py [--input ../shared/bench/articles-30k.jsonl.gz]
        [--limit N] [--json benchmarks/results/quality.json] [--examples 5]

Each record (`id`, `text`) goes through the per-document steps of the config (default
config/default.yaml) in one process, as a run would: cleaning, normalize, language and
length filters, then quality_signals and quality_filter. All documents go through one
step before the next, and each step is timed in process CPU time (robust to a busy
machine). Prints the drops by reason (with example ids and details), docs/s of
`compute_signals` alone and of the quality steps, and their share of the CPU time of all
per-document steps; writes the figures as JSON. Global steps (dedup) are left out: they
are not per-document work (a run's manifest has their seconds).

    .venv/bin/python benchmarks/quality.py --make-bigrams CORPUS.jsonl.gz [--top 3000]

prints the most frequent pairs of purely alphabetic lowercased tokens in the cleaned
texts (the format of config/quality/vi-bigrams.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections import Counter, defaultdict
from itertools import islice
from pathlib import Path

from common import ROOT, jsonl_records, shared_path

from pipeline.config import load_config
from pipeline.document import Document
from pipeline.registry import step_class
from pipeline.step import GlobalStep

DEFAULT_INPUT = shared_path("bench", "articles-30k.jsonl.gz")
QUALITY_STEPS = ("quality_signals", "quality_filter")


def build_steps(config_path: Path) -> list:
    config = load_config(config_path)
    context = {"config_dir": str(config.dir)}
    steps = [step_class(name)(options, context) for name, options in config.steps]
    return [s for s in steps if not isinstance(s, GlobalStep)]


def run(args) -> dict:
    steps = build_steps(Path(args.config))
    names = [s.name for s in steps]
    missing = [n for n in QUALITY_STEPS if n not in names]
    if missing:
        raise SystemExit(f"{args.config}: no enabled {', '.join(missing)} step")
    docs = (
        Document(id=r["id"], raw=r["text"].encode("utf-8"), provenance={"input_path": r["id"]})
        for r in jsonl_records(Path(args.input), args.limit)
    )
    out = list(docs)
    cpu = {}
    t0 = time.perf_counter()
    for step in steps:
        t = time.process_time()
        out = list(step.run(out))
        cpu[step.name] = time.process_time() - t
    wall = time.perf_counter() - t0

    reasons, examples = Counter(), defaultdict(list)
    for doc in out:
        if doc.dropped:
            key = f"{doc.drop_stage}:{doc.drop_reason}"
            reasons[key] += 1
            if len(examples[key]) < args.examples:
                examples[key].append({"id": doc.id, "detail": doc.drop_detail, "text": doc.text[:300]})

    # compute_signals alone, on the texts the quality step saw (timed separately, no step overhead)
    from pipeline.s5_filter.quality_signals import compute_signals

    signals_step = next(s for s in steps if s.name == "quality_signals")
    measured = [d for d in out if "quality" in d.metadata]
    t1 = time.process_time()
    for doc in measured:
        compute_signals(
            doc.text, signals_step.profiles.get(doc.metadata.get("language")) or signals_step.fallback
        )
    pure = time.process_time() - t1

    seconds = {name: round(v, 3) for name, v in cpu.items()}
    step_total = sum(cpu.values())
    quality_seconds = sum(v for name, v in cpu.items() if name in QUALITY_STEPS)
    quality_in = next(s for s in steps if s.name == "quality_signals").stats.docs_in
    quality_drops = {k: n for k, n in reasons.items() if k.startswith("quality_filter:")}
    result = {
        "input": str(args.input),
        "documents": len(out),
        "reached_quality": quality_in,
        "kept": sum(1 for d in out if not d.dropped),
        "dropped_by_reason": dict(reasons.most_common()),
        "quality_dropped": sum(quality_drops.values()),
        "quality_drop_rate": round(sum(quality_drops.values()) / max(quality_in, 1), 5),
        "examples": examples,
        "cpu_seconds_by_step": seconds,
        "wall_seconds": round(wall, 3),
        "compute_signals_docs_per_s": round(len(measured) / pure, 1) if pure else None,
        "quality_steps_docs_per_s": round(quality_in / quality_seconds, 1) if quality_seconds else None,
        "pipeline_docs_per_s": round(len(out) / wall, 1) if wall else None,
        "quality_share_of_step_cpu": round(quality_seconds / step_total, 4) if step_total else None,
        "load_average": list(os.getloadavg()),
    }
    return result


def print_report(result: dict) -> None:
    print(
        f"{result['documents']} documents, {result['reached_quality']} reached the quality steps, "
        f"{result['kept']} kept"
    )
    print(
        f"quality_filter dropped {result['quality_dropped']} "
        f"({100 * result['quality_drop_rate']:.2f}% of the documents it saw)"
    )
    print("\ndrops by reason:")
    for reason, n in result["dropped_by_reason"].items():
        print(f"  {reason}: {n}")
        for ex in result["examples"][reason]:
            print(f"      {ex['id']}: {ex['detail']}")
    print(
        "\nCPU seconds by step:", ", ".join(f"{k} {v:.2f}" for k, v in result["cpu_seconds_by_step"].items())
    )
    print(
        f"compute_signals alone: {result['compute_signals_docs_per_s']:.0f} docs/s (CPU); quality steps: "
        f"{result['quality_steps_docs_per_s']:.0f} docs/s (CPU); all per-document steps: "
        f"{result['pipeline_docs_per_s']:.0f} docs/s (wall)"
    )
    print(
        f"quality share: {100 * result['quality_share_of_step_cpu']:.1f}% of the per-document steps' CPU time "
        f"(load average {result['load_average'][0]:.1f})"
    )


def make_bigrams(args) -> None:
    """Top pairs of alphabetic tokens in the cleaned texts (cleaned like a run would)."""
    steps = [s for s in build_steps(Path(args.config)) if s.name not in QUALITY_STEPS]
    docs = (
        Document(id=r["id"], raw=r["text"].encode("utf-8"))
        for r in jsonl_records(Path(args.make_bigrams), args.limit)
    )
    for step in steps:
        docs = step.run(docs)
    word = re.compile(r"[^\W\d_]+")
    counts = Counter()
    for doc in docs:
        if not doc.dropped:
            tokens = doc.text.lower().split()
            counts.update(zip(tokens, tokens[1:]))
    pairs = ((a, b) for (a, b), _ in counts.most_common() if word.fullmatch(a) and word.fullmatch(b))
    for a, b in islice(pairs, args.top):
        print(f"{a} {b}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default=str(DEFAULT_INPUT), help="JSONL.gz of records with id and text")
    parser.add_argument("--config", default=str(ROOT / "config" / "default.yaml"))
    parser.add_argument("--limit", type=int, help="only the first N records")
    parser.add_argument("--examples", type=int, default=5, help="example documents per drop reason")
    parser.add_argument(
        "--json",
        default=str(ROOT / "benchmarks" / "results" / "quality.json"),
        help="where to write the figures",
    )
    parser.add_argument("--make-bigrams", metavar="CORPUS", help="print common bigrams of CORPUS and exit")
    parser.add_argument("--top", type=int, default=3000, help="bigrams to print with --make-bigrams")
    args = parser.parse_args()
    if args.make_bigrams:
        make_bigrams(args)
        return
    result = run(args)
    print_report(result)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
