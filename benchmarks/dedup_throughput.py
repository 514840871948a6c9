"""MinHash signature and LSH index throughput: newsclean's near_dedup vs datasketch, same run.

    python benchmarks/dedup_throughput.py [--docs 2000] [--corpus FILE.jsonl.gz] [--json OUT.json]

Signatures (128 permutations, word 5-grams of the same dedup text, one core):
- datasketch per document: shingle strings -> `MinHash(...).update_batch(encoded)`
  (sha1_hash32, datasketch's default hash), the way it is used in practice;
- datasketch bulk: `MinHash.bulk(...)` over the same shingle lists;
- newsclean: `shingle_hashes` (numpy, no shingle strings) -> `MinHasher.signature`.
The documents are processed in interleaved chunks (datasketch, then ours, on the
same chunk) so that load from other processes falls on both alike; the ratio is
what to compare. Bit-identity: datasketch's `MinHash(hashfunc=shingle_hash)` over
the shingle strings must give our signatures exactly (checked on every document).

Index: datasketch `MinHashLSH(threshold=0.8)` insert + query per document vs
newsclean's band keys + sorted candidate pairs, on the same signatures; memory
by tracemalloc (Python and numpy allocations).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
from common import ROOT, Timer, jsonl_records, require, shared_path

DEFAULT_CORPUS = shared_path("bench", "dedup", "visible-10k.jsonl.gz")


def load_texts(path: Path, limit: int) -> list[str]:
    return [r["text"] for r in jsonl_records(path, limit)]


def bench_signatures(texts: list[str], num_perm: int, ngram: int, chunk: int) -> dict:
    from datasketch import MinHash

    from pipeline.s6_dedup.minhash import MinHasher
    from pipeline.s6_dedup.shingles import shingle_hash, shingle_hashes, shingle_strings

    hasher = MinHasher(num_perm, 1)
    for text in texts[:20]:  # warm up: tables, caches, imports
        hasher.signature(shingle_hashes(text, ngram))
        MinHash(num_perm=num_perm).update_batch([s.encode() for s in shingle_strings(text, ngram)])
    wall = dict.fromkeys(("datasketch", "bulk", "ours", "tokens"), 0.0)
    cpu = dict(wall)
    ours = []

    def timed(name, fn):
        with Timer() as t:
            result = fn()
        wall[name] += t.wall
        cpu[name] += t.cpu
        return result

    def per_doc(part):
        for text in part:
            m = MinHash(num_perm=num_perm, seed=1)
            m.update_batch([s.encode("utf-8") for s in shingle_strings(text, ngram)])

    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        timed("datasketch", lambda: per_doc(part))
        timed(
            "bulk",
            lambda: MinHash.bulk(
                [[s.encode("utf-8") for s in shingle_strings(text, ngram)] for text in part],
                num_perm=num_perm,
                seed=1,
            ),
        )
        ours += timed("ours", lambda: [hasher.signature(shingle_hashes(text, ngram)) for text in part])
        timed("tokens", lambda: [shingle_strings(text, ngram) for text in part])  # the floor: no hashing
    identical = 0
    for text, signature in zip(texts, ours):
        m = MinHash(num_perm=num_perm, seed=1, hashfunc=shingle_hash)
        m.update_batch(shingle_strings(text, ngram))
        identical += bool(np.array_equal(m.hashvalues, signature))
    n = len(texts)
    return {
        "documents": n,
        "num_perm": num_perm,
        "ngram": ngram,
        "datasketch_per_doc_docs_per_s": round(n / wall["datasketch"]),
        "datasketch_bulk_docs_per_s": round(n / wall["bulk"]),
        "newsclean_docs_per_s": round(n / wall["ours"]),
        "tokenize_strings_docs_per_s": round(n / wall["tokens"]),
        "cpu_docs_per_s": {k: round(n / v) for k, v in cpu.items()},
        "ratio_vs_datasketch_per_doc": round(wall["datasketch"] / wall["ours"], 2),
        "ratio_vs_datasketch_per_doc_cpu": round(cpu["datasketch"] / cpu["ours"], 2),
        "ratio_vs_datasketch_bulk": round(wall["bulk"] / wall["ours"], 2),
        "ratio_vs_datasketch_bulk_cpu": round(cpu["bulk"] / cpu["ours"], 2),
        "bit_identical_with_same_hash": f"{identical}/{n}",
    }, np.stack(ours)


def bench_index(signatures: np.ndarray, threshold: float) -> dict:
    from datasketch import MinHash, MinHashLSH

    from pipeline.s6_dedup.lsh import band_keys, choose_banding, pairs_within

    n, num_perm = signatures.shape
    minhashes = [MinHash(num_perm=num_perm, seed=1, hashvalues=s.astype(np.uint64)) for s in signatures]
    tracemalloc.start()
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    ds_pairs = 0
    for i, m in enumerate(minhashes):
        ds_pairs += len(lsh.query(m))
        lsh.insert(i, m)
    t_ds = time.perf_counter() - t0
    ds_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del lsh
    bands, rows = choose_banding(threshold, num_perm, 0.001)
    tracemalloc.start()
    t0 = time.perf_counter()
    keys = band_keys(signatures, bands, rows)
    pairs = set()
    for band in range(bands):
        later, earlier = pairs_within(keys[:, band], 1000)
        pairs.update(zip(later.tolist(), earlier.tolist()))
    t_ours = time.perf_counter() - t0
    ours_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "datasketch_lsh": {
            "banding": list(lsh_params(threshold, num_perm)),
            "docs_per_s": round(n / t_ds),
            "candidate_pairs": ds_pairs,
            "bytes_per_doc": round(ds_bytes / n),
        },
        "newsclean_lsh": {
            "banding": [bands, rows],
            "docs_per_s": round(n / t_ours),
            "candidate_pairs": len(pairs),
            "peak_bytes_per_doc": round(ours_peak / n),
        },
        "ratio": round(t_ds / t_ours, 1),
    }


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    from datasketch import MinHashLSH

    return MinHashLSH(threshold=threshold, num_perm=num_perm).b, MinHashLSH(
        threshold=threshold, num_perm=num_perm
    ).r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=100, help="documents per interleaved chunk")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "dedup_throughput.json")
    args = ap.parse_args()
    require(args.corpus)
    texts = load_texts(args.corpus, args.docs)
    signatures_result, signatures = bench_signatures(texts, args.num_perm, args.ngram, args.chunk)
    result = {
        "signatures": signatures_result,
        "index": bench_index(signatures, args.threshold),
        "load_average_at_end": list(os.getloadavg()),
    }
    sig = signatures_result
    rows = [
        ("signatures (one core)", "docs/s wall", "docs/s CPU"),
        (
            "datasketch MinHash.update_batch per doc",
            sig["datasketch_per_doc_docs_per_s"],
            sig["cpu_docs_per_s"]["datasketch"],
        ),
        ("datasketch MinHash.bulk", sig["datasketch_bulk_docs_per_s"], sig["cpu_docs_per_s"]["bulk"]),
        ("newsclean shingle_hashes + MinHasher", sig["newsclean_docs_per_s"], sig["cpu_docs_per_s"]["ours"]),
        (
            "tokenize to shingle strings (floor)",
            sig["tokenize_strings_docs_per_s"],
            sig["cpu_docs_per_s"]["tokens"],
        ),
        (
            "ratio newsclean / datasketch per doc",
            sig["ratio_vs_datasketch_per_doc"],
            sig["ratio_vs_datasketch_per_doc_cpu"],
        ),
        (
            "ratio newsclean / datasketch bulk",
            sig["ratio_vs_datasketch_bulk"],
            sig["ratio_vs_datasketch_bulk_cpu"],
        ),
    ]
    for row in rows:
        print(f"{row[0]:<42} {row[1]!s:>12} {row[2]!s:>12}")
    print(f"bit-identical with the same hash: {sig['bit_identical_with_same_hash']}")
    idx = result["index"]
    print(
        f"index: datasketch MinHashLSH {idx['datasketch_lsh']}\n       newsclean {idx['newsclean_lsh']}  ratio {idx['ratio']}"
    )
    print(f"load average at the end: {result['load_average_at_end']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
