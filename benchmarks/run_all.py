#!/usr/bin/env python3
"""newsclean's benchmark suite: one command, a table on stdout, JSON in benchmarks/results/.

    .venv/bin/python benchmarks/run_all.py            # the full suite (about 20-25 min on 2 quiet cores)
    .venv/bin/python benchmarks/run_all.py --quick    # a smoke run (a few minutes)

Shorter runs: --runs N (repeats of the articles and datatrove figures, default 3),
--scaling-runs N (repeats per scaling size; default 3 below 100k documents, 1 above),
--sizes 10000,50000 (fewer/smaller scaling corpora), --datatrove-docs N, --skip-articles,
--skip-datatrove, --skip-scaling. The first run also builds the scaling corpora
(benchmarks/cache/, a few minutes for 200k) and the datatrove venv (a few minutes).

What it measures (each figure is the median of --runs runs; every run is a fresh
process writing to a fresh output folder, timed end to end from the outside):

1. articles: newsclean (default config) on ../shared/bench/articles-30k.jsonl.gz,
   30,000 real news articles, with 1 worker and with all workers; docs/s, MB/s of
   document text, per core, peak memory; and whether the output of 1 and N workers
   is byte-identical.
2. datatrove: the equivalent datatrove job (benchmarks/datatrove_job.py: Gopher
   repetition + quality, C4, 4-stage MinHash, JSONL in and out) in its own venv,
   side by side with newsclean on the same slice of the articles (datatrove runs at
   tens of documents per second, so it gets the first --datatrove-docs articles);
   reported as the ratio of median throughputs per core, with the kept counts.
3. scaling: newsclean with all workers on corpora of 10k / 50k / 200k documents
   built by ../shared/bench/dedup/make_corpus.py (cached in benchmarks/cache/);
   time per document and peak memory against corpus size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import corpora
from measure import Measurement, measure

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

DATATROVE_VENV = HERE / ".venv-datatrove"
DATATROVE_PACKAGES = ["datatrove[processing]==0.10.*", "xxhash<4", "orjson", "spacy", "pyvi"]
EPOCH = "1700000000"  # SOURCE_DATE_EPOCH: the same `added` and run id in every run, so outputs compare byte for byte


def all_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ------------------------------------------------------------------ newsclean


def newsclean_reads_jsonl() -> bool:
    """Whether this checkout has a JSONL reader (it is built in another issue)."""
    probe = "from pipeline.s1_read.inputs import READERS; READERS['.jsonl']"
    return subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True).returncode == 0


def run_newsclean(source: corpora.Input, workers: int, runs: int, scratch: Path) -> dict:
    measurements, manifests = [], []
    for i in range(runs):
        out = scratch / f"newsclean-{source.name}-w{workers}-{i}"
        cmd = [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "-i",
            str(source.path),
            "-o",
            str(out),
            "-w",
            str(workers),
            "--progress",
            "off",
            "-q",
        ]
        m = measure(cmd, env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH}, cwd=ROOT)
        if m.returncode != 0:
            raise RuntimeError(f"newsclean failed ({' '.join(cmd)}):\n{m.stderr[-3000:]}")
        manifest_path = next((out / "runs").glob("*/manifest.json"))
        manifests.append(json.loads(manifest_path.read_text()))
        measurements.append(m)
        shutil.rmtree(out, ignore_errors=True)
        _note(f"newsclean {source.name} w={workers} run {i + 1}/{runs}: {m.seconds:.1f} s")
    best = _median_run(measurements)
    manifest = manifests[best]
    counts = manifest["counts"]
    row = _row("newsclean", source, workers, measurements)
    row.update(
        kept=counts["kept"],
        dropped=counts["dropped"],
        errors=counts["errors"],
        by_reason=counts["by_reason"],
        shards_sha256=[s.get("sha256") for s in manifest["shards"]],
        stage_seconds={k: v.get("seconds") for k, v in manifest["stages"].items()},
        inner_seconds=manifest.get("seconds"),
    )
    return row


# ------------------------------------------------------------------ datatrove


def datatrove_python(install: bool) -> Path | None:
    python = DATATROVE_VENV / "bin" / "python"
    probe = "import datatrove, spacy, pyvi, orjson"
    if python.exists() and subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0:
        return python
    if not install:
        return None
    _note(f"creating {DATATROVE_VENV} and installing {' '.join(DATATROVE_PACKAGES)}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(DATATROVE_VENV)], check=True)
    subprocess.run([str(DATATROVE_VENV / "bin" / "pip"), "install", "-q", *DATATROVE_PACKAGES], check=True)
    subprocess.run([str(python), "-c", probe], check=True)
    return python


def datatrove_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('datatrove'))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


def run_datatrove(python: Path, source: corpora.Input, workers: int, runs: int, scratch: Path) -> dict:
    measurements, results = [], []
    for i in range(runs):
        work = scratch / f"datatrove-w{workers}-{i}"
        cmd = [
            str(python),
            str(HERE / "datatrove_job.py"),
            "--input",
            str(source.path),
            "--work",
            str(work),
            "--workers",
            str(workers),
        ]
        m = measure(cmd, cwd=scratch)
        if m.returncode != 0:
            raise RuntimeError(f"datatrove failed ({' '.join(cmd)}):\n{m.stderr[-3000:]}")
        results.append(json.loads(m.stdout.strip().splitlines()[-1]))
        measurements.append(m)
        shutil.rmtree(work, ignore_errors=True)
        _note(f"datatrove {source.name} w={workers} run {i + 1}/{runs}: {m.seconds:.1f} s")
    result = results[_median_run(measurements)]
    if result["docs_in"] != source.docs:
        raise RuntimeError(f"datatrove read {result['docs_in']} documents, expected {source.docs}")
    row = _row("datatrove", source, workers, measurements)
    row.update(
        kept=result["kept"],
        kept_after_filters=result["kept_after_filters"],
        stage_seconds=result["stage_seconds"],
        inner_seconds=result["seconds"],
    )
    return row


# ------------------------------------------------------------------ figures


def _median_run(ms: list[Measurement]) -> int:
    order = sorted(range(len(ms)), key=lambda i: ms[i].seconds)
    return order[(len(order) - 1) // 2]


def _row(tool: str, source: corpora.Input, workers: int, ms: list[Measurement]) -> dict:
    seconds = statistics.median(m.seconds for m in ms)
    return {
        "tool": tool,
        "input": source.name,
        "docs": source.docs,
        "text_mb": source.text_mb,
        "workers": workers,
        "runs": len(ms),
        "seconds": round(seconds, 3),
        "seconds_all": [round(m.seconds, 3) for m in ms],
        "cpu_seconds": round(statistics.median(m.cpu_seconds for m in ms), 3),
        "docs_per_s": round(source.docs / seconds, 1),
        "docs_per_s_per_core": round(source.docs / seconds / workers, 1),
        "mb_per_s": round(source.text_mb / seconds, 2),
        "ms_per_doc": round(1000 * seconds / source.docs, 4),
        # CPU time of the whole process tree: steadier than wall time on a busy machine
        "cpu_ms_per_doc": round(1000 * statistics.median(m.cpu_seconds for m in ms) / source.docs, 4),
        "max_rss_mb": round(max(m.max_rss_mb for m in ms), 1),
        "peak_tree_mb": round(max(m.peak_tree_mb or 0 for m in ms), 1),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def _note(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def table(rows: list[dict]) -> str:
    head = [
        "tool",
        "input",
        "docs",
        "w",
        "runs",
        "median s",
        "docs/s",
        "docs/s/core",
        "MB/s",
        "ms/doc",
        "CPU ms/doc",
        "kept",
        "RSS max MB",
        "tree MB",
    ]
    lines = [head]
    for r in rows:
        lines.append(
            [
                r["tool"],
                r["input"],
                str(r["docs"]),
                str(r["workers"]),
                str(r["runs"]),
                f"{r['seconds']:.1f}",
                f"{r['docs_per_s']:.0f}",
                f"{r['docs_per_s_per_core']:.0f}",
                f"{r['mb_per_s']:.2f}",
                f"{r['ms_per_doc']:.3f}",
                f"{r['cpu_ms_per_doc']:.3f}",
                str(r.get("kept", "")),
                f"{r['max_rss_mb']:.0f}",
                f"{r['peak_tree_mb']:.0f}",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        out.append(
            "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def summary_lines(summary: dict) -> str:
    return "\n".join(f"{k}: {v}" for k, v in summary.items())


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 run each, 500 articles for datatrove, scaling at 10k only",
    )
    ap.add_argument("--runs", type=int, help="runs per measurement (default 3; --quick: 1)")
    ap.add_argument(
        "--workers", type=int, default=all_cores(), help="the 'all workers' figure (default: all cores)"
    )
    ap.add_argument(
        "--datatrove-docs",
        type=int,
        help="articles given to both tools for the datatrove "
        "comparison (default 3000; --quick: 500; 0 = all 30,000)",
    )
    ap.add_argument("--sizes", help="scaling corpus sizes, comma-separated (default 10000,50000,200000)")
    ap.add_argument(
        "--scaling-runs",
        type=int,
        help="runs per scaling size (default: --runs below 100k "
        "documents, 1 from 100k: the 200k corpus alone takes minutes per run)",
    )
    ap.add_argument("--skip-articles", action="store_true")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument(
        "--no-install", action="store_true", help="do not create the datatrove venv (skip if absent)"
    )
    ap.add_argument(
        "--cache", type=Path, default=HERE / "cache", help="built corpora (default benchmarks/cache)"
    )
    ap.add_argument("--out", type=Path, help="JSON results (default benchmarks/results/<UTC time>.json)")
    args = ap.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    if args.datatrove_docs is None:
        args.datatrove_docs = 500 if args.quick else 3000
    args.sizes = [
        int(s) for s in (args.sizes or ("10000" if args.quick else "10000,50000,200000")).split(",")
    ]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc)
    out_path = args.out or HERE / "results" / f"{started:%Y%m%dT%H%M%SZ}.json"
    cores = args.workers
    rows: list[dict] = []
    summary: dict = {}
    notes: list[str] = []
    conditions = {
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "benchmarks/run_all.py", *(argv or sys.argv[1:])]),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "pipeline", "config")),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cores": all_cores(),
        "load_average_start": os.getloadavg(),
        "runs": args.runs,
    }
    jsonl = newsclean_reads_jsonl()
    if not jsonl:
        notes.append(
            "newsclean has no JSONL reader in this checkout: it read the same articles as .txt page dumps"
        )

    def newsclean_input(source: corpora.Input) -> corpora.Input:
        return source if jsonl else corpora.articles_as_text_dumps(args.cache, source)

    with tempfile.TemporaryDirectory(prefix="newsclean-bench-") as tmp:
        scratch = Path(tmp)
        if not args.skip_articles:
            source = newsclean_input(corpora.articles(args.cache))
            one = run_newsclean(source, 1, args.runs, scratch)
            rows.append(one)
            if cores > 1:
                many = run_newsclean(source, cores, args.runs, scratch)
                rows.append(many)
                summary[f"articles: {cores} workers vs 1 (speed-up)"] = _ratio(
                    many["docs_per_s"], one["docs_per_s"]
                )
                summary[f"articles: output of 1 and {cores} workers byte-identical"] = (
                    one["shards_sha256"] == many["shards_sha256"]
                )
            summary["articles: newsclean docs/s per core"] = one["docs_per_s_per_core"]

        if not args.skip_datatrove:
            python = datatrove_python(install=not args.no_install)
            if python is None:
                notes.append("datatrove skipped: no venv (run without --no-install to create it)")
            else:
                conditions["datatrove"] = datatrove_version(python)
                n = args.datatrove_docs or 30000
                slice_ = corpora.articles_slice(args.cache, n, max(cores, 1))
                nc = run_newsclean(newsclean_input(slice_), 1, args.runs, scratch)
                dtr = run_datatrove(python, slice_, 1, args.runs, scratch)
                rows += [nc, dtr]
                summary[f"datatrove: newsclean/datatrove throughput per core on the first {n} articles"] = (
                    _ratio(nc["docs_per_s_per_core"], dtr["docs_per_s_per_core"])
                )
                if rows and rows[0]["input"].startswith("articles-30k"):
                    summary["datatrove: newsclean on all 30k / datatrove on the slice, per core"] = _ratio(
                        rows[0]["docs_per_s_per_core"], dtr["docs_per_s_per_core"]
                    )
                summary["datatrove: kept documents newsclean / datatrove"] = (
                    f"{nc['kept']} / {dtr['kept']} "
                    f"({100 * (nc['kept'] - dtr['kept']) / max(dtr['kept'], 1):+.1f}%)"
                )
                summary["datatrove: peak memory newsclean / datatrove (MB, largest process)"] = (
                    f"{nc['max_rss_mb']:.0f} / {dtr['max_rss_mb']:.0f}"
                )

        if not args.skip_scaling:
            scaled = []
            for n in args.sizes:
                _note(f"building corpus of {n} documents (cached)")
                runs = args.scaling_runs or (args.runs if n < 100_000 else 1)
                scaled.append(run_newsclean(corpora.synthetic(args.cache, n), cores, runs, scratch))
            rows += scaled
            if len(scaled) > 1:
                first, last = scaled[0], scaled[-1]
                summary[f"scaling: time per document {last['input']} / {first['input']}"] = _ratio(
                    last["ms_per_doc"], first["ms_per_doc"]
                )
                summary[f"scaling: peak memory at {last['input']} (MB, process tree)"] = last["peak_tree_mb"]

    conditions["load_average_end"] = os.getloadavg()
    conditions["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    text = table(rows)
    print(text)
    print()
    print(summary_lines(summary))
    for note in notes:
        print(f"note: {note}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(
        json.dumps(
            {"conditions": conditions, "summary": summary, "notes": notes, "rows": rows},
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"\nresults: {out_path}")
    return 0


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
