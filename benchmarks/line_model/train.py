#!/usr/bin/env python3
"""Train the line model of `article_region`, and measure it leave-one-site-out.

    .venv/bin/python benchmarks/line_model/train.py train [--pages DIR ...] [--out pipeline/s3_clean/line_model.json]
    .venv/bin/python benchmarks/line_model/train.py loso  [--pages DIR ...] [--json OUT.json]
    .venv/bin/python benchmarks/line_model/train.py score --pages benchmarks/heldout --no-seeds [--baselines] [--json OUT.json]

`train` fits the model on every labeled page (real pages plus synthetic pages made from their
templates, see data.py) and writes the JSON the package ships. `loso` holds out one site at a time:
the model is trained on the other sites' pages (real and synthetic), then the whole default text
pipeline runs on the held-out site's real dumps and is scored line by line against their gold (the
seeds' scorer's rules), with title/date/author and not_article. `score` runs the default text pipeline
with the shipped model, untouched, on every given page and scores it per site the same way: the
figure for pages nobody trained or tuned on (benchmarks/heldout). Deterministic (fixed seeds).
Needs only numpy; ../shared/bench/articles-30k.jsonl.gz for the synthetic pages.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from baselines import BASELINES
from data import DEVPAGES, Page, load_articles, load_pages, norm, seed_pages, synthesize

from pipeline.registry import step_class
from pipeline.s3_clean.line_features import line_features
from pipeline.s3_clean.line_model import MODEL_PATH, LineModel

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SYNTHETIC_PER_PAGE = 20
SYNTHETIC_PER_SILVER = 1
SILVER_WEIGHT = 0.1
HIDDEN = 24


def featurize(pages: list[Page]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels, a weight and the site per line (after the rules): silver pages (labeled by trafilatura, see silver.py)
    count SILVER_WEIGHT of a hand-labeled or synthetic page."""
    xs, ys, ws, sites = [], [], [], []
    rules = rule_cleaner()
    for page in pages:
        idx, x = line_features(after_rules(rules, page.lines))
        xs.append(x)
        ys.append(np.array([i in page.body for i in idx], dtype=np.float64))
        ws.append(np.full(len(idx), SILVER_WEIGHT if page.gold.get("silver") else 1.0))
        sites.append(np.full(len(idx), page.site, dtype=object))
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(sites)


def rule_cleaner():
    """clean_lines as the default config runs it: the model sees pages after the rules."""
    from pipeline.registry import step_class

    return step_class("clean_lines")(
        {"rules": ["rules/vi.yaml", "rules/en.yaml", "rules/web.yaml"]}, {"config_dir": str(ROOT / "config")}
    )


def after_rules(rules, lines: list[str]) -> list[str]:
    from pipeline.document import Document

    doc = Document(id="page", text="\n".join(lines))
    rules.process(doc)
    return doc.text.split("\n")


def with_synthetic(pages: list[Page], articles: list[list[str]], seed: int = 11) -> list[Page]:
    """Each page, plus synthetic pages made of its template and other articles: SYNTHETIC_PER_PAGE for
    a hand-labeled page, SYNTHETIC_PER_SILVER for a silver one; a page without an article counts twice."""
    rng = random.Random(seed)
    out = list(pages)
    for page in pages:
        silver = page.gold.get("silver")
        for _ in range(SYNTHETIC_PER_SILVER if silver else SYNTHETIC_PER_PAGE if page.body else 2):
            synth = synthesize(page, rng.choice(articles), rng)
            if synth and silver:
                synth.gold["silver"] = True
            out.append(synth if synth else page)
    return out


