"""Scale simulation: what a run costs at 100k and 1M documents on this machine, and what that
means at 100M and 1B documents on a cluster.

A synthetic near-duplicate corpus (small documents, ~60 words, so that 1M documents finish on
a loaded 2-core machine: the per-document step costs of real 3.3 KB articles are measured by
run_all.py, not here) is cut into JSONL files; `newsclean run` processes it in a child process
that records its own (driver) peak RSS and CPU, its workers' peak RSS and CPU (RUSAGE_CHILDREN)
and, sampled every 0.2 s, the most files the output tree held. Per-stage seconds come from the
run's manifest.

    python benchmarks/scale_sim.py run --docs 100000 --dedup sharded --json benchmarks/results/scale_100k.json
    python benchmarks/scale_sim.py table benchmarks/results/scale_*.json --nodes 32 --cores 16

Corpus: 85 % distinct documents, 5 % exact copies (same text, another id), 10 % near copies
(1-3 words replaced) of an earlier document; 4 % dated; ids unique. Config: decode,
normalize, exact_dedup (and near_dedup with --near), `run.dedup` as given, task_size 25,000.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "người dân thành phố hà nội chính phủ kinh tế việt nam năm nay tăng trưởng công ty thị trường "
    "giá vàng học sinh trường đại học bệnh viện bác sĩ giao thông đường sắt mưa lớn miền trung "
    "bóng đá đội tuyển huấn luyện viên trận đấu chứng khoán ngân hàng lãi suất xuất khẩu gạo cà phê "
    "du lịch khách quốc tế sân bay điện lực nước sạch nông dân thu hoạch lúa quốc hội đại biểu"
).split()
TASK_SIZE = 25_000
PER_FILE = 50_000


def make_corpus(folder: Path, n: int, seed: int = 7) -> None:
    """n documents in files of PER_FILE lines: distinct texts, exact and near copies of earlier ones."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    out = None
    for i in range(n):
        if i % PER_FILE == 0:
            if out:
                out.close()
            out = open(folder / f"crawl-{i // PER_FILE:05d}.jsonl", "w", encoding="utf-8")
        roll = rng.random()
        if texts and roll < 0.05:
            text = rng.choice(texts)
        elif texts and roll < 0.15:
            words = rng.choice(texts).split(" ")
            for _ in range(rng.randint(1, 3)):
                words[rng.randrange(len(words))] = rng.choice(WORDS) + str(rng.randrange(100))
            text = " ".join(words)
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(50, 70))) + f" số {i}."
        if len(texts) < 50_000:
            texts.append(text)
        else:
            texts[rng.randrange(len(texts))] = text
        record = {"id": f"doc-{i:09d}", "text": text, "url": f"https://example.vn/a/{i}"}
        if rng.random() < 0.04:
            record["created"] = f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    if out:
        out.close()


def write_config(path: Path, dedup: str, near: bool) -> None:
    steps = ["  - step: decode", "  - step: normalize", "  - step: exact_dedup"]
    if near:
        steps.append("  - step: near_dedup")
    path.write_text(
        f"run:\n  task_size: {TASK_SIZE}\n  dedup: {dedup}\n  progress: off\n  compression: none\n"
        "steps:\n" + "\n".join(steps) + "\n",
        encoding="utf-8",
    )


def _count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def child(config: str, inputs: str, output: str, workers: str) -> None:
    """The run itself, in this process (the driver); prints its figures as JSON."""
    from pipeline import faults

    points: dict[str, float] = {}  # driver peak RSS (MB) when each checkpoint was last reached
    checkpoint = faults.checkpoint

    cpu_first: dict[
        str, list[float]
    ] = {}  # [driver, finished workers] CPU s when each point is first reached
    reached: dict[str, float] = {}  # wall seconds since the start when each checkpoint was last reached
    start = time.perf_counter()

    def traced(point: str) -> None:
        points[point] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        reached[point] = round(time.perf_counter() - start, 1)
        if point not in cpu_first:  # pools are closed between phases: their workers' CPU is counted then
            me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_first[point] = [round(me.ru_utime + me.ru_stime, 2), round(kids.ru_utime + kids.ru_stime, 2)]
        checkpoint(point)

    faults.checkpoint = traced  # before the pipeline's modules import it
    from pipeline.cli import main

    most = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            most[0] = max(most[0], _count_files(Path(output)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    status = main(["run", "-c", config, "-i", inputs, "-o", output, "-w", workers, "-q"])
    wall = time.perf_counter() - t0
    stop.set()
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "status": status,
                "wall_s": round(wall, 1),
                "driver_peak_rss_mb": round(me.ru_maxrss / 1024, 1),
                "driver_cpu_s": round(me.ru_utime + me.ru_stime, 1),
                "worker_peak_rss_mb": round(kids.ru_maxrss / 1024, 1),
                "workers_cpu_s": round(kids.ru_utime + kids.ru_stime, 1),
                "most_files": max(most[0], _count_files(Path(output))),
                "files_after": _count_files(Path(output)),
                "driver_peak_rss_mb_at": points,
                "seconds_at": reached,
                "cpu_at_first": cpu_first,
            }
        )
    )


