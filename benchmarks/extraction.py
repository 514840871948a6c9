"""Extraction benchmark: newsclean vs trafilatura alone on the same pages, in the same run.

    flock /tmp/newsclean-bench.lock .venv/bin/python benchmarks/extraction.py \
        [--bench ../shared/bench/extraction] [--out /tmp/extraction-bench] [--workers 1] \
        [--settings default,no_comments,precision,recall] [--json benchmarks/results/extraction.json]

1. newsclean: `python -m pipeline run -i BENCH/pages -o OUT/newsclean -w WORKERS` (the default
   config, the whole pipeline: decode, extract_html, cleaning, filters, dedup), timed as a
   process from start to exit (wall and CPU time of the process tree, startup included).
   Then the same with the filters and dedup switched off (`newsclean extraction only`): the
   scorer counts a page the filters drop as an empty extraction, so this row shows the
   extraction apart from the corpus filters.
2. trafilatura alone, one process per setting, one core: each page's bytes decoded by our
   decoder (trafilatura's own decoding mangles cp1252 punctuation), then `bare_extraction`
   with metadata.

pages/s is given per wall second and per CPU second: on a shared machine the wall figure
moves with the load of other jobs, the CPU figure less. Every extractor runs in a fresh
process, timed whole (startup included) like newsclean: trafilatura and htmldate keep
caches, so a second pass over the same pages in one process is faster and would flatter
whichever setting ran later.

Every output is scored by BENCH/score_extraction.py (P/R/F1 on with/without snippets, metadata
hits). The scorer crashes on the two gold authors given as lists when a prediction has an
author; it is loaded here with `squash` taught to join a list (a list never equals a string,
so the hit counts do not change). Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib.util
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, shared_path

from pipeline.s1_read.decode import declared_charset, decode_bytes
from pipeline.s3_clean.dates import parse_datetime

SETTINGS = {
    "default": {},
    "no_comments": {"include_comments": False},
    "precision": {"include_comments": False, "favor_precision": True},
    "recall": {"include_comments": False, "favor_recall": True},
    "fast": {"include_comments": False, "fast": True},
}
_SCORE_LINE = re.compile(
    r"P=([\d.]+) R=([\d.]+) F1=([\d.]+) title=(\d+)/(\d+) author=(\d+)/(\d+) date=(\d+)/(\d+)"
)


def load_scorer(bench: Path):
    spec = importlib.util.spec_from_file_location("score_extraction", bench / "score_extraction.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    squash = module.squash
    module.squash = lambda s: squash("; ".join(s) if isinstance(s, list) else s)
    return module


def score(scorer, gold: Path, pred: Path) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        scorer.main(str(gold), str(pred))
    line = buf.getvalue().strip()
    m = _SCORE_LINE.search(line)
    p, r, f1, th, tn, ah, an, dh, dn = m.groups()
    return {
        "P": float(p),
        "R": float(r),
        "F1": float(f1),
        "title": int(th),
        "author": int(ah),
        "date": int(dh),
        "meta_total": {"title": int(tn), "author": int(an), "date": int(dn)},
        "scorer": line,
    }


FILTERS = ("language_filter", "length_filter", "quality_filter", "exact_dedup", "near_dedup")


def extraction_only_config(out: Path, checkout: Path = ROOT) -> Path:
    """config/ of `checkout` copied with the filters and dedup switched off."""
    directory = out / "config-extraction-only"
    shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(checkout / "config", directory)
    path = directory / "default.yaml"
    text = path.read_text(encoding="utf-8")
    for name in FILTERS:
        text, n = re.subn(rf"(?m)^(  - step: {name}\n)", r"\1    enabled: false\n", text)
        assert n == 1, name
    path.write_text(text, encoding="utf-8")
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_newsclean(
    pages: Path, target: Path, workers: int, config: Path | None = None, checkout: Path = ROOT
) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the process tree, manifest) of the pipeline in `checkout`."""
    shutil.rmtree(target, ignore_errors=True)
    cpu, started = _children_cpu(), time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            *(["-c", str(config)] if config else []),
            "-i",
            str(pages),
            "-o",
            str(target),
            "-q",
            "-w",
            str(workers),
            "--progress",
            "off",
        ],
        cwd=checkout,
        check=True,
    )
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    manifest = json.loads(next(target.glob("runs/*/manifest.json")).read_text())
    return seconds, cpu, manifest


