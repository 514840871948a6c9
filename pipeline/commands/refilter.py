"""`newsclean refilter OUTPUT --config CONFIG [-o TARGET]`: re-apply quality thresholds.

Reads the kept records of the corpus view (finished runs, superseded records left
out: `pipeline/corpus.py`), runs the config's `quality_filter` on their stored
`metadata.quality` (computed only when a record has none), and writes a new run,
`TARGET/runs/<run-id>/` (TARGET defaults to OUTPUT): kept shards, rejects with the
failed signal, value and limit, and a manifest with `"kind": "refilter"`. Nothing
is extracted or cleaned again.

The new run replaces the records it read: its manifest lists every (run, input) it
re-filtered in `supersedes` and those inputs in `inputs`, as a run that reprocessed
them would, so every corpus reader (`iter_kept`) shows the refilter run's records
instead of the old ones, and a later change of one of those inputs supersedes the
refilter run's records. Thresholds are re-applied to what is in the view: a
document dropped earlier (by a run or an earlier refilter) is in that run's rejects
and does not come back; to loosen limits, rerun the pipeline with `--reprocess`.
"""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.commands.run import EXIT_LOCKED
from pipeline.commit import Recovery, ensure_state, roll_forward
from pipeline.config import ConfigError, load_config
from pipeline.corpus import finished_runs, iter_kept, superseded
from pipeline.document import Document
from pipeline.fs import is_url
from pipeline.log import log
from pipeline.runner import build_pipeline, build_steps, dedup_mode_of, new_run_id, run_started
from pipeline.s5_filter.quality_filter import QualityFilter
from pipeline.s6_dedup.corpus_state import Digest
from pipeline.s7_write import safe_json
from pipeline.s7_write.jsonl import ShardWriter
from pipeline.s7_write.manifest import Written, build_manifest, check_accounting, write_manifest
from pipeline.s7_write.records import refiltered_reject
from pipeline.state import LOCK_FILE, InputStore, LockHeld, RunLock
from pipeline.step import StepStats
from pipeline.summary import summary_table


def register(sub) -> None:
    p = sub.add_parser(
        "refilter",
        help="re-apply quality thresholds to a finished corpus from the stored "
        "scores, into a new run (no re-extraction)",
    )
    p.add_argument("output", help="corpus directory to read")
    p.add_argument(
        "-c", "--config", required=True, help="pipeline config whose quality_filter limits to apply"
    )
    p.add_argument("-o", "--target", help="corpus directory to write the new run into (default: OUTPUT)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary table")
    p.set_defaults(func=cmd_refilter)


def cmd_refilter(args) -> int:
    if any(is_url(path) for path in (args.output, args.target) if path):  # never a local folder named "s3:"
        log.error("cannot refilter: a corpus is a local folder (export it to a URL with `newsclean export`)")
        return 1
    config = load_config(args.config)
    try:
        result = refilter(config, args.output, args.target)
    except LockHeld as exc:  # the same exit status as a run that finds the corpus locked
        log.error(f"cannot refilter: {exc}")
        return EXIT_LOCKED
    except OSError as exc:
        log.error(f"cannot refilter: {exc}")
        return 1
    if not args.quiet:
        print(summary_table(result))
        print(f"output: {Path(args.target or args.output) / 'runs' / result['run_id']}")
    return 0


def quality_filter_of(config) -> QualityFilter:
    options = dict(config.steps).get("quality_filter")
    if options is None:
        raise ConfigError(f"{config.path}: no enabled quality_filter step: nothing to re-apply")
    return QualityFilter(options, {"config_dir": str(config.dir)})


def refilter(config, source: str | Path, target: str | Path | None = None) -> dict:
    """Write the refilter run of corpus `source` into `target` (default: `source`); returns its manifest."""
    source = Path(source)
    target = Path(target) if target else source
    if not (source / "runs").is_dir():
        raise OSError(f"{source}: not a corpus (no runs/ directory)")
    step = quality_filter_of(config)
    state_dir = target / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(state_dir / LOCK_FILE), InputStore(state_dir) as store:
        if target.resolve() == source.resolve():
            roll_forward(target, store)  # a finished run a kill left unapplied is part of the view
        return _refilter_locked(config, step, source, target, store)