def fit(
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    hidden: int = HIDDEN,
    epochs: int = 12,
    batch: int = 1024,
    lr: float = 0.005,
    l2: float = 1e-5,
    seed: int = 3,
) -> LineModel:
    """One-hidden-layer perceptron, minibatch Adam on the weighted log loss, classes weighted equally."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = ((x - mean) / scale).astype(np.float32)
    rng = np.random.default_rng(seed)
    params = [
        rng.normal(0, 1 / np.sqrt(z.shape[1]), (z.shape[1], hidden)).astype(np.float32),
        np.zeros(hidden, np.float32),
        rng.normal(0, 1 / np.sqrt(hidden), hidden).astype(np.float32),
        np.zeros(1, np.float32),
    ]
    pos = np.average(y, weights=sample_weight)
    weight = np.where(y > 0, 0.5 / pos, 0.5 / (1 - pos)) * sample_weight
    weight = (weight / weight.mean()).astype(np.float32)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    for _epoch in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            zb, yb, wb = z[rows], y[rows], weight[rows]
            w1, b1, w2, b2 = params
            h = np.tanh(zb @ w1 + b1)
            p = 1 / (1 + np.exp(-(h @ w2 + b2[0])))
            g_out = (p - yb) * wb / len(rows)
            g_h = np.outer(g_out, w2) * (1 - h * h)
            grads = [zb.T @ g_h + l2 * w1, g_h.sum(0), h.T @ g_out + l2 * w2, np.array([g_out.sum()])]
            step += 1
            for k, g in enumerate(grads):
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                params[k] -= (
                    lr * (m[k] / (1 - 0.9**step)) / (np.sqrt(v[k] / (1 - 0.999**step)) + 1e-8)
                ).astype(np.float32)
    w1, b1, w2, b2 = (p.astype(np.float64) for p in params)
    return LineModel(mean, scale, w1, b1, w2, float(b2[0]))


def train(pages: list[Page], articles) -> LineModel:
    x, y, w, _ = training_set(pages, articles)
    return fit(x, y, w)


def training_set(pages: list[Page], articles) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels, weights and the site of each line, real and synthetic pages together."""
    return featurize(with_synthetic(pages, articles))


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
    docs = [
        Document(id=page.stem, text="\n".join(page.lines), provenance={"input_path": f"{page.stem}.txt"})
        for page in pages
    ]
    stream = iter(docs)
    for step in steps:
        stream = step.run(stream)
    done = list(stream)
    template = [s for s in pipeline.global_steps if s.name == "template_lines"]
    if template or TEMPLATE_LINES:  # the pages of one site are one source, as a crawl folder of it in a run
        step = template[0] if template else step_class("template_lines")({}, {})
        remove_template_lines(step, [d for d in done if not d.dropped])
    return {
        doc.id: {
            "text": doc.text,
            "meta": doc.metadata,
            "dropped": doc.drop_reason,
            "detail": doc.drop_detail,
        }
        for doc in done
    }


TEMPLATE_LINES = False  # --template-lines: template_lines on, whatever the config says


def remove_template_lines(step, docs: list) -> None:
    """What a run's reduce and filter do with template_lines, in memory: the lines the documents
    (of one source) repeat in min_docs different documents leave their texts."""
    from pipeline.s3_clean import template_lines as tl

    opts = step.options
    table = tl.Table()
    for doc in docs:
        tl.count(table, "site", tl.text_key(doc.text, opts["max_chars"]), opts["copy_bits"])
    found = tl.template_of(table, opts["min_docs"], opts["min_share"]).get("site", set())
    for doc in docs:
        doc.text = tl.strip_text(doc.text, found, opts["max_chars"])[0]


def metadata_errors(page: Page, meta: dict) -> tuple[dict, int]:
    """The gold's title/author/published fields the pipeline got wrong ({field: want, got}), and how
    many fields the gold has (the date is compared by day)."""
    wrong, checked = {}, 0
    for field, key in (("title", "title"), ("author", "author"), ("published", "created")):
        want = page.gold.get(field)
        if not want:
            continue
        got = meta.get(key)
        checked += 1
        if field == "published":
            ok = bool(got) and (str(got)[:10] == want[:10])
        else:
            ok = bool(got) and norm(str(got)) == norm(want)
        if not ok:
            wrong[field] = {"want": want, "got": got}
    return wrong, checked


def score(pages: list[Page], results: dict[str, dict], errors: list | None = None) -> dict:
    """Line P/R/F1, metadata and not_article over `pages`; each page's wrong lines and fields are
    appended to `errors` when given (the error list of the LOSO report)."""
    tp = fp = fn = 0
    meta_ok = meta_n = 0
    non_articles = dropped_non_articles = articles_dropped = 0
    for page in pages:
        r = results[page.stem]
        if page.page_type != "article":
            non_articles += 1
            dropped_non_articles += r["dropped"] == "not_article"
            if errors is not None and r["dropped"] != "not_article":
                errors.append({"page": page.stem, "kept_non_article": r["dropped"] or "kept"})
            continue
        gold = {norm(x) for x in page.gold.get("text", "").split("\n\n") if norm(x)}
        pred = [] if r["dropped"] else [norm(x) for x in r["text"].split("\n") if norm(x)]
        articles_dropped += bool(r["dropped"])
        pred_set = set(pred)
        tp += len(gold & pred_set)
        fp += sum(x not in gold for x in pred)
        fn += sum(x not in pred_set for x in gold)
        wrong_meta, checked = metadata_errors(page, r["meta"])
        meta_n += checked
        meta_ok += checked - len(wrong_meta)
        if errors is not None and (r["dropped"] or wrong_meta or set(pred) != gold):
            errors.append(
                {
                    "page": page.stem,
                    "dropped": r["dropped"],
                    "false_positive": [x for x in pred if x not in gold],
                    "false_negative": [x for x in gold if x not in pred_set],
                    "metadata": wrong_meta,
                }
            )
    p = tp / (tp + fp) if tp + fp else 0.0
    rc = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
    return {
        "P": round(p, 4),
        "R": round(rc, 4),
        "F1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "meta_ok": meta_ok,
        "meta_n": meta_n,
        "non_articles": non_articles,
        "not_article_dropped": dropped_non_articles,
        "articles_dropped": articles_dropped,
    }


