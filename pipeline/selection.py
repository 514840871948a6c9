"""Incremental input selection (step 2 of the commit protocol, `pipeline/runner.py`).

An input is processed when the processed-inputs store (`pipeline/state.py`) does not hold
its version (path, size, content hash), or always with `reprocess`; the earlier records of
a changed input are superseded, i.e. retired from the corpus and the dedup indexes. Inputs
gone from the input folders are retired too (`run.vanished_inputs: retire`), and inputs
holding copies of a retired record are processed again, since a copy may now be the
document the corpus keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config
from pipeline.plan import InputFile
from pipeline.s6_dedup.corpus_state import retired_records
from pipeline.s7_write import safe_json
from pipeline.state import InputLookup, InputStore, input_key


@dataclass
class RunRequest:
    """What `run_pipeline` was asked for."""

    config: Config
    inputs: list[str | Path]
    output: Path
    workers: int | None = None
    reprocess: bool = False


@dataclass
class Selection:
    """The inputs of this run (step 2 of the commit protocol)."""

    files: list[InputFile]  # every input listed
    todo: list[InputFile]  # those to process
    supersedes: list[dict]  # earlier records they replace (pipeline/corpus.py)
    retired: list[str]  # ids of the kept records that leaves out of the corpus
    vanished: list[dict]  # inputs gone from the input folders, retired
    reconsidered: list[str]  # unchanged inputs processed again: they held copies of retired records


def select_inputs(
    files: list[InputFile], store: InputLookup, reprocess: bool
) -> tuple[list[InputFile], list[dict]]:
    """(inputs to process, earlier records they supersede): an input is skipped when the
    store holds the same version (size and content hash) of it, unless `reprocess`."""
    todo, supersedes = [], []
    for f in files:
        if f.error:  # unreadable now: processed, so that it yields its error record
            todo.append(f)
            continue
        seen = store.get(input_key(f.path))
        if seen and seen.size == f.size and seen.xxh3_128 == f.xxh3_128 and not reprocess:
            continue
        todo.append(f)
        if seen:
            supersedes.append(
                {"path": safe_json.safe_str(f.path), "input_path": seen.input_path, "run_id": seen.run_id}
            )
    return todo, supersedes


def select(request: RunRequest, files: list[InputFile], store: InputStore) -> Selection:
    """The inputs to process, the earlier records they supersede and what that retires."""
    todo, supersedes = select_inputs(files, store, request.reprocess)
    retire = request.config.run["vanished_inputs"] == "retire"
    vanished = vanished_inputs(request.inputs, files, store) if retire else []
    supersedes += [{k: v for k, v in entry.items() if k != "key"} for entry in vanished]
    retired = _retired(request.output, supersedes)
    first = Selection(files, todo, supersedes, retired, vanished, [])
    todo, supersedes, retired, reconsidered = with_copies_of_retired(request.output, first, store)
    return Selection(files, todo, supersedes, retired, vanished, reconsidered)


def vanished_inputs(inputs: list[str | Path], files: list[InputFile], store: InputStore) -> list[dict]:
    """Inputs earlier runs processed under this run's input folders that are gone from them now."""
    listed = {input_key(f.path) for f in files}
    roots = [input_key(p).rstrip("/") + "/" for p in inputs if Path(p).is_dir()]
    return [
        {"path": seen.key, "input_path": seen.input_path, "run_id": seen.run_id, "key": seen.key}
        for seen in store.keys()
        if seen.key not in listed and any(seen.key.startswith(r) for r in roots)
    ]


def with_copies_of_retired(output: Path, first: Selection, store: InputStore):
    """Inputs holding copies (dropped duplicates) of retired records are processed again too: with
    their original gone or changed, a copy may be the document the corpus keeps now, as in a fresh
    run. Their own kept records are retired in turn, so this repeats until nothing is added.
    Returns (todo, supersedes, retired, input_paths reconsidered)."""
    by_key = {input_key(f.path): f for f in first.files if not f.error}
    chosen = {input_key(f.path) for f in first.todo}
    todo, supersedes, retired, reconsidered = (
        list(first.todo),
        list(first.supersedes),
        list(first.retired),
        [],
    )
    new_ids = retired
    while new_ids:
        keys = store.inputs_with_copies_of(new_ids) - chosen
        chosen |= keys
        extra = [
            by_key[key] for key in sorted(keys) if key in by_key
        ]  # inputs not listed now stay as they are
        entries = []
        for f in extra:
            seen = store.get(input_key(f.path))
            if seen is not None:
                entries.append(
                    {"path": safe_json.safe_str(f.path), "input_path": seen.input_path, "run_id": seen.run_id}
                )
            reconsidered.append(f.rel)
        supersedes += entries
        todo += extra
        new_ids = _retired(output, entries)
        retired += new_ids
    return sorted(todo, key=lambda f: f.index), supersedes, retired, sorted(reconsidered)


def _retired(output: Path, supersedes: list[dict]) -> list[str]:
    """Ids of the kept records this run supersedes: they leave the corpus and the indexes."""
    return [record["id"] for record in retired_records(output, supersedes)] if supersedes else []
