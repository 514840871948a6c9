"""Near-dedup accuracy on the shared benchmark (recall@0.8, precision, accounting).

    python benchmarks/dedup_accuracy.py [--corpus ../shared/bench/dedup/visible-10k.jsonl.gz] [--skip-run]
    python benchmarks/dedup_accuracy.py --heldout [--heldout-n 10000 --heldout-seed 11]

1. pipeline: `newsclean run -i CORPUS -o OUT` with the shipped config (the JSONL read
   directly), then the benchmark's own `score_dedup.py PAIRS OUT --n-input N` (what
   "done" is judged on), and the errors behind the score: every pair at J >= 0.8 with
   both documents kept (its Jaccard on the raw texts and on the cleaned texts the
   pipeline compares, what cleaning removed), and every duplicate drop with no kept
   document at raw J >= 0.7 (the stage, dup_of, both Jaccards);
   `--heldout`: the same on a corpus built the same way from articles that visible-10k
   does not use (articles-30k minus those whose title line is in visible-10k), with
   `make_dedup_corpus.py` and its exact pairs from `dedup_pairs.py`;
2. the dedup methods alone, on the raw texts (no cleaning), scored the same way:
   - newsclean near_dedup (banding for the threshold + exact verification);
   - datasketch MinHashLSH(threshold=0.8, num_perm=128), used the common way:
     query each document, drop it if anything is found, else insert it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, jsonl_records, require, shared_module, shared_path
from measure import measure

BENCH = shared_path("bench", "dedup")


def score(pairs: Path, run_dir: Path, n: int) -> str:
    out = subprocess.run(
        [sys.executable, str(BENCH / "score_dedup.py"), str(pairs), str(run_dir), "--n-input", str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def parse_score(text: str) -> dict:
    fields = dict(part.split("=", 1) for part in text.split())
    out = {k: float(v) if "." in v else int(v) for k, v in fields.items() if k != "accounted"}
    out["accounted"] = fields.get("accounted")
    return out


def errors(records: list[dict], pairs: Path, out: Path) -> dict:
    """The false negatives and unjustified drops behind score_dedup's figures."""
    shingling = shared_module("bench", "dedup", "shingling.py")

    from pipeline.s6_dedup.near import _jaccard
    from pipeline.s6_dedup.shingles import shingle_hashes

    raw = {r["id"]: r["text"] for r in records}
    kept, rejected = {}, {}
    for path in sorted(out.glob("runs/*/*.jsonl.gz")):
        for r in jsonl_records(path):
            (rejected if path.name.startswith("rejects") else kept)[r["id"]] = r
    sim: dict[str, dict[str, float]] = {}
    with gzip.open(pairs, "rt") as fh:
        next(fh)
        for line in fh:
            a, b, j = line.rstrip("\n").split("\t")
            sim.setdefault(a, {})[b] = sim.setdefault(b, {})[a] = float(j)

    def raw_j(a: str, b: str) -> float:
        if b in sim.get(a, {}):
            return sim[a][b]
        x, y = shingling.shingle_set(raw[a]), shingling.shingle_set(raw[b])
        return round(len(x & y) / max(len(x | y), 1), 4)

    def clean_j(a: str, b: str) -> float:
        ta, tb = (kept.get(i, rejected.get(i, {})).get("text", "") for i in (a, b))
        return round(_jaccard(shingle_hashes(ta), shingle_hashes(tb)), 4)

    missed = []
    for a in sorted(sim):
        for b, j in sorted(sim[a].items()):
            if a < b and j >= 0.8 and a in kept and b in kept:
                cj = clean_j(a, b)
                missed.append(
                    {
                        "a": a,
                        "b": b,
                        "raw_jaccard": j,
                        "clean_jaccard": cj,
                        "cause": "cleaned texts below the threshold" if cj < 0.8 else "not a candidate (LSH)",
                        "removed": [kept[a]["metadata"].get("removed"), kept[b]["metadata"].get("removed")],
                    }
                )
    unjustified = []
    for d, r in sorted(rejected.items()):
        if "dup" not in f"{r.get('reason', '')}{r.get('stage', '')}".lower():
            continue
        if any(k in kept and j >= 0.7 for k, j in sim.get(d, {}).items()):
            continue
        o = r.get("dup_of")
        entry = {
            "id": d,
            "stage": r.get("stage"),
            "detail": r.get("detail"),
            "dup_of": o,
            "dup_of_kept": o in kept,
            "raw_jaccard": raw_j(d, o) if o in raw else None,
            "clean_jaccard": clean_j(d, o) if o else None,
        }
        entry["cause"] = (
            "dup_of was dropped later (a chain through another stage)"
            if not entry["dup_of_kept"]
            else "cleaning removed what kept raw J below 0.7"
        )
        unjustified.append(entry)
    return {"false_negatives": missed, "unjustified_drops": unjustified}


