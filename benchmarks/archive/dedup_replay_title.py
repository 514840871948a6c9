"""Replay near_dedup on a finished run's own cleaned documents, with and without the title in the
dedup text, and score both with score_dedup.py (what-if for a change of the dedup key).

    python benchmarks/archive/dedup_replay_title.py OUT PAIRS.tsv.gz [--n-input 10000] [--json FILE]

OUT is the output of `newsclean run -i CORPUS -o OUT` (one run). The documents that reached
near_dedup (kept + near_dedup rejects, which carry their cleaned text and metadata.title) are
keyed in input order (undated, as in the benchmark corpora) and reduced again by NearDedup with
the shipped options: "text" is what the pipeline does (it reproduces the run's own drops),
"title+text" hashes metadata.title + a blank line + text. Drops of earlier stages are kept as
they were, so both scores are comparable to the run's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (newsclean is installed editable)
BENCH = ROOT.parent / "shared" / "bench" / "dedup"


def main() -> None:
    from pipeline.document import Document
    from pipeline.s6_dedup.near import NearDedup
    from pipeline.step import DocRef

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("pairs", type=Path)
    ap.add_argument("--n-input", type=int, default=10_000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    docs, other = [], []
    for path in sorted(args.out.glob("runs/*/*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for r in map(json.loads, fh):
                if path.name.startswith("rejects") and r.get("stage") != "near_dedup":
                    other.append(r)
                else:
                    docs.append(r)
    docs.sort(key=lambda r: int(r["metadata"]["input_path"].rsplit("#", 1)[1]))  # input order (JSONL line)
    result = {"run": str(args.out), "pairs": str(args.pairs), "documents_at_near_dedup": len(docs)}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("text", "title+text"):
            step = NearDedup({})
            items = []
            for k, r in enumerate(docs):
                text = r["text"]
                if mode == "title+text" and r["metadata"].get("title"):
                    text = r["metadata"]["title"] + "\n\n" + text
                items.append((DocRef(k, r["id"]), step.key(Document(r["id"], text))))
            dropped = {docs[d.order]["id"] for d in step.reduce(items, None)}
            run = Path(tmp) / mode.replace("+", "_")
            run.mkdir()
            with open(run / "part-00000.jsonl", "w") as fh:
                fh.writelines(json.dumps({"id": r["id"]}) + "\n" for r in docs if r["id"] not in dropped)
            with open(run / "rejects-00000.jsonl", "w") as fh:
                fh.writelines(
                    json.dumps({"id": r["id"], "reason": r["reason"], "stage": r["stage"]}) + "\n"
                    for r in other
                )
                fh.writelines(
                    json.dumps({"id": i, "reason": "near_duplicate"}) + "\n" for i in sorted(dropped)
                )
            score = subprocess.run(
                [
                    sys.executable,
                    str(BENCH / "score_dedup.py"),
                    str(args.pairs),
                    str(run),
                    "--n-input",
                    str(args.n_input),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result[mode] = " ".join(score.stdout.split())
            print(f"{mode:<11} {result[mode]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
