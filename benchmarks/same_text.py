"""The same text-step output before and after a change: every document of articles-30k and every dev
page dump through the default config's text steps (clean_lines .. normalize), in one process.

    # in each checkout (PYTHONPATH selects it), one JSON line per document
    PYTHONPATH=/tmp/base python benchmarks/same_text.py run /tmp/before.jsonl --checkout /tmp/base
    python benchmarks/same_text.py run /tmp/after.jsonl
    python benchmarks/same_text.py compare /tmp/before.jsonl /tmp/after.jsonl   # exit 1 when any differ

What same_output.py does for whole runs, for the text path alone and on more texts: besides the
dumps as they are, each dump with every other line's tone marks placed the old way and every line
printed twice ("hòa"/"hoà" copies), and with an old-style title in its metadata, so that the
tone-mark folding of the line keys is exercised. Compared per document: text, removed lines (rule,
rule file and line), metadata, drop.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import orjson
from common import ROOT, require, shared_path

from pipeline.config import load_config
from pipeline.document import Document
from pipeline.runner import build_pipeline
from pipeline.s4_normalize.tone_marks import place_tone_marks

TEXT_STEPS = ("clean_lines", "article_region", "dump_metadata", "repeated_lines", "normalize")
DUMPS = ROOT / "benchmarks" / "devpages" / "dumps"


def documents() -> list[Document]:
    docs = []
    with gzip.open(require(shared_path("bench", "articles-30k.jsonl.gz")), "rb") as f:
        for n, line in enumerate(f):
            docs.append(Document(id=f"articles-30k#{n}", text=orjson.loads(line).get("text") or ""))
    for path in sorted(DUMPS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        doubled = [
            x
            for k, line in enumerate(lines)
            for x in (line, place_tone_marks(line, "old") if k % 2 else line)
        ]
        title = place_tone_marks(lines[0], "old")
        docs += [
            Document(id=path.name, text=text),
            Document(id=f"{path.name}#tones", text="\n".join(doubled)),
            Document(id=f"{path.name}#title", text=text, metadata={"title": title}),
        ]
    return docs


def run(out: Path, checkout: Path) -> None:
    pipeline = build_pipeline(
        load_config(checkout / "config" / "default.yaml"), "2024-01-01T00:00:00Z", "bench"
    )
    docs = documents()
    for step in (s for s in pipeline.per_document if s.name in TEXT_STEPS):
        docs = list(step.run(iter(docs)))
    with out.open("wb") as f:
        for doc in docs:
            removed = [(r.line_no, r.rule, r.text, _without_folder(r.source)) for r in doc.removed]
            record = {"id": doc.id, "text": doc.text, "removed": removed, "metadata": doc.metadata}
            record["drop"] = (doc.drop_stage, doc.drop_reason, doc.drop_detail)
            f.write(orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str) + b"\n")
    print(f"{len(docs)} documents: {out}")


def _without_folder(source: str) -> str:
    """ "rules/vi.yaml:12" of "/any/checkout/config/rules/vi.yaml:12" (shown relative or absolute)."""
    return source[source.rfind("rules/") :] if ".yaml:" in source else source


def compare(before: Path, after: Path) -> int:
    old, new = before.read_bytes().splitlines(), after.read_bytes().splitlines()
    differ = [orjson.loads(a)["id"] for a, b in zip(old, new) if a != b]
    print(f"{len(old)} documents before, {len(new)} after, {len(differ)} differ {differ[:10]}")
    return 1 if differ or len(old) != len(new) else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="the text steps of this process's pipeline package")
    run_parser.add_argument("out", type=Path)
    run_parser.add_argument("--checkout", type=Path, default=ROOT, help="where its config is (default: here)")
    compare_parser = commands.add_parser("compare")
    compare_parser.add_argument("before", type=Path)
    compare_parser.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        run(args.out, args.checkout.resolve())
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