def print_errors(found: dict) -> None:
    print(f"-- pairs at raw J >= 0.8 with both documents kept: {len(found['false_negatives'])}")
    for e in found["false_negatives"]:
        print(
            f"   {e['a']} {e['b']}  raw J {e['raw_jaccard']:.3f}  cleaned J {e['clean_jaccard']:.3f}  {e['cause']}"
        )
    print(f"-- duplicate drops without a kept document at raw J >= 0.7: {len(found['unjustified_drops'])}")
    for e in found["unjustified_drops"]:
        print(
            f"   {e['id']} ({e['stage']}) dup_of {e['dup_of']}  raw J {e['raw_jaccard']}  "
            f"cleaned J {e['clean_jaccard']}  {e['cause']}"
        )


def build_heldout(work: Path, n: int, seed: int) -> tuple[Path, Path]:
    """A corpus built like visible-10k from articles visible-10k does not use, and its exact pairs."""

    def title(text: str) -> str:
        return text.split("\n", 1)[0].strip()

    seen = {title(r["text"]) for r in jsonl_records(BENCH / "visible-10k.jsonl.gz")}
    articles = work / "articles-unseen.jsonl.gz"
    with gzip.open(articles, "wt", encoding="utf-8") as fh:
        fh.writelines(
            json.dumps(r, ensure_ascii=False) + "\n"
            for r in jsonl_records(BENCH.parent / "articles-30k.jsonl.gz")
            if title(r["text"]) not in seen
        )
    plain = work / f"heldout-{n}-seed{seed}.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "make_dedup_corpus.py"),
            "build",
            "--n",
            str(n),
            "--seed",
            str(seed),
            "--dup-frac",
            "0.3",
            "--articles",
            str(articles),
            "--out",
            str(plain),
        ],
        check=True,
    )
    corpus = plain.with_suffix(".jsonl.gz")
    with open(plain, "rb") as src, gzip.open(corpus, "wb") as dst:
        dst.write(src.read())
    pairs = work / f"heldout-{n}-seed{seed}.pairs.tsv.gz"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dedup_pairs.py"), str(corpus), str(pairs)], check=True
    )
    return corpus, pairs


def write_run(directory: Path, ids: list[str], dropped: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "part-00000.jsonl", "w") as fh:
        fh.writelines(json.dumps({"id": i}) + "\n" for i in ids if i not in dropped)
    with open(directory / "rejects-00000.jsonl", "w") as fh:
        fh.writelines(
            json.dumps({"id": i, "reason": "near_duplicate", "dup_of": d}) + "\n" for i, d in dropped.items()
        )
    return directory


def newsclean_alone(records: list[dict]) -> tuple[dict[str, str], float]:
    from pipeline.document import Document
    from pipeline.s6_dedup.near import NearDedup
    from pipeline.step import DocRef

    step = NearDedup({})
    t0 = time.perf_counter()
    items = [(DocRef(n, r["id"]), step.key(Document(r["id"], r["text"]))) for n, r in enumerate(records)]
    dropped = {records[d.order]["id"]: d.dup_of for d in step.reduce(items, None)}
    return dropped, time.perf_counter() - t0


