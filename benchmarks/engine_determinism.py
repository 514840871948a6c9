#!/usr/bin/env python3
"""The same kept set and rejects whatever the engine, dedup path, partitions and workers.

    .venv/bin/python benchmarks/engine_determinism.py [--docs 10000] [--config config/default.yaml]

Runs `newsclean run` (the CLI, one subprocess per run, SOURCE_DATE_EPOCH fixed) on the
JSONL benchmark ../shared/bench/dedup/visible-10k.jsonl.gz read natively (the whole
file, or its first --docs lines as one JSONL file) for every combination of

    --engine local --dedup driver|sharded --partitions 1|4 --workers 1|2
    --engine ray   (dedup sharded)        --partitions 1|4 --workers 2   (a local Ray each run)

and compares each corpus with the first one: kept ids, rejects (id, stage, reason,
dup_of, detail) and the manifest's counts. Prints one line per run and writes
benchmarks/results/engine_determinism.json. Exit status 1 when any run differs.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, jsonl_records, require, shared_path

HERE = Path(__file__).resolve().parent
CORPUS = shared_path("bench", "dedup", "visible-10k.jsonl.gz")


def corpus(output: Path) -> dict:
    (run,) = [p for p in (output / "runs").iterdir() if (p / "manifest.json").exists()]
    manifest = json.loads((run / "manifest.json").read_text())

    def records(shards):
        for shard in shards:
            yield from jsonl_records(run / shard["file"])

    kept = sorted(r["id"] for r in records(manifest["shards"]))
    rejects = sorted(
        (r["id"], r["stage"], r["reason"], r.get("dup_of") or "", r["detail"] or "")
        for r in records(manifest["rejects"])
    )
    return {
        "kept": kept,
        "rejects": rejects,
        "counts": manifest["counts"],
        "tasks": manifest["tasks"],
        "engine": manifest["engine"],
        "dedup": manifest["dedup"],
        "workers": manifest["workers"],
    }


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "default.yaml")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    require(CORPUS)
    # this tree's code, also in the Ray workers a CLI run starts (they inherit the environment)
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600", "PYTHONPATH": str(ROOT)}
    combos = [("local", dedup, p, w) for dedup in ("driver", "sharded") for p in (1, 4) for w in (1, 2)]
    if not args.no_ray:
        combos += [("ray", "sharded", p, 2) for p in (1, 4)]
    rows, reference, same = [], None, True
    with tempfile.TemporaryDirectory(prefix="nc-determinism-") as tmp:
        inputs = CORPUS
        if args.docs < 10_000:
            inputs = Path(tmp) / f"visible-{args.docs}.jsonl.gz"
            with gzip.open(CORPUS, "rb") as src, gzip.open(inputs, "wb") as dst:
                for _, line in zip(range(args.docs), src):
                    dst.write(line)
        for engine, dedup, partitions, workers in combos:
            out = Path(tmp) / f"{engine}-{dedup}-p{partitions}-w{workers}"
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pipeline",
                    "run",
                    "-c",
                    str(args.config),
                    "-i",
                    str(inputs),
                    "-o",
                    str(out),
                    "-q",
                    "--progress",
                    "off",
                    "--engine",
                    engine,
                    "--dedup",
                    dedup,
                    "--partitions",
                    str(partitions),
                    "--workers",
                    str(workers),
                ],
                cwd=ROOT,
                env=env,
                check=True,
            )
            seconds = time.perf_counter() - start
            got = corpus(out)
            if reference is None:
                reference = got
            equal = {k: got[k] == reference[k] for k in ("kept", "rejects", "counts")}
            same &= all(equal.values())
            row = {
                "engine": engine,
                "dedup": got["dedup"],
                "partitions": partitions,
                "workers": got["workers"],
                "tasks": got["tasks"],
                "seconds": round(seconds, 1),
                "kept": got["counts"]["kept"],
                "by_reason": got["counts"]["by_reason"],
                "kept_sha": digest(got["kept"]),
                "rejects_sha": digest(got["rejects"]),
                "equal_to_first": equal,
            }
            rows.append(row)
            print(
                f"{engine:5} dedup={row['dedup']:7} partitions={partitions} workers={row['workers']} "
                f"tasks={row['tasks']:2} {seconds:6.1f} s kept={row['kept']} kept_sha={row['kept_sha']} "
                f"rejects_sha={row['rejects_sha']} same={all(equal.values())}",
                flush=True,
            )
            shutil_rmtree(out)
    print(f"\nall {len(rows)} runs: same kept ids, rejects and counts: {same}")
    out = HERE / "results" / "engine_determinism.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "input": str(inputs.name),
                "docs": args.docs,
                "config": str(args.config),
                "same": same,
                "runs": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written: {out.relative_to(ROOT)}")
    return 0 if same else 1


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