def run_trafilatura(pages: list[Path], options: dict, out_file: Path) -> float:
    from trafilatura import bare_extraction

    seconds = cpu = 0.0
    with open(out_file, "w", encoding="utf-8") as fh:
        for path in pages:
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            started, cpu_started = time.perf_counter(), time.process_time()
            text, _ = decode_bytes(data, ["cp1252"], declared_charset(data))
            result = bare_extraction(text, with_metadata=True, **options)
            seconds += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            record = {
                "id": path.name.removesuffix(".gz").removesuffix(".html"),
                "text": "",
                "created": None,
                "metadata": {},
            }
            if result is not None:
                record["text"] = result.text or ""
                record["created"] = parse_datetime(result.date) if result.date else None
                record["metadata"] = {"title": result.title, "author": result.author}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return seconds, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=shared_path("bench", "extraction"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/extraction-bench"))
    ap.add_argument(
        "--workers", type=int, default=1, help="newsclean worker processes (trafilatura runs on one)"
    )
    ap.add_argument("--settings", default="default,no_comments,precision,recall")
    ap.add_argument("--skip-newsclean", action="store_true")
    ap.add_argument(
        "--before",
        type=Path,
        help="another checkout (e.g. `git archive` of an older commit) run "
        "the same way first, for a before/after table in one run",
    )
    ap.add_argument("--trafilatura-worker", nargs=2, metavar=("SETTING", "OUT_JSONL"), help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "extraction.json")
    args = ap.parse_args(argv)
    if args.trafilatura_worker:  # one setting in this fresh process (see the module docstring)
        setting, out_file = args.trafilatura_worker
        run_trafilatura(sorted((args.bench / "pages").iterdir()), SETTINGS[setting], Path(out_file))
        return 0
    gold, pages_dir = args.bench / "gold.jsonl", args.bench / "pages"
    if not gold.exists():
        print(f"no benchmark data at {args.bench}", file=sys.stderr)
        return 2
    pages = sorted(pages_dir.iterdir())
    args.out.mkdir(parents=True, exist_ok=True)
    scorer = load_scorer(args.bench)
    rows, extra = [], {}

    def row(name: str, pred: Path, seconds: float, cpu: float) -> dict:
        return {
            "extractor": name,
            **score(scorer, gold, pred),
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "pages_per_s": round(len(pages) / seconds, 2),
            "pages_per_cpu_s": round(len(pages) / cpu, 2),
        }

    if args.before and not args.skip_newsclean:
        before = args.before.resolve()
        seconds, cpu, _ = run_newsclean(pages_dir, args.out / "before", args.workers, checkout=before)
        rows.append(row("BEFORE newsclean full pipeline", args.out / "before", seconds, cpu))
        seconds, cpu, _ = run_newsclean(
            pages_dir,
            args.out / "before-extraction",
            args.workers,
            extraction_only_config(args.out / "before-config", before),
            before,
        )
        rows.append(
            row("BEFORE newsclean extraction only, filters off", args.out / "before-extraction", seconds, cpu)
        )
    if not args.skip_newsclean:
        plural = "s" if args.workers > 1 else ""
        seconds, cpu, manifest = run_newsclean(pages_dir, args.out / "newsclean", args.workers)
        rows.append(
            row(
                f"newsclean full pipeline ({args.workers} worker{plural})",
                args.out / "newsclean",
                seconds,
                cpu,
            )
        )
        extra["newsclean_dropped"] = manifest["counts"][
            "by_reason"
        ]  # pages the filters took (scored as empty)
        extra["newsclean_html_rules"] = manifest["stages"].get("extract_html", {}).get("counters", {})
        seconds, cpu, _ = run_newsclean(
            pages_dir, args.out / "newsclean-extraction", args.workers, extraction_only_config(args.out)
        )
        rows.append(
            row(
                f"newsclean extraction only, filters off ({args.workers} worker{plural})",
                args.out / "newsclean-extraction",
                seconds,
                cpu,
            )
        )
    for name in [s for s in args.settings.split(",") if s]:
        out_file = args.out / f"trafilatura-{name}.jsonl"
        cpu, started = _children_cpu(), time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--bench",
                str(args.bench),
                "--trafilatura-worker",
                name,
                str(out_file),
            ],
            cwd=ROOT,
            check=True,
        )
        seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
        rows.append(
            row(
                f"trafilatura {name} {json.dumps(SETTINGS[name]) if SETTINGS[name] else ''}".strip(),
                out_file,
                seconds,
                cpu,
            )
        )
    meta_total = rows[0]["meta_total"]
    print(
        f"{len(pages)} pages; metadata hits out of title={meta_total['title']} author={meta_total['author']} "
        f"date={meta_total['date']}; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"| {'extractor':<80} | {'P':>5} | {'R':>5} | {'F1':>5} | title | author | date | pages/s | pages/CPU-s |"
    )
    print(f"| {'-' * 80} | ----: | ----: | ----: | ----: | -----: | ---: | ------: | ----------: |")
    for r in rows:
        print(
            f"| {r['extractor']:<80} | {r['P']:.3f} | {r['R']:.3f} | {r['F1']:.3f} | {r['title']:5d} | "
            f"{r['author']:6d} | {r['date']:4d} | {r['pages_per_s']:7.2f} | {r['pages_per_cpu_s']:11.2f} |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"pages": len(pages), "rows": rows, **extra, "load_average": os.getloadavg()},
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