def datasketch_alone(records: list[dict]) -> tuple[dict[str, str], float]:
    from datasketch import MinHash, MinHashLSH

    from pipeline.s6_dedup.shingles import shingle_strings

    t0 = time.perf_counter()
    lsh, dropped = MinHashLSH(threshold=0.8, num_perm=128), {}
    for r in records:
        m = MinHash(num_perm=128)
        m.update_batch([s.encode("utf-8") for s in shingle_strings(r["text"])])
        found = lsh.query(m)
        if found:
            dropped[r["id"]] = sorted(found)[0]
        else:
            lsh.insert(r["id"], m)
    return dropped, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=BENCH / "visible-10k.jsonl.gz")
    ap.add_argument("--pairs", type=Path)
    ap.add_argument("--heldout", action="store_true", help="build and score a held-out corpus instead")
    ap.add_argument("--heldout-n", type=int, default=10_000)
    ap.add_argument("--heldout-seed", type=int, default=11)
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "default.yaml")
    ap.add_argument("--skip-run", action="store_true", help="only the methods alone, not the pipeline run")
    ap.add_argument("--skip-alone", action="store_true", help="only the pipeline run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsclean-dedup-accuracy-") as tmp:
        tmp = Path(tmp)
        if args.heldout:
            args.corpus, args.pairs = build_heldout(tmp, args.heldout_n, args.heldout_seed)
        pairs = args.pairs or Path(str(args.corpus).replace(".jsonl.gz", ".pairs.tsv.gz"))
        require(args.corpus), require(pairs)
        name = "heldout" if args.heldout else args.corpus.name.split(".")[0]
        json_path = args.json or ROOT / "benchmarks" / "results" / f"dedup_accuracy_{name}.json"
        records = list(jsonl_records(args.corpus))
        n = len(records)
        result = {
            "corpus": str(args.corpus)
            if not args.heldout
            else f"held-out: make_dedup_corpus.py build --n {args.heldout_n} --seed {args.heldout_seed} "
            "--dup-frac 0.3 from articles-30k minus visible-10k's titles",
            "documents": n,
        }
        if not args.skip_run:
            out = tmp / "out"
            cmd = [
                sys.executable,
                "-m",
                "pipeline",
                "run",
                "-c",
                str(args.config),
                "-i",
                str(args.corpus),
                "-o",
                str(out),
                "--progress",
                "off",
            ]
            m = measure(cmd, cwd=ROOT)
            print(
                f"== pipeline: newsclean run -i {args.corpus.name} -o OUT  ({m.seconds:.0f} s wall, "
                f"{m.cpu_seconds:.0f} s CPU)"
            )
            if m.returncode != 0:
                print(m.stdout[-2000:], m.stderr[-2000:])
                sys.exit("the run failed")
            text = score(pairs, out, n)
            print(text)
            found = errors(records, pairs, out)
            print_errors(found)
            manifest = json.loads(next(out.glob("runs/*/manifest.json")).read_text())
            result["pipeline"] = {
                "score": parse_score(text),
                "by_reason": manifest["counts"]["by_reason"],
                "wall_s": round(m.seconds, 1),
                "cpu_s": round(m.cpu_seconds, 1),
                **found,
            }
        if not args.skip_alone:
            for label, method in (
                ("newsclean near_dedup alone (raw texts)", newsclean_alone),
                ("datasketch MinHashLSH(0.8) alone (raw texts)", datasketch_alone),
            ):
                dropped, seconds = method(records)
                print(f"== {label}: {seconds:.1f} s")
                text = score(pairs, write_run(tmp / label.split()[0], [r["id"] for r in records], dropped), n)
                print(text)
                result[label.split()[0] + "_alone"] = {
                    "score": parse_score(text),
                    "seconds": round(seconds, 1),
                }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
