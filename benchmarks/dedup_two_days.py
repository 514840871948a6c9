"""Day 1 / day 2: two scheduled runs over the two halves of a corpus keep what one run keeps.

    python benchmarks/dedup_two_days.py [--corpus ../shared/bench/dedup/visible-10k.jsonl.gz] [--json OUT.json]

The corpus (JSONL) is split into two files by line: day1.jsonl.gz (the first half) and
day2.jsonl.gz (the second). Then, with the shipped config:

- two runs in sequence into one corpus: `newsclean run -i day1.jsonl.gz -o TWO`, then
  `newsclean run -i day2.jsonl.gz -o TWO` (day 2 uses OUTPUT/state/: the exact and near
  indexes of what day 1 kept);
- one run over both files: `newsclean run -i day1.jsonl.gz day2.jsonl.gz -o ONE`.

Checked: the kept ids are the same; the dropped ids and their `dup_of` are the same; day 2
dropped its copies of day-1 documents (near_dedup "(earlier run)" matches, and exact
duplicates whose `dup_of` is a day-1 document); each corpus is scored with the benchmark's
`score_dedup.py` (over all runs of the corpus) when the pairs file is there.
Exit status 1 if the kept sets differ.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, jsonl_records, require, shared_path
from measure import measure

BENCH = shared_path("bench", "dedup")


def split(corpus: Path, work: Path) -> tuple[Path, Path, int]:
    with gzip.open(corpus, "rt", encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip()]
    half = len(lines) // 2
    days = work / "day1.jsonl.gz", work / "day2.jsonl.gz"
    for path, part in zip(days, (lines[:half], lines[half:])):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.writelines(part)
    return days[0], days[1], len(lines)


def read_corpus(output: Path) -> tuple[set[str], dict[str, dict]]:
    kept, dropped = set(), {}
    for run in sorted((output / "runs").glob("*/manifest.json")):
        for path in sorted(run.parent.glob("*.jsonl.gz")):
            for record in jsonl_records(path):
                if path.name.startswith("rejects"):
                    dropped[record["id"]] = {
                        k: record.get(k) for k in ("stage", "reason", "dup_of", "detail")
                    }
                else:
                    kept.add(record["id"])
    return kept, dropped


def run(config: Path, inputs: list[Path], output: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "-c",
        str(config),
        "-i",
        *map(str, inputs),
        "-o",
        str(output),
        "--progress",
        "off",
    ]
    m = measure(cmd, cwd=ROOT)
    if m.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{m.stderr[-3000:]}")
    manifest = json.loads(sorted((output / "runs").glob("*/manifest.json"))[-1].read_text())
    return {
        "inputs": [p.name for p in inputs],
        "documents": manifest["counts"]["documents"],
        "kept": manifest["counts"]["kept"],
        "by_reason": manifest["counts"]["by_reason"],
        "wall_s": round(m.seconds, 1),
        "cpu_s": round(m.cpu_seconds, 1),
    }


def score(pairs: Path, output: Path, n: int) -> str | None:
    if not pairs.exists():
        return None
    out = subprocess.run(
        [sys.executable, str(BENCH / "score_dedup.py"), str(pairs), str(output), "--n-input", str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return " ".join(out.stdout.split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=BENCH / "visible-10k.jsonl.gz")
    ap.add_argument("--pairs", type=Path)
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "default.yaml")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "dedup_two_days.json")
    args = ap.parse_args()
    require(args.corpus)
    pairs = args.pairs or Path(str(args.corpus).replace(".jsonl.gz", ".pairs.tsv.gz"))
    with tempfile.TemporaryDirectory(prefix="newsclean-two-days-") as work:
        work = Path(work)
        day1, day2, n = split(args.corpus, work)
        runs = {
            "two_runs_day1": run(args.config, [day1], work / "two"),
            "two_runs_day2": run(args.config, [day2], work / "two"),
            "one_run": run(args.config, [day1, day2], work / "one"),
        }
        kept_two, dropped_two = read_corpus(work / "two")
        kept_one, dropped_one = read_corpus(work / "one")
        day1_ids = {r["id"] for r in jsonl_records(day1)}
        day2_dropped = {i: d for i, d in dropped_two.items() if i not in day1_ids}
        cross = {i: d for i, d in day2_dropped.items() if d["dup_of"] in day1_ids}
        near_cross = sum(1 for d in cross.values() if d["stage"] == "near_dedup")
        result = {
            "corpus": str(args.corpus),
            "documents": n,
            "day1_documents": len(day1_ids),
            "day2_documents": n - len(day1_ids),
            "runs": runs,
            "kept_two_runs": len(kept_two),
            "kept_one_run": len(kept_one),
            "same_kept_set": kept_two == kept_one,
            "kept_only_in_two_runs": sorted(kept_two - kept_one)[:20],
            "kept_only_in_one_run": sorted(kept_one - kept_two)[:20],
            "same_dropped_with_same_dup_of": {i: d["dup_of"] for i, d in dropped_two.items()}
            == {i: d["dup_of"] for i, d in dropped_one.items()},
            "day2_dropped_as_copies_of_day1": {
                "near_dedup": near_cross,
                "exact_dedup": len(cross) - near_cross,
            },
            "day2_near_dedup_earlier_run_matches": sum(
                1 for d in day2_dropped.values() if "(earlier run)" in (d["detail"] or "")
            ),
            "score_two_runs": score(pairs, work / "two", n),
            "score_one_run": score(pairs, work / "one", n),
        }
    rows = [("run", "docs", "kept", "near drops", "exact drops", "other drops", "wall s", "cpu s")]
    for name, r in runs.items():
        near = sum(v for k, v in r["by_reason"].items() if k.startswith("near_dedup"))
        exact = sum(v for k, v in r["by_reason"].items() if k.startswith("exact_dedup"))
        rows.append(
            (
                name,
                r["documents"],
                r["kept"],
                near,
                exact,
                r["documents"] - r["kept"] - near - exact,
                r["wall_s"],
                r["cpu_s"],
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
        )
    print(
        f"kept: two runs {result['kept_two_runs']}, one run {result['kept_one_run']}, "
        f"same set: {result['same_kept_set']}; same drops and dup_of: {result['same_dropped_with_same_dup_of']}"
    )
    print(
        f"day 2 dropped as copies of day-1 documents: {result['day2_dropped_as_copies_of_day1']} "
        f"(near_dedup earlier-run matches: {result['day2_near_dedup_earlier_run_matches']})"
    )
    print(f"score two runs: {result['score_two_runs']}\nscore one run:  {result['score_one_run']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if result["same_kept_set"] else 1)


if __name__ == "__main__":
    main()
