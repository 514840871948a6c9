"""`newsclean verify`, the state part: OUTPUT/state/ must describe the corpus.

- the processed-inputs store against the manifests: every run it marks applied is
  present with its manifest, every input it records is listed with that size and
  hash by the manifest of the run it names;
- each dedup index against the corpus view: the corpus digest it carries equals the
  digest of the kept records (and of the manifests), it holds no id the corpus does
  not keep, and a sample of kept documents is found in it;
- no near-duplicate pair above the threshold between a sample of kept documents and
  the rest of the corpus (looked up in the near index, which holds every kept document).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np

from pipeline.corpus import Run, iter_kept
from pipeline.s6_dedup.corpus_state import Digest, expected_digest

SAMPLE = 200  # kept documents looked up in the indexes and compared with the whole corpus


def state_problems(output: Path, runs: list[Run], kept_ids: list[str]) -> Iterator[tuple[Path | str, str]]:
    """(where, problem) for every way the state does not describe the corpus of `runs`."""
    state = output / "state"
    yield from _store_problems(state, runs)
    digest = Digest.of(kept_ids)
    from_manifests = expected_digest(output, runs, write_cache=False)  # verify changes nothing
    if digest != from_manifests:
        yield (
            output / "runs",
            (
                f"the kept records ({digest}) do not match what the manifests say "
                f"({from_manifests}): a shard or a run was changed or lost"
            ),
        )
    steps = _persistent_steps(runs)
    if not steps:
        return
    ids = set(kept_ids)
    sample = _sample(output, runs, len(kept_ids))
    if "exact_dedup" in steps:
        yield from _exact_problems(state, digest, ids, sample)
    if "near_dedup" in steps:
        yield from _near_problems(state, steps["near_dedup"], runs, digest, ids, sample)


# --- processed inputs ------------------------------------------------------------------------


def _store_problems(state: Path, runs: list[Run]) -> Iterator[tuple[Path | str, str]]:
    from pipeline.state import STORE_FILE

    path = state / STORE_FILE
    if not path.exists():
        return
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            applied = [row[0] for row in db.execute("SELECT run_id FROM runs ORDER BY run_id")]
            inputs = db.execute("SELECT key, size, xxh3_128, run_id FROM inputs ORDER BY key").fetchall()
    except sqlite3.DatabaseError as exc:
        yield path, f"unreadable: {exc}"
        return
    by_id = {run.id: run for run in runs}
    for run_id in applied:
        if run_id not in by_id:
            yield (
                path,
                (
                    f"run {run_id} is applied but its directory or manifest.json is gone "
                    "(its documents are lost from the corpus while its inputs count as processed)"
                ),
            )
    for key, size, xxh3, run_id in inputs:
        run = by_id.get(run_id)
        if run is None:
            continue  # reported above
        listed = [e for e in run.manifest.get("inputs", []) if e.get("key", e.get("path")) == key]
        if not listed:
            yield path, f"input {key} recorded as processed by run {run_id}, whose manifest does not list it"
        elif (listed[-1].get("size"), listed[-1].get("xxh3_128")) != (size, xxh3):
            yield path, f"input {key}: size/hash differ from the manifest of run {run_id}"


# --- the indexes ---------------------------------------------------------------------------------


def _persistent_steps(runs: list[Run]) -> dict:
    """Dedup steps of the latest run's config that keep an index: name -> step."""
    from pipeline.registry import step_class

    if not runs:
        return {}
    manifest = runs[-1].manifest
    context = {"config_dir": str(Path(manifest.get("config_file", ".")).parent)}
    steps = {}
    for item in manifest.get("config", {}).get("steps", []):
        name = item.get("step")
        if name in ("exact_dedup", "near_dedup") and item.get("enabled", True) is not False:
            step = step_class(name)({k: v for k, v in item.items() if k not in ("step", "enabled")}, context)
            if step.options.get("persist", True):
                step.mode = manifest.get("dedup", "driver")
                steps[name] = step
    return steps


