#!/usr/bin/env python3
"""Silver-labeled full-page dumps from the 495 extraction-benchmark pages (many sites, many languages).

    .venv/bin/python benchmarks/line_model/silver.py [--out benchmarks/cache/silver]

Each page is decoded (the pipeline's charset rules), rendered to a dump exactly like the held-out
dumps (`../shared/bench/page-dumps/render_dump.py`, w3m), and its lines labeled without a person:
a line is article when trafilatura (favor_precision) extracted it or it holds one of the page's gold
`with` snippets, and not article when it holds a `without` snippet. The labels are noisy (about
trafilatura's own error on these pages), so the trainer weighs these pages below the hand-labeled
ones; what they bring is the variety of 495 real page templates (menus, footers, widgets). Written
as `dumps/` + `gold/` like benchmarks/devpages, with `site` = the page's domain and `silver: true`.
Not committed (benchmarks/cache/ is ignored): rebuilt by this script from ../shared in ~1 minute.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from data import SHARED

from pipeline.s1_read.decode import declared_charset, decode_bytes

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

BENCH = SHARED / "bench"  # data.py: SHARED, the one place line_model names the shared folder


def _renderer():
    spec = importlib.util.spec_from_file_location("render_dump", BENCH / "page-dumps" / "render_dump.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render


def norm(text: str) -> str:
    return " ".join(text.split())


def label(lines: list[str], extracted: str, with_snippets: list[str], without: list[str]) -> list[int]:
    paragraphs = {norm(p) for p in extracted.split("\n") if norm(p)}
    body = []
    for n, line in enumerate(lines, 1):
        text = norm(line)
        if not text:
            continue
        if any(norm(s) in text for s in without):
            continue
        if text in paragraphs or any(norm(s) in text for s in with_snippets if len(norm(s)) >= 15):
            body.append(n)
    return body


def main() -> None:
    import trafilatura

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "cache" / "silver")
    a = ap.parse_args()
    render = _renderer()
    (a.out / "dumps").mkdir(parents=True, exist_ok=True)
    (a.out / "gold").mkdir(parents=True, exist_ok=True)
    gold = {}
    with open(BENCH / "extraction" / "gold.jsonl", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            gold[record["id"]] = record
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for page_id, record in sorted(gold.items()):
            path = BENCH / "extraction" / "pages" / f"{page_id}.html.gz"
            if not path.exists():
                continue
            data = gzip.decompress(path.read_bytes())
            try:
                html, _ = decode_bytes(data, ["cp1252"], declared_charset(data))
            except Exception:
                continue
            page = Path(tmp) / "page.html"
            page.write_text(html, encoding="utf-8")
            dump = render(str(page))
            lines = dump.split("\n")
            extracted = trafilatura.extract(html, favor_precision=True, include_comments=False) or ""
            body = label(lines, extracted, record.get("with", []), record.get("without", []))
            stem = f"s{n:03d}"
            site = (urlsplit(record.get("url") or "").hostname or page_id).removeprefix("www.")
            (a.out / "dumps" / f"{stem}.txt").write_text(dump, encoding="utf-8")
            (a.out / "gold" / f"{stem}.gold.json").write_text(
                json.dumps(
                    {
                        "seed": f"{stem}.txt",
                        "title": record.get("meta", {}).get("title") or "",
                        "site": site,
                        "page_type": "article" if body else "other",
                        "silver": True,
                        "body_lines": body,
                        "text": "\n\n".join(norm(lines[i - 1]) for i in body),
                    },
                    ensure_ascii=False,
                ),
                encoding="utf-8",
            )
            n += 1
    print(f"{n} silver pages in {a.out}")


if __name__ == "__main__":
    main()
