"""Reading a corpus: OUTPUT/runs/<run-id>/ directories, finished runs only.

A run directory without `manifest.json` is unfinished and not part of the corpus.
When a later run reprocessed an input (its content changed, or `--reprocess`),
its manifest lists the earlier (run, input) pairs in `supersedes`; the records
those runs made from that input are replaced by the later run's and are not
part of the corpus view. Every `newsclean` command that reads a corpus goes
through `iter_kept()` (or `finished_runs()` and `superseded()`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from pipeline.fs import open_decompressed

MANIFEST = "manifest.json"


@dataclass
class Run:
    dir: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.manifest.get("run_id", self.dir.name)


def run_dirs(output: str | Path) -> list[Path]:
    runs = Path(output) / "runs"
    if not runs.is_dir():
        return []
    return sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))


def is_finished(run_dir: Path) -> bool:
    return (run_dir / MANIFEST).is_file()


def finished_runs(output: str | Path) -> list[Run]:
    """Finished runs, oldest first (run ids sort by start time)."""
    return [Run(d, orjson.loads((d / MANIFEST).read_bytes())) for d in run_dirs(output) if is_finished(d)]


def latest_run(runs: list[Run]) -> Run:
    """The run that finished last, by its manifest's time (run ids follow the clock at start, which
    may have been set back since), then by id."""
    return max(runs, key=lambda run: (str(run.manifest.get("finished") or ""), run.id))


def unfinished_run_dirs(output: str | Path) -> list[Path]:
    return [d for d in run_dirs(output) if not is_finished(d)]


def superseded(runs: list[Run]) -> dict[str, set[str]]:
    """run id -> input_paths whose records in that run were replaced by a later run."""
    out: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        for entry in run.manifest.get("supersedes", []):
            out[entry["run_id"]].add(entry["input_path"])
    return out


def from_input(record: dict, input_paths: set[str]) -> bool:
    """Did `record` come from one of `input_paths`? Records of multi-record files (JSONL, WARC)
    have `file#N`: only a record number (digits) after the last `#` of such a file counts, so a
    file named `page.txt#comments.txt` is never taken for a record of `page.txt`."""
    path = (record.get("metadata") or {}).get("input_path") or ""
    if path in input_paths:
        return True
    file, sep, number = path.rpartition("#")
    return bool(sep) and number.isdigit() and file in input_paths and _holds_records(file)


def _holds_records(path: str) -> bool:
    from pipeline.s1_read.inputs import holds_many_records

    return holds_many_records(path)


def read_jsonl(path: Path) -> Iterator[dict]:
    with open_decompressed(path) as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def iter_kept(output: str | Path, runs: list[Run] | None = None) -> Iterator[tuple[Run, dict]]:
    """(run, record) for every kept document of the corpus view."""
    runs = finished_runs(output) if runs is None else runs
    replaced = superseded(runs)
    for run in runs:
        gone = replaced.get(run.id, set())
        for shard in run.manifest.get("shards", []):
            for record in read_jsonl(run.dir / shard["file"]):
                if gone and from_input(record, gone):
                    continue
                yield run, record


def corpus_counts(output: str | Path, runs: list[Run] | None = None) -> dict:
    """Kept documents in the corpus view vs kept records the runs wrote: {"documents", "records",
    "superseded"}. Only runs with superseded inputs are read; the others count from their manifest."""
    runs = finished_runs(output) if runs is None else runs
    replaced = superseded(runs)
    documents = records = 0
    for run in runs:
        written = sum(shard.get("records", 0) for shard in run.manifest.get("shards", []))
        records += written
        gone = replaced.get(run.id)
        if not gone:
            documents += written
            continue
        for shard in run.manifest.get("shards", []):
            documents += sum(
                1 for record in read_jsonl(run.dir / shard["file"]) if not from_input(record, gone)
            )
    return {"documents": documents, "records": records, "superseded": records - documents}
