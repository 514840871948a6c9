"""Ground truth for a dedup benchmark corpus: every pair with exact Jaccard >= 0.5 of word 5-gram
shingle sets after `shingling.canon()`, in the format of `visible-10k.pairs.tsv.gz`.

    python benchmarks/dedup_pairs.py CORPUS.jsonl[.gz] OUT.pairs.tsv.gz [--min-jaccard 0.5]

`make_corpus.py` writes a corpus but not its pairs; this computes them exactly, with the
benchmark's own `shingling.py` (no MinHash): prefix filtering (AllPairs) finds every pair that
can reach the threshold -- shingles ordered rarest first, a set A can only reach Jaccard t with B
if their first |A| - ceil(t|A|) + 1 shingles share one -- and each candidate is verified on the
shingle sets. `--check` recomputes the shipped visible-10k pairs and compares.
"""

from __future__ import annotations

import argparse
import gzip
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

from common import jsonl_records, shared_module, shared_path

BENCH = shared_path("bench", "dedup")


def read_corpus(path: Path) -> list[tuple[str, str]]:
    return [(r["id"], r["text"]) for r in jsonl_records(path)]


def all_pairs(docs: list[tuple[str, str]], t: float) -> list[tuple[str, str, float]]:
    shingling = shared_module("bench", "dedup", "shingling.py")

    sets = [shingling.shingle_set(text) for _, text in docs]
    df = Counter(s for sh in sets for s in sh)
    postings: dict[str, list[int]] = defaultdict(list)
    candidates: set[tuple[int, int]] = set()
    for i, sh in enumerate(sets):
        if not sh:
            continue
        ranked = sorted(sh, key=lambda s: (df[s], s))
        prefix = ranked[: len(ranked) - math.ceil(t * len(ranked)) + 1]
        for s in prefix:
            for j in postings[s]:
                candidates.add((j, i))
            postings[s].append(i)
    out = []
    for i, j in candidates:
        a, b = sets[i], sets[j]
        inter = len(a & b)
        jac = inter / (len(a) + len(b) - inter)
        if jac >= t:
            x, y = sorted((docs[i][0], docs[j][0]))
            out.append((x, y, jac))
    return sorted(out)


def write_pairs(pairs, path: Path) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("id_a\tid_b\tjaccard\n")
        fh.writelines(f"{a}\t{b}\t{j:.4f}\n" for a, b, j in pairs)


def read_pairs(path: Path) -> dict[tuple[str, str], float]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = next(fh)
        return {tuple(sorted(line.split("\t")[:2])): float(line.split("\t")[2]) for line in fh}, header


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, nargs="?")
    ap.add_argument("out", type=Path, nargs="?")
    ap.add_argument("--min-jaccard", type=float, default=0.5)
    ap.add_argument("--check", action="store_true", help="recompute the visible-10k pairs and compare")
    args = ap.parse_args()
    if args.check:
        shipped, header = read_pairs(BENCH / "visible-10k.pairs.tsv.gz")
        ours = {
            (a, b): j for a, b, j in all_pairs(read_corpus(BENCH / "visible-10k.jsonl.gz"), args.min_jaccard)
        }
        differ = [
            k
            for k in set(shipped) | set(ours)
            if k not in shipped or k not in ours or abs(shipped[k] - ours[k]) > 1e-3
        ]
        print(
            f"header {header.strip()!r}; shipped {len(shipped)} pairs, recomputed {len(ours)}, differing {len(differ)}"
        )
        for k in sorted(differ)[:10]:
            print(k, shipped.get(k), ours.get(k))
        sys.exit(1 if differ else 0)
    pairs = all_pairs(read_corpus(args.corpus), args.min_jaccard)
    write_pairs(pairs, args.out)
    print(
        f"{len(pairs)} pairs with J >= {args.min_jaccard} ({sum(j >= 0.8 for *_, j in pairs)} with J >= 0.8) -> {args.out}"
    )


if __name__ == "__main__":
    main()
