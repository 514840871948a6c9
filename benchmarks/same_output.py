"""Same corpus before and after a change: kept ids, texts, metadata and rejects, input by input.

    # run a checkout (default: this one) on the reference inputs
    python benchmarks/same_output.py run /tmp/after
    python benchmarks/same_output.py run /tmp/before --checkout /tmp/base   # e.g. `git worktree add /tmp/base main`
    # compare two such folders; exit status 1 when anything differs
    python benchmarks/same_output.py compare /tmp/before /tmp/after

Inputs: the seeds, visible-10k (../shared/bench/dedup) and the 495 extraction pages
(../shared/bench/extraction/pages); the shared ones are skipped with a message when absent.
Run ids, timings and paths are not compared; everything a user gets in the corpus is, and so are
the shards' bytes (their sha256 in the manifest) and the state the run leaves for the next one:
every table of every SQLite file under state/, row for row, and the other state files byte for
byte (not the manifests' copies, nor the two values that differ between any two runs: the near
index's `applied` delta id, a uuid, and the time `runs` were applied).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import orjson
from common import ROOT, shared_path

SHARED = shared_path("bench")
INPUTS = {
    "seeds": ROOT / "seeds",
    "visible-10k": SHARED / "dedup" / "visible-10k.jsonl.gz",
    "extraction": SHARED / "extraction" / "pages",
}
# fields that name the run or the machine rather than the document
VOLATILE = {"run_id", "processed_at", "timings", "elapsed"}


def run(out: Path, checkout: Path, names: list[str]) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "PYTHONPATH": str(checkout)}
    for name in names:
        source = INPUTS[name]
        if not source.exists():
            print(f"{name}: {source} is absent, skipped")
            continue
        target = out / name
        command = [sys.executable, "-m", "pipeline", "run", "-i", str(source), "-o", str(target), "-q"]
        done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
        if done.returncode not in (0, 1):  # 1 = some documents failed, which is output too
            sys.exit(f"{name}: newsclean exited {done.returncode}: {done.stderr.strip()[-500:]}")
        print(f"{name}: {target}")


def _records(run_dir: Path, kind: str) -> dict[str, dict]:
    from pipeline.corpus import read_jsonl

    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    records = {}
    for shard in manifest.get(kind, []):
        for record in read_jsonl(run_dir / shard["file"]):
            for key in VOLATILE:
                record.pop(key, None)
                record.get("metadata", {}).pop(key, None)
            records[record["id"]] = record
    return records


def _run_dir(folder: Path) -> Path:
    [run_dir] = sorted((folder / "runs").iterdir())
    return run_dir


# (file, table) whose rows name the run or the moment, not the corpus
VOLATILE_TABLES = {("near_dedup/index.sqlite", "applied"), ("inputs.sqlite", "runs")}


def _state(folder: Path) -> dict[str, tuple[int, str]]:
    """(rows or bytes, sha256) of every SQLite table (rows in rowid order) and other file of the state."""
    state, out = folder / "state", {}
    for path in sorted(p for p in state.rglob("*") if p.is_file()):
        name = path.relative_to(state).as_posix()
        if name.startswith(("manifests/", "tmp/")) or name.endswith(".lock"):
            continue
        if path.suffix != ".sqlite":
            out[name] = (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
            continue
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = [
                t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            ]
            for table in tables:
                if (name, table) in VOLATILE_TABLES:
                    continue
                digest, n = hashlib.sha256(), 0
                for row in db.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                    digest.update(repr(row).encode("utf-8", "surrogatepass"))
                    n += 1
                out[f"{name}:{table}"] = (n, digest.hexdigest())
    return out


def _shard_hashes(run_dir: Path) -> list:
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    return [
        (s["file"], s["records"], s.get("sha256"))
        for kind in ("shards", "rejects")
        for s in manifest.get(kind, [])
    ]


def compare_one(before: Path, after: Path) -> list[str]:
    differences = []
    if _shard_hashes(_run_dir(before)) != _shard_hashes(_run_dir(after)):
        differences.append("shards: not byte-identical (sha256 in the manifests)")
    old_state, new_state = _state(before), _state(after)
    for name in sorted(old_state.keys() | new_state.keys()):
        if old_state.get(name) != new_state.get(name):
            differences.append(f"state: {name} differs ({old_state.get(name)} / {new_state.get(name)})")
    print(f"  state: {len(old_state)} tables and files compared")
    for kind in ("shards", "rejects"):
        old, new = _records(_run_dir(before), kind), _records(_run_dir(after), kind)
        label = "kept" if kind == "shards" else "rejects"
        for doc_id in sorted(old.keys() - new.keys()):
            differences.append(f"{label}: {doc_id} only before")
        for doc_id in sorted(new.keys() - old.keys()):
            differences.append(f"{label}: {doc_id} only after")
        for doc_id in sorted(old.keys() & new.keys()):
            a, b = old[doc_id], new[doc_id]
            for key in sorted(a.keys() | b.keys()):
                if a.get(key) != b.get(key):
                    differences.append(f"{label}: {doc_id} field {key!r} differs")
        print(f"  {label}: {len(old)} before, {len(new)} after")
    return differences


def compare(before: Path, after: Path) -> int:
    failed = 0
    for name in INPUTS:
        if not (before / name).exists() or not (after / name).exists():
            print(f"{name}: not in both folders, skipped")
            continue
        print(f"{name}:")
        differences = compare_one(before / name, after / name)
        for line in differences[:20]:
            print("   ", line)
        print(f"  {'SAME' if not differences else f'{len(differences)} differences'}")
        failed += bool(differences)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run a checkout on the reference inputs")
    run_parser.add_argument("out", type=Path)
    run_parser.add_argument("--checkout", type=Path, default=ROOT)
    run_parser.add_argument("--inputs", default=",".join(INPUTS), help="comma-separated: " + ",".join(INPUTS))
    compare_parser = commands.add_parser("compare", help="compare two `run` folders")
    compare_parser.add_argument("before", type=Path)
    compare_parser.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        run(args.out, args.checkout.resolve(), args.inputs.split(","))
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
