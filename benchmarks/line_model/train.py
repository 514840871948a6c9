#!/usr/bin/env python3
"""Train the line model of `article_region`, and measure it leave-one-site-out.

    .venv/bin/python benchmarks/line_model/train.py train [--pages DIR ...] [--out pipeline/s3_clean/line_model.json]
    .venv/bin/python benchmarks/line_model/train.py loso  [--pages DIR ...] [--json OUT.json]

`train` fits the model on every labeled page (real pages plus synthetic pages made from their
templates, see data.py) and writes the JSON the package ships. `loso` holds out one site at a time:
the model is trained on the other sites' pages (real and synthetic), then the whole default text
pipeline runs on the held-out site's real dumps and is scored line by line against their gold (the
seeds' scorer's rules), with title/date/author and not_article. Deterministic (fixed seeds).
Needs only numpy; ../shared/bench/articles-30k.jsonl.gz for the synthetic pages.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from data import DEVPAGES, Page, load_articles, load_pages, norm, synthesize  # noqa: E402

from pipeline.s3_clean.line_features import line_features  # noqa: E402
from pipeline.s3_clean.line_model import MODEL_PATH, LineModel  # noqa: E402

SYNTHETIC_PER_PAGE = 12
HIDDEN = 16


def featurize(pages: list[Page]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for page in pages:
        idx, x = line_features(page.lines)
        xs.append(x)
        ys.append(np.array([i in page.body for i in idx], dtype=np.float64))
    return np.vstack(xs), np.concatenate(ys)


def with_synthetic(pages: list[Page], articles: list[list[str]], seed: int = 11) -> list[Page]:
    rng = random.Random(seed)
    out = list(pages)
    for page in pages:
        for _ in range(SYNTHETIC_PER_PAGE if page.body else 2):
            synth = synthesize(page, rng.choice(articles), rng)
            out.append(synth if synth else page)  # pages without an article count again as they are
    return out


def fit(x: np.ndarray, y: np.ndarray, hidden: int = HIDDEN, epochs: int = 400, lr: float = 0.02,
        l2: float = 1e-4, seed: int = 3) -> LineModel:
    """One-hidden-layer perceptron, full-batch Adam on the log loss, classes weighted equally."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / scale
    rng = np.random.default_rng(seed)
    params = [rng.normal(0, 1 / np.sqrt(z.shape[1]), (z.shape[1], hidden)), np.zeros(hidden),
              rng.normal(0, 1 / np.sqrt(hidden), hidden), np.zeros(1)]
    pos = y.mean()
    weight = np.where(y > 0, 0.5 / pos, 0.5 / (1 - pos)) / len(y)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for step in range(1, epochs + 1):
        w1, b1, w2, b2 = params
        h = np.tanh(z @ w1 + b1)
        p = 1 / (1 + np.exp(-(h @ w2 + b2[0])))
        g_out = (p - y) * weight
        grads = [None, None, h.T @ g_out + l2 * w2, np.array([g_out.sum()])]
        g_h = np.outer(g_out, w2) * (1 - h * h)
        grads[0] = z.T @ g_h + l2 * w1
        grads[1] = g_h.sum(0)
        for k, g in enumerate(grads):
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            params[k] -= lr * (m[k] / (1 - 0.9 ** step)) / (np.sqrt(v[k] / (1 - 0.999 ** step)) + 1e-8)
    w1, b1, w2, b2 = params
    return LineModel(mean, scale, w1, b1, w2, float(b2[0]))


def train(pages: list[Page], articles) -> LineModel:
    x, y = featurize(with_synthetic(pages, articles))
    return fit(x, y)


# -- scoring the whole text pipeline -------------------------------------------------------------