def run(args) -> dict:
    work = Path(args.workdir)
    corpus = work / f"corpus-{args.docs}"
    if not (corpus / ".done").exists():
        make_corpus(corpus, args.docs)
        (corpus / ".done").write_text("")
    config = work / f"config-{args.dedup}{'-near' if args.near else ''}.yaml"
    write_config(config, args.dedup, args.near)
    output = work / f"out-{args.docs}-{args.dedup}{'-near' if args.near else ''}"
    subprocess.run(["rm", "-rf", str(output)], check=True)
    proc = subprocess.run(
        [sys.executable, __file__, "_child", str(config), str(corpus), str(output), str(args.workers)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    manifest = json.loads(next((output / "runs").glob("*/manifest.json")).read_text())
    stages = manifest["stages"]
    result = {
        "docs": args.docs,
        "dedup": args.dedup,
        "near": args.near,
        "workers": args.workers,
        "tasks": manifest["tasks"],
        "counts": {k: manifest["counts"][k] for k in ("documents", "kept", "dropped", "errors")},
        "by_reason": manifest["counts"]["by_reason"],
        **figures,
        "stage_seconds": {name: round(s.get("seconds", 0.0), 2) for name, s in stages.items()},
        "dedup_counters": {name: stages[name].get("counters", {}) for name in stages if "dedup" in name},
        "load_average": os.getloadavg(),
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return result


def table(args) -> None:
    """The measured runs side by side, then the extrapolation from the largest sharded one."""
    runs = sorted(
        (json.loads(Path(p).read_text()) for p in args.results), key=lambda r: (r["dedup"], r["docs"])
    )
    print(
        "| docs | dedup | near | tasks | wall s | driver CPU s | workers CPU s | driver peak RSS MB "
        "| worker peak RSS MB | most files | kept |"
    )
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        print(
            f"| {r['docs']:,} | {r['dedup']} | {'yes' if r['near'] else 'no'} | {r['tasks']} | {r['wall_s']} "
            f"| {r['driver_cpu_s']} | {r['workers_cpu_s']} | {r['driver_peak_rss_mb']} "
            f"| {r['worker_peak_rss_mb']} | {r['most_files']:,} | {r['counts']['kept']:,} |"
        )
    print("\nCPU seconds by phase (workers: processes of the phase's pool; driver: the run process):\n")
    print(
        "| docs | dedup | map (workers) | id reduce (workers) | exact reduce, near merge (workers) | filter (workers) "
        "| driver: start, plan, map loop, reduce | driver: filter, stage | driver: report, manifest "
        "| driver: commit |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        if r.get("cpu_at_first"):
            print(
                f"| {r['docs']:,} | {r['dedup']}{' +near' if r['near'] else ''} | "
                + " | ".join(phases(r))
                + " |"
            )
    sharded = [r for r in runs if r["dedup"] == "sharded" and not r["near"]]
    if len(sharded) < 2:
        return
    small, big = sharded[0], sharded[-1]
    per_doc_workers = (big["workers_cpu_s"] - small["workers_cpu_s"]) / (big["docs"] - small["docs"])
    per_doc_driver = (big["driver_cpu_s"] - small["driver_cpu_s"]) / (big["docs"] - small["docs"])
    files_per_task = (big["most_files"] - small["most_files"]) / max(1, big["tasks"] - small["tasks"])
    cores = args.nodes * args.cores
    print(
        f"\nExtrapolation (marginal cost {small['docs']:,} -> {big['docs']:,}; {args.nodes} nodes x "
        f"{args.cores} cores = {cores}; task_size {TASK_SIZE:,}):\n"
    )
    print(
        "| docs | workers CPU h (these small documents) | on the cluster, min | driver CPU min | driver RSS MB | map tasks "
        "| files in the run at once |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in (100_000_000, 1_000_000_000):
        cpu = per_doc_workers * n
        tasks = n // TASK_SIZE
        print(
            f"| {n:,} | {cpu / 3600:,.0f} | {cpu / cores / 60:,.0f} | {per_doc_driver * n / 60:,.0f} "
            f"| {big['driver_peak_rss_mb']} (flat) | {tasks:,} | {files_per_task * tasks:,.0f} |"
        )


def phases(r: dict) -> list[str]:
    """CPU per phase from the [driver, finished workers] CPU at the first reach of each checkpoint."""
    at, end = r["cpu_at_first"], [r["driver_cpu_s"], r["workers_cpu_s"]]

    def first(*names: str) -> list[float]:
        return next((at[n] for n in names if n in at), end)

    reduce_start = first("id_reduce", "reduced")
    figures = [
        reduce_start[1],
        first("exact_reduce", "reduced")[1] - first("id_reduce", "exact_reduce", "reduced")[1],
        first("reduced")[1] - first("exact_reduce", "reduced")[1],
        first("manifest")[1] - first("reduced")[1],
        first("reduced")[0],
        first("staged")[0] - first("reduced")[0],
        first("manifest")[0] - first("staged")[0],
        end[0] - first("manifest")[0],
    ]
    return [f"{x:.1f}" for x in figures]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        sys.path.insert(0, str(ROOT))
        child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--docs", type=int, default=100_000)
    r.add_argument("--dedup", choices=["sharded", "driver"], default="sharded")
    r.add_argument("--near", action="store_true", help="near_dedup too")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--workdir", default="/tmp/scale-sim")
    r.add_argument("--json")
    t = sub.add_parser("table")
    t.add_argument("results", nargs="+")
    t.add_argument("--nodes", type=int, default=32)
    t.add_argument("--cores", type=int, default=16)
    args = parser.parse_args()
    run(args) if args.cmd == "run" else table(args)


if __name__ == "__main__":
    main()
