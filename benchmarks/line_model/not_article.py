#!/usr/bin/env python3
"""not_article on the text path: which pages of four sets the default text steps drop, and why.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/line_model/not_article.py run OUT.json \
        --models DIR [--silver benchmarks/cache/silver] [--sets dev,silver,synthetic,articles]
    .venv/bin/python benchmarks/line_model/not_article.py compare BEFORE.json AFTER.json

Sets (the checks of a change to `_why_not_article` and its helpers in pipeline/s3_clean/region.py):
- `dev`: the real dev pages and the seeds, each site through its leave-one-site-out fold model
  (`train.py loso --models DIR` writes them; a site without one uses the shipped model);
- `silver`: the 495 extraction-benchmark pages rendered as dumps (silver.py), real articles, the
  shipped model;
- `synthetic`: every dev article page's template around 30 other articles of articles-30k (seed 99),
  the fold model of the template's site;
- `articles`: the 30,000 texts of ../shared/bench/articles-30k.jsonl.gz (crawl text fields, already
  articles), the shipped model.
`run` writes each page's drop reason and detail (null when kept) and prints the counts per set;
`compare` lists the pages whose verdict differs. For an A/B, run the same command from both checkouts
(`PYTHONPATH=CHECKOUT`), one after the other.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections import Counter
from pathlib import Path

from data import ARTICLES, DEVPAGES, Page, load_articles, load_pages, seed_pages, synthesize
from train import run_pipeline

SYNTHETIC_PER_PAGE = 30
SYNTHETIC_SEED = 99
BATCH = 2000  # documents per run_pipeline call (the articles set)


def _model(models: Path | None, site: str) -> str | None:
    path = models / f"{site}.json" if models else None
    return str(path) if path and path.exists() else None


def _verdicts(pages: list[Page], model: str | None) -> dict[str, list]:
    results = run_pipeline(pages, model)
    out = {}
    for page in pages:
        r = results[page.stem]
        out[page.stem] = [r["dropped"], r["detail"]] if r["dropped"] else None
    return out


def dev_set(models: Path | None) -> dict[str, list]:
    pages = load_pages([DEVPAGES]) + seed_pages()
    out: dict[str, list] = {}
    for site in sorted({p.site for p in pages}):
        out |= _verdicts([p for p in pages if p.site == site], _model(models, site))
    return out


def synthetic_set(models: Path | None) -> dict[str, list]:
    templates = [p for p in load_pages([DEVPAGES]) + seed_pages() if p.page_type == "article" and p.body]
    articles = load_articles()
    rng = random.Random(SYNTHETIC_SEED)
    out: dict[str, list] = {}
    for page in templates:
        made = (synthesize(page, a, rng) for a in rng.sample(articles, SYNTHETIC_PER_PAGE))
        out |= _verdicts([s for s in made if s], _model(models, page.site))
    return out


def articles_set() -> dict[str, list]:
    with gzip.open(ARTICLES, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    pages = [Page(f"a{n:05d}", "articles-30k", "article", t.split("\n"), set()) for n, t in enumerate(texts)]
    out: dict[str, list] = {}
    for i in range(0, len(pages), BATCH):
        out |= _verdicts(pages[i : i + BATCH], None)
    return out


def run(a) -> None:
    sets = {
        "dev": lambda: dev_set(a.models),
        "silver": lambda: _verdicts(load_pages(a.silver), None),
        "synthetic": lambda: synthetic_set(a.models),
        "articles": articles_set,
    }
    report = {}
    for name in a.sets.split(","):
        t = time.process_time()
        report[name] = sets[name]()
        reasons = Counter(v[0] for v in report[name].values() if v)
        print(
            f"{name}: {len(report[name])} pages, not_article {reasons.pop('not_article', 0)}, "
            f"other drops {dict(reasons)} ({time.process_time() - t:.0f} s CPU)",
            flush=True,
        )
    a.out.write_text(json.dumps(report, indent=0, ensure_ascii=False) + "\n")


def compare(a) -> None:
    before, after = json.loads(a.before.read_text()), json.loads(a.after.read_text())
    for name in before:
        changed = {k: (v, after.get(name, {}).get(k)) for k, v in before[name].items()}
        changed = {k: (b, c) for k, (b, c) in changed.items() if (b or [None])[0] != (c or [None])[0]}
        print(f"{name}: {len(changed)} pages change verdict")
        for k, (b, c) in sorted(changed.items()):
            print(f"  {k}: {b[0] if b else 'kept'} -> {c[0] if c else 'kept'}  {c[1] if c else ''}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("--models", type=Path, help="the fold models of `train.py loso --models DIR`")
    r.add_argument("--silver", nargs="*", type=Path, default=[DEVPAGES.parent / "cache" / "silver"])
    r.add_argument("--sets", default="dev,silver,synthetic,articles")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    a = ap.parse_args()
    run(a) if a.command == "run" else compare(a)


if __name__ == "__main__":
    main()
