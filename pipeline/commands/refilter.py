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
from collections import Counter
from pathlib import Path

import orjson

from pipeline import __version__
from pipeline.commands.run import EXIT_LOCKED
from pipeline.config import ConfigError, load_config
from pipeline.corpus import MANIFEST, finished_runs, iter_kept, superseded
from pipeline.document import Document
from pipeline.log import log
from pipeline.runner import MANIFEST_VERSION, check_accounting, new_run_id, roll_forward, run_started
from pipeline.s5_filter.quality_filter import QualityFilter
from pipeline.s6_dedup.corpus_state import Digest
from pipeline.s7_write import safe_json
from pipeline.s7_write.atomic import write_atomic
from pipeline.s7_write.jsonl import ShardWriter
from pipeline.s7_write.records import counts_list, reject_record
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
    from pipeline.fs import is_url

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
    replaced = superseded(runs)
    run_id = new_run_id(started)
    run_dir = target / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    shard_args = (config.run["shard_size"], config.run["compression"], config.run["compresslevel"])
    kept, rejects = ShardWriter(run_dir, "part", *shard_args), ShardWriter(run_dir, "rejects", *shard_args)
    read_stats = StepStats("read")
    outcome: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    read_ids, kept_ids = [], []
    try:
        for doc in step.run(_documents(iter_kept(source, runs), read_stats)):
            record = doc.provenance.pop("record")
            read_ids.append(record["id"])
            outcome["documents"] += 1
            if doc.dropped:
                rejects.write(_reject(record, doc))
                outcome["dropped"] += 1
                reasons[f"{doc.drop_stage}:{doc.drop_reason}"] += 1
            else:
                if "quality" not in record["metadata"]:  # recomputed: keep the scores with the record
                    record["metadata"]["quality"] = doc.metadata["quality"]
                kept.write_line(safe_json.json_line(record))
                kept_ids.append(record["id"])
                outcome["kept"] += 1
        shards, reject_shards = kept.close(), rejects.close()
    except BaseException:
        kept.abort()
        rejects.abort()
        raise
    accounting = check_accounting(run_id, outcome, reasons, shards, reject_shards)
    inputs, supersedes = _replaced_inputs(runs, replaced)
    sources = sorted({entry["run_id"] for entry in supersedes})
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "pipeline": "newsclean",
        "pipeline_version": __version__,
        "kind": "refilter",
        "run_id": run_id,
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.perf_counter() - t0, 3),
        "config_file": str(config.path),
        "config_hash": config.hash,
        "config": config.as_dict(),
        "source_corpus": str(source),
        "source_runs": sources,
        "inputs": inputs,
        "supersedes": supersedes,
        "corpus_change": {"added": Digest.of(kept_ids).as_dict(), "retired": Digest.of(read_ids).as_dict()},
        "counts": {
            "documents": outcome["documents"],
            "kept": outcome["kept"],
            "dropped": outcome["dropped"],
            "errors": 0,
            "by_reason": dict(sorted(reasons.items())),
        },
        "accounting": accounting,
        "stages": {s.name: s.as_dict() for s in (read_stats, step.stats)},
        "shards": shards,
        "rejects": reject_shards,
    }
    try:  # report.html beside the manifest, as a run writes one
        from pipeline.report import write_report

        write_report(run_dir, manifest)
    except Exception as exc:  # the report must never fail the refilter
        log.warning(f"report not written: {type(exc).__name__}: {exc}")
    write_atomic(run_dir / MANIFEST, safe_json.dumps(manifest, option=orjson.OPT_INDENT_2))
    store.apply_run(run_id, inputs)  # the store now points these inputs at the refilter run
    _update_dedup_state(config, target)
    return manifest


def _update_dedup_state(config, target: Path) -> None:
    """The dedup indexes still hold the documents dropped here: rebuild them from the corpus (a kill
    before this is caught by the next run, which finds the corpus digest changed and rebuilds them)."""
    from pipeline import sharded_run
    from pipeline.runner import Recovery, build_pipeline, build_steps, ensure_state

    dedup = sharded_run.dedup_mode(
        config.run["dedup"], config.run["engine"], build_steps(config), target / "state"
    )
    ensure_state(target, build_pipeline(config, "", "", dedup).global_steps, Recovery())


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


def _reject(record: dict, doc: Document) -> dict:
    out = reject_record(doc, record.get("source") or "")
    out["source"] = record.get("source") or out["source"]
    out["metadata"]["removed"] = counts_list((record.get("metadata") or {}).get("removed"))
    out["metadata"]["quality"] = doc.metadata.get("quality")
    return out


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
