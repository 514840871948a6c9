"""HTML dev pages: newsclean vs trafilatura on the same real pages, line gold scored per site.

    nice .venv/bin/python benchmarks/devpages.py --pages DIR [DIR ...] [--out /tmp/devpages-bench]
        [--before OLD_CHECKOUT] [--settings default,precision,recall]

A pages DIR holds `html/NNN_<hash>.html.gz` and `gold/NNN_<hash>.gold.json` (line gold with `site`,
`page_type` and `text`, paragraphs separated by a blank line). newsclean runs the default config over
all the pages (the whole pipeline, as a user would); `--before` runs the same from another checkout
(e.g. `git archive` of an older commit) in the same session, for a before/after table. trafilatura
gets each page decoded by our decoder, like benchmarks/extraction.py.

Article pages are scored with ../shared/gold/score_seeds.py (line P/R/F1 and title/author/date), per
site and in all; pages whose gold says they are not articles (home, category…) are counted as dropped
`not_article` or kept. An article dropped as `not_article` is listed by name.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib.util
import io
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, jsonl_records, shared_path

from pipeline.s1_read.decode import declared_charset, decode_bytes
from pipeline.s3_clean.dates import parse_datetime

LISTING_TYPES = {"home", "category", "tag", "search", "list", "section"}
SETTINGS = {"default": {}, "precision": {"favor_precision": True}, "recall": {"favor_recall": True}}
_MICRO = re.compile(r"micro: P=([\d.]+) R=([\d.]+) F1=([\d.]+) metadata=(\d+)/(\d+)")
_KEY = re.compile(r"(\d{3}_[0-9a-f]{16})")


def load_scorer(path: Path):
    spec = importlib.util.spec_from_file_location("score_seeds", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(scorer, gold_dir: Path, pred: Path) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        scorer.main(str(gold_dir), str(pred))
    p, r, f1, ok, n = _MICRO.search(buf.getvalue()).groups()
    return {"P": float(p), "R": float(r), "F1": float(f1), "meta": f"{ok}/{n}"}


def run_newsclean(checkout: Path, pages: Path, out: Path) -> tuple[float, Path]:
    shutil.rmtree(out, ignore_errors=True)
    started = _children_cpu()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "-i",
            str(pages),
            "-o",
            str(out),
            "-q",
            "--progress",
            "off",
        ],
        cwd=checkout,
        check=True,
    )
    return _children_cpu() - started, next(out.glob("runs/*"))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rejects(run_dir: Path) -> dict[str, str]:
    """page key -> drop reason."""
    out = {}
    for path in run_dir.glob("rejects*.jsonl*"):
        for rec in jsonl_records(path):
            m = _KEY.search(json.dumps(rec.get("metadata", {}).get("input_path") or rec.get("id")))
            if m:
                out[m.group(1)] = rec.get("reason")
    return out


def run_trafilatura(pages: list[Path], options: dict, out_file: Path) -> None:
    from trafilatura import bare_extraction

    with open(out_file, "w", encoding="utf-8") as fh:
        for path in pages:
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            text, _ = decode_bytes(data, ["cp1252"], declared_charset(data))
            result = bare_extraction(text, with_metadata=True, **options)
            record = {"id": path.name, "text": "", "created": None, "metadata": {}}
            if result is not None:
                record["text"] = result.text or ""
                record["created"] = parse_datetime(result.date) if result.date else None
                record["metadata"] = {"title": result.title, "author": result.author}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def link_pages(dirs: list[Path], inputs: Path) -> tuple[list[Path], dict[str, tuple[Path, dict]]]:
    """Link each folder's saved pages that have gold into `inputs`; their gold by stem."""
    pages, gold = [], {}
    for directory in dirs:
        for path in sorted((directory / "gold").glob("*.gold.json")):
            k = path.name.split(".")[0]
            html = directory / "html" / f"{k}.html.gz"
            if not html.exists() or k in gold:
                continue  # no page, or the same page in an earlier folder
            gold[k] = (path, json.loads(path.read_text(encoding="utf-8")))
            (inputs / html.name).symlink_to(html.resolve())
            pages.append(inputs / html.name)
    return pages, gold


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=Path, nargs="+", required=True)
    ap.add_argument("--out", type=Path, default=Path("/tmp/devpages-bench"))
    ap.add_argument("--before", type=Path, help="another checkout to run as 'before'")
    ap.add_argument("--settings", default="default,precision,recall")
    ap.add_argument("--scorer", type=Path, default=shared_path("gold", "score_seeds.py"))
    args = ap.parse_args(argv)
    scorer = load_scorer(args.scorer)
    shutil.rmtree(args.out, ignore_errors=True)
    inputs, golds = args.out / "input", args.out / "gold"
    inputs.mkdir(parents=True)
    pages, gold = link_pages(args.pages, inputs)
    if not gold:  # e.g. an empty benchmarks/heldout between rounds: say so, not a StopIteration later
        ap.error(f"no page with gold and html under {', '.join(map(str, args.pages))}")
    sites: dict[str, list[str]] = {}
    for k, (path, g) in sorted(gold.items()):
        if g.get("page_type", "article") == "article":
            for group in (g.get("site") or "?", "all"):
                (golds / group).mkdir(parents=True, exist_ok=True)
                (golds / group / path.name).symlink_to(path.resolve())
                sites.setdefault(group, []).append(k)
    rows = {}  # extractor -> (pred path, drops)
    cpu, run_dir = run_newsclean(ROOT, inputs, args.out / "newsclean")
    rows["newsclean"] = (run_dir, rejects(run_dir), cpu)
    if args.before:
        cpu, run_dir = run_newsclean(args.before.resolve(), inputs, args.out / "before")
        rows["newsclean before"] = (run_dir, rejects(run_dir), cpu)
    for name in [s for s in args.settings.split(",") if s]:
        out_file = args.out / f"trafilatura-{name}.jsonl"
        started = time.process_time()
        run_trafilatura(pages, SETTINGS[name], out_file)
        rows[f"trafilatura {name}"] = (out_file, {}, time.process_time() - started)
    non_articles = [k for k, (_, g) in gold.items() if g.get("page_type", "article") != "article"]
    print(
        f"{len(gold)} pages: {len(gold) - len(non_articles)} articles on {len(sites) - 1 if sites else 0} sites, "
        f"{len(non_articles)} non-articles"
    )
    print("| site | pages | " + " | ".join(f"{name} P/R/F1 meta" for name in rows) + " |")
    print("|---|--:|" + "--:|" * len(rows))
    for site in sorted(sites, key=lambda s: (s == "all", s)):
        cells = []
        for pred, _, _ in rows.values():
            s = score(scorer, golds / site, pred)
            cells.append(f"{s['P']:.3f}/{s['R']:.3f}/**{s['F1']:.3f}** {s['meta']}")
        print(f"| {site} | {len(sites[site])} | " + " | ".join(cells) + " |")
    listings = [k for k in non_articles if gold[k][1].get("page_type") in LISTING_TYPES]
    for name, (_, drops, cpu) in rows.items():
        if name.startswith("newsclean"):
            dropped = [k for k in listings if drops.get(k) == "not_article"]
            wrong = [k for k in gold if k not in non_articles and drops.get(k) == "not_article"]
            others = {
                k: f"{gold[k][1].get('page_type')}:{drops.get(k, 'KEPT')}"
                for k in non_articles
                if k not in listings
            }
            print(
                f"{name}: home/category/list pages dropped not_article {len(dropped)}/{len(listings)} "
                f"(others: { {k: drops.get(k, 'KEPT') for k in listings if k not in dropped} }); "
                f"articles dropped not_article "
                f"{len(wrong)} {wrong}; other non-articles {others}; article drops "
                f"{ {k: r for k, r in drops.items() if k not in non_articles} }; CPU {cpu:.1f}s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
