"""Labeled pages for the line model: real dumps with hand gold, and synthetic pages made from them.

Real pages live in `benchmarks/devpages/` (`dumps/NNN_HEX.txt` + `gold/NNN_HEX.gold.json`, the seeds'
gold format plus `site` and `page_type`; see benchmarks/devpages/README.md). A synthetic page keeps a
real page's template (every line that is not article) and puts a real article from
`../shared/bench/articles-30k.jsonl.gz` where the article was: its title over the old title lines
(and alt text repeating it), its paragraphs over the old body lines. Labels come by construction.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVPAGES = ROOT / "benchmarks" / "devpages"
# the shared benchmark data beside the repository (benchmarks/common.py: the same rule)
SHARED = Path(os.environ.get("NEWSCLEAN_SHARED") or ROOT.parent / "shared")
ARTICLES = SHARED / "bench" / "articles-30k.jsonl.gz"


def norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


@dataclass
class Page:
    stem: str
    site: str
    page_type: str
    lines: list[str]
    body: set[int]  # 0-based indices of article lines
    gold: dict = field(default_factory=dict)

    @property
    def title(self) -> str:
        return norm(self.gold.get("title") or "")


def load_pages(dirs: list[Path]) -> list[Page]:
    pages = []
    for d in dirs:
        for gold_path in sorted((d / "gold").glob("*.gold.json")):
            stem = gold_path.name.split(".")[0]
            dump = d / "dumps" / f"{stem}.txt"
            if not dump.exists():
                continue
            gold = json.loads(gold_path.read_text(encoding="utf-8"))
            lines = dump.read_text(encoding="utf-8").split("\n")
            body = {n - 1 for n in gold.get("body_lines", [])}
            pages.append(
                Page(stem, gold.get("site") or d.name, gold.get("page_type") or "article", lines, body, gold)
            )
    return pages


def seed_pages() -> list[Page]:
    """The seeds that have gold (../shared/seeds + ../shared/gold), each its own site."""
    pages = []
    for gold_path in sorted((SHARED / "gold").glob("*.gold.json")):
        stem = gold_path.name.split(".")[0]
        dump = SHARED / "seeds" / f"{stem}.txt"
        if dump.exists():
            gold = json.loads(gold_path.read_text(encoding="utf-8"))
            pages.append(
                Page(
                    stem,
                    f"seed-{stem[:3]}",
                    "article",
                    dump.read_text(encoding="utf-8").split("\n"),
                    {n - 1 for n in gold["body_lines"]},
                    gold,
                )
            )
    return pages


def load_articles(limit: int = 3000, seed: int = 7) -> list[list[str]]:
    """Articles as [title, paragraph, ...], a fixed random sample of articles-30k."""
    with gzip.open(ARTICLES, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    random.Random(seed).shuffle(texts)
    out = []
    for text in texts:
        paras = [p.strip() for p in text.split("\n") if p.strip()]
        if len(paras) >= 4:
            out.append(paras)
        if len(out) >= limit:
            break
    return out


def synthesize(page: Page, article: list[str], rng: random.Random) -> Page | None:
    """`page`'s template around `article`; None for a page without an article."""
    if not page.body:
        return None
    title_key = page.title
    first, last = min(page.body), max(page.body)
    new_title, paras = article[0], article[1:]
    lines: list[str] = []
    body: set[int] = set()

    def retitle(line: str) -> str:
        # the old title, and alt text repeating it ("<title> - 2"), become the new title
        stripped = norm(line)
        if title_key and title_key in stripped:
            indent = line[: len(line) - len(line.lstrip())]
            return indent + stripped.replace(title_key, new_title)
        return line

    for line in page.lines[:first]:
        lines.append(retitle(line))
    para_iter = iter(paras)
    for i in range(first, last + 1):
        if i in page.body:
            para = next(para_iter, None)
            if para is None:
                continue
            body.add(len(lines))
            lines.append(para)
        else:
            lines.append(retitle(page.lines[i]))
    for para in para_iter:  # a longer article: its last paragraphs after the old last one
        lines.append("")
        body.add(len(lines))
        lines.append(para)
    for line in page.lines[last + 1 :]:
        lines.append(retitle(line))
    return Page(
        f"{page.stem}~{rng.randrange(1 << 30):08x}", page.site, "article", lines, body, {"title": new_title}
    )