def loso(pages: list[Page], articles, with_baselines: bool = False, models: Path | None = None) -> dict:
    """Per held-out site: a model fitted without it, the text pipeline on its pages, the scores.
    With `models`, each fold's model is kept there as <site>.json and reused by the next run (the
    fits are deterministic): a change after the model (region.py, the rules) is measured in minutes.
    Empty that folder when the features or the training data change."""
    by_site = defaultdict(list)
    for page in pages:
        if not page.gold.get("silver"):  # silver pages train, never score
            by_site[page.site].append(page)
    report = {}
    data = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = models or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for site in sorted(by_site):
            path = folder / f"{site}.json"
            if not path.exists():
                if data is None:  # featurized once; each fold masks one site out
                    data = training_set(pages, articles)
                x, y, w, sites = data
                rest = sites != site
                path.write_text(json.dumps(fit(x[rest], y[rest], w[rest]).to_json()))
            errors: list = []
            results = run_pipeline(by_site[site], str(path))
            report[site] = {"newsclean": score(by_site[site], results, errors)}
            for name, baseline in BASELINES.items() if with_baselines else ():
                report[site][name] = score(by_site[site], baseline(by_site[site]))
            print(site, report[site], flush=True)
            report[site]["errors"] = errors
    return report


def score_shipped(pages: list[Page], with_baselines: bool = False) -> dict:
    """Per site: the default config's text steps with the shipped model (no refit) on the site's
    pages, scored like a LOSO fold; for held-out pages that trained and tuned nothing."""
    by_site = defaultdict(list)
    for page in pages:
        by_site[page.site].append(page)
    report = {}
    for site in sorted(by_site):
        errors: list = []
        report[site] = {"newsclean": score(by_site[site], run_pipeline(by_site[site], None), errors)}
        for name, baseline in BASELINES.items() if with_baselines else ():
            report[site][name] = score(by_site[site], baseline(by_site[site]))
        print(site, report[site], flush=True)
        report[site]["errors"] = errors
    return report


def total(rows: list[dict]) -> dict:
    keys = ("tp", "fp", "fn", "meta_ok", "meta_n", "non_articles", "not_article_dropped", "articles_dropped")
    t = {k: sum(r[k] for r in rows) for k in keys}
    p = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else 0.0
    rc = t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else 0.0
    return {
        "P": round(p, 4),
        "R": round(rc, 4),
        "F1": round(2 * p * rc / (p + rc), 4) if p + rc else 0.0,
        **t,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["train", "loso", "score"])
    ap.add_argument("--pages", nargs="*", type=Path, default=[DEVPAGES])
    ap.add_argument(
        "--silver",
        nargs="*",
        type=Path,
        default=[],
        help="silver-labeled pages (silver.py writes benchmarks/cache/silver)",
    )
    ap.add_argument("--no-seeds", action="store_true", help="leave out the seeds with gold (../shared/gold)")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--baselines", action="store_true", help="also score trafilatura, jusText, all lines")
    ap.add_argument("--models", type=Path, help="loso: keep the fold models here and reuse them")
    ap.add_argument("--template-lines", action="store_true", help="loso: with template_lines on")
    a = ap.parse_args()
    global TEMPLATE_LINES
    TEMPLATE_LINES = a.template_lines
    pages = load_pages(a.pages + a.silver) + ([] if a.no_seeds else seed_pages())
    if not pages:  # e.g. an empty benchmarks/heldout between rounds: say so, not a StopIteration later
        raise SystemExit(f"no page with gold and dump under {', '.join(map(str, a.pages + a.silver))}")
    articles = load_articles() if a.command != "score" else []
    sites = sorted({p.site for p in pages})
    print(f"{len(pages)} pages from {len(sites)} sites: {', '.join(sites)}", flush=True)
    t = time.process_time()
    if a.command == "train":
        model = train(pages, articles)
        a.out.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n")
        print(f"wrote {a.out} ({a.out.stat().st_size} bytes) in {time.process_time() - t:.1f} s CPU")
    else:
        if a.command == "score":
            report = score_shipped(pages, a.baselines)
        else:
            report = loso(pages, articles, a.baselines, a.models)
        systems = [name for name in next(iter(report.values())) if name != "errors"]
        report["TOTAL"] = {name: total([r[name] for r in report.values()]) for name in systems}
        for name in systems:
            print("TOTAL", name, report["TOTAL"][name])
        if a.json:
            a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