def _sample(output: Path, runs: list[Run], n: int) -> list[dict]:
    """Every k-th kept record of the corpus view, about SAMPLE of them (deterministic)."""
    every = max(1, -(-n // SAMPLE))
    return [record for i, (_run, record) in enumerate(iter_kept(output, runs)) if i % every == 0]


def _exact_problems(
    state: Path, digest: Digest, ids: set[str], sample: list[dict]
) -> Iterator[tuple[Path | str, str]]:
    from pipeline.s6_dedup.exact import INDEX_FILE, content_hash, stored_digest

    path = state / INDEX_FILE
    if not path.exists():
        if ids:
            yield path, "missing (the next run rebuilds it from the corpus)"
        return
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            carried = stored_digest(db)
            index_ids = [row[0] for row in db.execute("SELECT id FROM kept")]
            found = {}
            for record in sample:
                digest_hex = (record.get("metadata") or {}).get("content_hash") or content_hash(
                    record["text"]
                )
                row = db.execute(
                    "SELECT id FROM kept WHERE hash = ?", (bytes.fromhex(digest_hex),)
                ).fetchone()
                found[record["id"]] = row[0] if row else None
    except sqlite3.DatabaseError as exc:
        yield path, f"unreadable: {exc}"
        return
    yield from _digest_problems(path, carried, digest)
    yield from _id_problems(path, index_ids, ids)
    for doc_id, got in found.items():
        if got != doc_id:
            yield path, f"lookup of the text of {doc_id!r} gives {got!r}"


def _digest_problems(path: Path, carried: Digest | None, digest: Digest) -> Iterator[tuple[Path | str, str]]:
    if carried is None:
        yield path, "carries no corpus digest (made by an older version; the next run rebuilds it)"
    elif carried != digest:
        yield path, f"describes another state of the corpus (index: {carried}; corpus: {digest})"


def _id_problems(path: Path, index_ids: list[str], ids: set[str]) -> Iterator[tuple[Path | str, str]]:
    strangers = sorted(set(index_ids) - ids)
    if strangers:
        yield (
            path,
            (
                f"holds {len(strangers)} documents the corpus does not keep (e.g. {strangers[0]!r}): "
                "their copies would be dropped as duplicates of nothing"
            ),
        )
    if len(index_ids) != len(set(index_ids)):
        yield path, f"holds {len(index_ids) - len(set(index_ids))} ids twice"


def _near_problems(
    state: Path, step, runs: list[Run], digest: Digest, ids: set[str], sample: list[dict]
) -> Iterator[tuple[Path | str, str]]:
    from pipeline.s6_dedup.index import INDEX_FILE
    from pipeline.s6_dedup.sharded import index_root, read_digest

    # the index the corpus has (a refilter run's manifest does not say which mode built it)
    sharded = index_root(step, state).is_dir() or (
        step.mode == "sharded" and not (step.index_dir(state) / INDEX_FILE).exists()
    )
    path = index_root(step, state) if sharded else step.index_dir(state) / INDEX_FILE
    if not path.exists():
        if ids:
            yield path, "missing (the next run rebuilds it from the corpus)"
        return
    try:
        if sharded:
            carried = read_digest(path) if (path / "corpus.json").exists() else None
        else:
            from pipeline.s6_dedup.exact import stored_digest

            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                carried = stored_digest(db)
        entries = list(_near_entries(step, path, sharded))
    except (OSError, ValueError, sqlite3.DatabaseError) as exc:
        yield path, f"unreadable: {exc}"
        return
    yield from _digest_problems(path, carried, digest)
    yield from _id_problems(path, [doc_id for doc_id, _sig, _sh in entries], ids)
    yield from _near_pairs(
        path, step, sample, [e for e in entries if e[0] in ids]
    )  # strangers: reported above


def _near_entries(step, path: Path, sharded: bool) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    """(id, signature, shingles) of every document the near index holds."""
    if not sharded:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            for doc_id, signature, shingles in db.execute("SELECT id, signature, shingles FROM docs"):
                yield (
                    doc_id,
                    np.frombuffer(signature, np.uint32),
                    None if shingles is None else np.frombuffer(shingles, np.uint32),
                )
        return
    from pipeline.s6_dedup.sharded import _DocFiles, near_files

    for segment in sorted((path / "segments").iterdir()) if (path / "segments").is_dir() else []:
        parts = [np.load(f) for f in sorted(segment.glob("band-000/range-*.refs.npy"))]  # band 0 reaches all
        refs = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        opened: dict[int, _DocFiles] = {}
        for ref in sorted(refs.tolist()):
            task, pos = ref >> 32, ref & 0xFFFFFFFF
            if task not in opened:
                opened.clear()  # refs are sorted by task: one task's files open at a time
                opened[task] = _DocFiles(near_files(segment / "docs", task, step.name))
            files = opened[task]
            yield files.id(pos), files.signature(pos), files.shingles(pos)


def _near_pairs(path: Path, step, sample: list[dict], entries: list) -> Iterator[tuple[Path | str, str]]:
    """Sampled kept documents: present in the index, and no other kept document near-copies them."""
    from pipeline.document import Document
    from pipeline.s6_dedup.lsh import band_keys
    from pipeline.s6_dedup.near import _estimate, _jaccard

    held = {doc_id for doc_id, _sig, _sh in entries}
    keys = []
    for record in sample:
        title = (record.get("metadata") or {}).get("title")
        key = step.key(Document(id=record["id"], text=record["text"], metadata={"title": title}))
        if key is None:
            continue
        if record["id"] not in held:
            yield path, f"kept document {record['id']!r} is not in the near index"
        keys.append((record["id"], key))
    if not keys or not entries:
        return
    mine = band_keys(np.stack([k[1][0] for k in keys]), step.bands, step.rows)
    buckets: dict[tuple[int, int], list[int]] = {}
    for i, row in enumerate(mine):
        for band, key in enumerate(row.tolist()):
            buckets.setdefault((band, key), []).append(i)
    theirs = band_keys(np.stack([e[1] for e in entries]), step.bands, step.rows)
    exact, seen = step.options["verify"] == "exact", set()
    for j, row in enumerate(theirs):
        for band, key in enumerate(row.tolist()):
            for i in buckets.get((band, key), ()):
                doc_id, (signature, shingles) = keys[i]
                other_id, other_sig, other_sh = entries[j]
                if other_id == doc_id or (doc_id, other_id) in seen:
                    continue
                seen.add((doc_id, other_id))
                sim = _jaccard(shingles, other_sh) if exact else _estimate(signature, other_sig)
                if sim >= step.options["threshold"]:
                    yield (
                        path,
                        (
                            f"kept documents {doc_id!r} and {other_id!r} are near-duplicates "
                            f"(jaccard {sim:.3f} >= {step.options['threshold']})"
                        ),
                    )