def _refilter_locked(config, step: QualityFilter, source: Path, target: Path, store: InputStore) -> dict:
    started = run_started()
    t0 = time.perf_counter()
    runs = finished_runs(source)
    run_id = new_run_id(started)
    run_dir = target / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    written, read_ids, kept_ids = _filter_corpus(config, step, iter_kept(source, runs), run_dir)
    accounting = check_accounting(run_id, written)
    inputs, supersedes = _replaced_inputs(runs, superseded(runs))
    about = {
        "kind": "refilter",
        "run_id": run_id,
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.perf_counter() - t0, 3),
        "config_file": str(config.path),
        "config_hash": config.hash,
        "config": config.as_dict(),
        "source_corpus": str(source),
        "source_runs": sorted({entry["run_id"] for entry in supersedes}),
        "inputs": inputs,
        "supersedes": supersedes,
        "corpus_change": {"added": Digest.of(kept_ids).as_dict(), "retired": Digest.of(read_ids).as_dict()},
    }
    manifest = build_manifest(about, written, accounting)
    write_manifest(run_dir, manifest)
    store.apply_run(run_id, inputs)  # the store now points these inputs at the refilter run
    _update_dedup_state(config, target)
    return manifest


def _filter_corpus(config, step: QualityFilter, records, run_dir: Path) -> tuple[Written, list, list]:
    """The corpus's kept records through `step` into the run's shards; what was counted and
    written, the ids read and the ids kept."""
    written, read_stats = Written(), StepStats("read")
    writer = (config.run["shard_size"], config.run["compression"], config.run["compresslevel"])
    kept, rejects = ShardWriter(run_dir, "part", *writer), ShardWriter(run_dir, "rejects", *writer)
    read_ids, kept_ids = [], []
    try:
        for doc in step.run(_documents(records, read_stats)):
            record = doc.provenance.pop("record")
            read_ids.append(record["id"])
            written.outcome["documents"] += 1
            if doc.dropped:
                rejects.write(refiltered_reject(record, doc))
                written.count_drop(f"{doc.drop_stage}:{doc.drop_reason}", 1, error=False)
                continue
            if "quality" not in record["metadata"]:  # recomputed: keep the scores with the record
                record["metadata"]["quality"] = doc.metadata["quality"]
            kept.write_line(safe_json.json_line(record))
            kept_ids.append(record["id"])
            written.outcome["kept"] += 1
        written.shards, written.rejects = kept.close(), rejects.close()
    except BaseException:
        kept.abort()
        rejects.abort()
        raise
    written.stages = [read_stats, step.stats]
    return written, read_ids, kept_ids


def _update_dedup_state(config, target: Path) -> None:
    """The dedup indexes still hold the documents dropped here: rebuild them from the corpus (a kill
    before this is caught by the next run, which finds the corpus digest changed and rebuilds them)."""
    steps = build_steps(config)
    dedup = dedup_mode_of(config, steps, target / "state")
    ensure_state(target, build_pipeline(config, "", "", dedup, steps).global_steps, Recovery())


def _documents(records, read_stats: StepStats):
    for _run, record in records:
        read_stats.docs_in += 1
        read_stats.kept += 1
        meta = dict(record.get("metadata") or {})
        doc = Document(
            id=record["id"],
            text=record.get("text", ""),
            metadata=meta,
            provenance={"input_path": meta.get("input_path")},
        )
        doc.provenance["record"] = record
        yield doc


def _replaced_inputs(runs, replaced: dict[str, set[str]]) -> tuple[list[dict], list[dict]]:
    """The source runs' inputs still in the view: as `inputs` (the store maps them to the new
    run) and as `supersedes` entries (readers skip the old runs' records of them)."""
    inputs, supersedes = [], []
    for run in runs:
        gone = replaced.get(run.id, set())
        for entry in run.manifest.get("inputs", []):
            input_path = entry.get("input_path") or Path(entry.get("path", "")).name
            if input_path in gone:
                continue
            supersedes.append({"path": entry.get("path"), "input_path": input_path, "run_id": run.id})
            if entry.get("xxh3_128") is not None and entry.get("key"):
                inputs.append(entry)
    return inputs, supersedes