def run_pipeline(pages: list[Page], model_path: str | None) -> dict[str, dict]:
    """Kept text and metadata (or the drop reason) of each page through the default config's text steps."""
    from pipeline.config import load_config
    from pipeline.document import Document
    from pipeline.runner import build_pipeline
    from pipeline.step import GlobalStep

    config = load_config(ROOT / "config" / "default.yaml")
    if model_path:
        for name, options in config.steps:
            if name == "article_region":
                options["model"] = model_path
    pipeline = build_pipeline(config, "2024-01-01T00:00:00Z", "bench")
    steps = [s for s in pipeline.per_document if not isinstance(s, GlobalStep)]
    out = {}
    for page in pages:
        doc = Document(id=page.stem, text="\n".join(page.lines),
                       provenance={"input_path": f"{page.stem}.txt"})
        docs = iter([doc])
        for step in steps:
            docs = step.run(docs)
        doc = next(docs)
        out[page.stem] = {"text": doc.text, "meta": doc.metadata, "dropped": doc.drop_reason}
    return out


def score(pages: list[Page], results: dict[str, dict]) -> dict:
    tp = fp = fn = 0
    meta_ok = meta_n = 0
    non_articles = dropped_non_articles = articles_dropped = 0
    for page in pages:
        r = results[page.stem]
        if page.page_type != "article":
            non_articles += 1
            dropped_non_articles += r["dropped"] == "not_article"
            continue
        gold = {norm(x) for x in page.gold.get("text", "").split("\n\n") if norm(x)}
        pred = [] if r["dropped"] else [norm(x) for x in r["text"].split("\n") if norm(x)]
        articles_dropped += bool(r["dropped"])
        pred_set = set(pred)
        tp += len(gold & pred_set)
        fp += sum(x not in gold for x in pred)
        fn += sum(x not in pred_set for x in gold)
        for field, key in (("title", "title"), ("author", "author"), ("published", "created")):
            want = page.gold.get(field)
            if not want:
                continue
            got = r["meta"].get(key)
            meta_n += 1
            if field == "published":
                meta_ok += bool(got) and (str(got)[:10] == want[:10])
            else:
                meta_ok += bool(got) and norm(str(got)) == norm(want)
    p = tp / (tp + fp) if tp + fp else 0.0
    rc = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
    return {"P": round(p, 4), "R": round(rc, 4), "F1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn,
            "meta_ok": meta_ok, "meta_n": meta_n, "non_articles": non_articles,
            "not_article_dropped": dropped_non_articles, "articles_dropped": articles_dropped}


def loso(pages: list[Page], articles) -> dict:
    by_site = defaultdict(list)
    for page in pages:
        by_site[page.site].append(page)
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for site in sorted(by_site):
            rest = [p for p in pages if p.site != site]
            model = train(rest, articles)
            path = Path(tmp) / f"{site}.json"
            path.write_text(json.dumps(model.to_json()))
            report[site] = score(by_site[site], run_pipeline(by_site[site], str(path)))
            print(site, report[site], flush=True)
    return report


def total(report: dict) -> dict:
    keys = ("tp", "fp", "fn", "meta_ok", "meta_n", "non_articles", "not_article_dropped", "articles_dropped")
    t = {k: sum(r[k] for r in report.values()) for k in keys}
    p = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else 0.0
    rc = t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else 0.0
    return {"P": round(p, 4), "R": round(rc, 4), "F1": round(2 * p * rc / (p + rc), 4) if p + rc else 0.0, **t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["train", "loso"])
    ap.add_argument("--pages", nargs="*", type=Path, default=[DEVPAGES])
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    pages = load_pages(a.pages)
    articles = load_articles()
    sites = sorted({p.site for p in pages})
    print(f"{len(pages)} pages from {len(sites)} sites: {', '.join(sites)}", flush=True)
    t = time.process_time()
    if a.command == "train":
        model = train(pages, articles)
        a.out.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n")
        print(f"wrote {a.out} ({a.out.stat().st_size} bytes) in {time.process_time() - t:.1f} s CPU")
    else:
        report = loso(pages, articles)
        report["TOTAL"] = total(report)
        print("TOTAL", report["TOTAL"])
        if a.json:
            a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
