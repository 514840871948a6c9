"""The run loop, kept apart from the stages.

A run has three phases, so that deduplication sees the whole input while memory
stays bounded and the output does not depend on the number of workers:

1. map: the input is cut into tasks (`pipeline/plan.py`), independently of the
   number of workers; each task reads its slice, takes it through the
   per-document steps and writes candidate records, rejects and the small dedup
   keys to the run's work directory (`pipeline/tasks.py`), inline or on a
   process pool.
2. reduce: each global step (dedup) reads the keys in input order and names the
   documents to drop.
3. filter: candidate records are copied to the final shards, minus those dropped;
   rejects of all phases go to the rejects shards.

Every document read is kept, dropped or an error; the loop checks this and fails
loudly otherwise. The manifest is written last: a run directory without
`manifest.json` is not part of the corpus.

Runs are incremental and safe to kill. OUTPUT/runs/<run-id>/ holds each run,
OUTPUT/state/ what runs share: the processed-inputs store (`pipeline/state.py`),
global steps' indexes, and `run.lock` (one writer at a time). The commit protocol:

1. under the lock, roll forward every finished run (manifest present) that the
   state does not record as applied, and set aside unfinished run directories:
   the one whose plan (config, selected inputs) equals this run's is resumed
   (finished map tasks are kept), the others are deleted;
2. select the inputs: those whose (path, size, content hash) the store does not
   hold, or all of them with `reprocess`; earlier records of a reprocessed input
   are superseded (the manifest's `supersedes`, see `pipeline/corpus.py`);
3. map, reduce, filter into the run directory; global steps read the state but
   do not change it; the accounting check;
4. each global step stages what it adds to the state in `<run>/delta/<step>/`;
5. the manifest, written atomically: the commit point;
6. apply: each global step's `commit(state_dir, delta_dir)` (idempotent), then
   the store records the run's inputs and marks the run applied, in one
   transaction. A kill before 5 loses the run (it is redone); a kill after 5 is
   completed by step 1 of the next run, so nothing is processed twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import pickle
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import orjson

from pipeline import __version__
from pipeline.config import Config
from pipeline.corpus import MANIFEST, run_dirs
from pipeline import sharded_run
from pipeline.engine import make_engine
from pipeline.engine.local import default_workers
from pipeline.faults import checkpoint
from pipeline.log import log
from pipeline.plan import InputFile, list_inputs, plan_tasks, task_size_for
from pipeline.registry import step_class
from pipeline.s7_write import safe_json
from pipeline.s7_write.atomic import write_atomic
from pipeline.s7_write.jsonl import ShardWriter
from pipeline.state import LOCK_FILE, InputStore, RunLock, input_key
from pipeline.summary import plural
from pipeline.step import DocRef, Drop, StepStats
from pipeline.tasks import Pipeline, candidates_with_drops, init_worker, run_map_task_in_worker, task_paths

MANIFEST_VERSION = 1
ELAPSED_FILE = "elapsed"  # in a run's _work/: seconds spent by its attempts so far


class AccountingError(RuntimeError):
    pass


class InputNotFound(FileNotFoundError):
    """An input named on the command line does not exist (a typo must not be a silent empty run)."""


@dataclass
class RunResult:
    run_dir: Path | None  # None: nothing new to process, no run written
    manifest: dict  # the run's manifest; when nothing was new only `skipped_inputs` and `recovery`
    stats: list[StepStats] = field(default_factory=list)


@dataclass
class Recovery:
    """What a run found and repaired at startup (reported in its manifest)."""

    stale_lock: dict | None = None  # the lock record of a run that died
    rolled_forward: list[str] = field(default_factory=list)  # finished runs applied to the state now
    discarded: list[str] = field(default_factory=list)  # unfinished runs deleted
    resumed: str | None = None  # the unfinished run this run completes
    earlier_attempts_seconds: float = 0.0  # time the resumed run's killed attempts had spent (in `seconds`)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


def run_started() -> dt.datetime:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible output: the same `added` and run id)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc)


def new_run_id(now: dt.datetime) -> str:
    """Sortable by start time; the suffix keeps two runs started in the same millisecond apart."""
    suffix = "00000" if os.environ.get("SOURCE_DATE_EPOCH") else f"{os.getpid() % 100000:05d}"
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-{suffix}"


def build_steps(config: Config) -> list:
    context = {"config_dir": str(config.dir)}
    return [step_class(name)(options, context) for name, options in config.steps]


def build_pipeline(config: Config, added: str, collection: str, dedup: str = "driver") -> Pipeline:
    return Pipeline(build_steps(config), added, collection, dict(config.read), dedup)


def _terminal_size() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
        return size.columns, size.lines
    except (OSError, ValueError, AttributeError):
        return 0, 0


class _Progress:
    def __init__(self, mode: str):
        self.bar = None
        if mode == "on" or (mode == "auto" and sys.stderr.isatty()):
            from tqdm import tqdm
            # a terminal that reports 0 columns or rows (a bare pty, `script` under cron) would get no bar
            columns, rows = _terminal_size()
            sized = columns > 0 and rows > 0
            self.bar = tqdm(unit="doc", desc="newsclean", file=sys.stderr, dynamic_ncols=sized,
                            **({} if sized else {"ncols": columns or 80, "nrows": 24}))

    # `is not None`: a tqdm bar without a total raises TypeError on bool()
    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_pipeline(config: Config, inputs: list[str | Path], output: str | Path,
                 workers: int | None = None, reprocess: bool = False) -> RunResult:
    """Process the inputs not yet in the corpus at `output` (all of them with `reprocess`).

    Raises LockHeld when another run holds the corpus, AccountingError when the
    documents do not add up (nothing is committed then).
    """
    output = Path(output)
    check_inputs_exist(inputs)
    build_steps(config)  # rule files and regexes are checked before anything is touched
    state_dir = output / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(state_dir / LOCK_FILE) as lock, InputStore(state_dir) as store:
        recovery = Recovery(stale_lock=lock.stale)
        recovery.rolled_forward = roll_forward(output, store)
        return _run_locked(config, inputs, output, store, workers, reprocess, recovery)


def check_inputs_exist(inputs: list[str | Path]) -> None:
    """Raise InputNotFound before anything is written when an input path does not exist."""
    missing = [str(p) for p in inputs if not os.path.lexists(p)]
    if not inputs:
        raise InputNotFound("no input given")
    if missing:
        raise InputNotFound(f"input not found: {', '.join(missing)}")


def _run_locked(config: Config, inputs: list[str | Path], output: Path, store: InputStore,
                workers: int | None, reprocess: bool, recovery: Recovery) -> RunResult:
    started = run_started()
    t0 = time.perf_counter()
    state_dir = output / "state"
    collection = config.run["collection"]  # "" = per document (pipeline/s7_write/records.py: source_of)
    workers = workers or config.run["workers"] or default_workers()

    files = list_inputs(inputs)
    todo, supersedes = select_inputs(files, store, reprocess)
    if not todo:  # nothing new: no run directory (an empty run would only clutter the corpus)
        recovery.discarded += discard_unfinished(output)
        return RunResult(None, {"skipped_inputs": len(files), "recovery": recovery.as_dict()})
    task_size = task_size_for(todo, config.run["partitions"], config.read) if config.run["partitions"] \
        else config.run["task_size"]
    tasks = plan_tasks(todo, task_size, config.read)
    dedup = sharded_run.dedup_mode(config.run["dedup"], config.run["engine"], build_steps(config), state_dir)
    plan = {"config_hash": config.hash, "collection": collection, "version": __version__,
            "inputs": [[safe_json.safe_str(f.path), f.size, f.xxh3_128, f.error] for f in todo],
            "task_size": task_size, "dedup": dedup}
    run_dir, added = prepare_run_dir(output, started, plan, recovery)
    if recovery.resumed:
        recovery.earlier_attempts_seconds = _elapsed_before(run_dir)
        t0 -= recovery.earlier_attempts_seconds  # the run's time counts its killed attempts too
    run_id = run_dir.name
    work_dir = run_dir / "_work"
    log.info(f"run {run_id}: {len(todo):,} of {plural(len(files), 'input')} to process, "
             f"{plural(len(tasks), 'task')}",
             extra={"fields": {"event": "run_started", "run_id": run_id, "inputs": len(todo),
                               "skipped_inputs": len(files) - len(todo), "tasks": len(tasks)}})

    pipeline = build_pipeline(config, added, collection, dedup)  # the main process's copy: stats and reduce
    sharded = dedup == "sharded"
    engine = make_engine(config.run["engine"], workers, config.run["address"])
    workers = engine.workers
    totals = {name: StepStats(name) for name in ["read"] + [step.name for step in pipeline.steps]}
    reseen_paths = {entry["input_path"] for entry in supersedes}
    rejects = ShardWriter(run_dir, "rejects", config.run["shard_size"], config.run["compression"],
                          config.run["compresslevel"])
    kept = ShardWriter(run_dir, "part", config.run["shard_size"], config.run["compression"],
                       config.run["compresslevel"])
    outcome, reasons = Counter(), Counter()
    progress = _Progress(config.run["progress"])
    try:
        # 1. map
        jobs = ((task, str(work_dir)) for task in tasks)
        for summary in engine.map_ordered(run_map_task_in_worker, jobs, init_worker,
                                          (build_pipeline, config, added, collection, dedup)):
            for stats in summary.stats:
                totals[stats.name].merge(stats)
            reasons.update(summary.outcome)
            outcome["documents"] += summary.n_docs
            outcome["errors"] += summary.errors
            outcome["dropped"] += sum(summary.outcome.values()) - summary.errors
            progress.update(summary.n_docs)
            _record_elapsed(work_dir, time.perf_counter() - t0)
            log.debug(f"task {summary.index} done: {summary.n_docs} documents",
                      extra={"fields": {"event": "task_done", "task": summary.index, "documents": summary.n_docs}})
            checkpoint("task")
        for task in ([] if sharded else tasks):  # sharded: the filter tasks write them
            with open(task_paths(work_dir, task.index)["rejects"], "rb") as fh:
                for line in fh:
                    rejects.write_line(line)

        # 2. reduce
        drops: dict[int, tuple[str, Drop]] = {}
        for position, step in enumerate(pipeline.global_steps):
            start = time.perf_counter()
            stats = totals[step.name]
            items = _global_items(work_dir, len(tasks), position, drops, stats)
            if sharded and sharded_run.handles(step):
                stats.docs_in += outcome["documents"] - outcome["dropped"] - outcome["errors"] - len(drops)
                reduced = sharded_run.reduce_sharded(step, engine, work_dir, len(tasks), drops, state_dir,
                                                     config.run["dedup_ranges"], stats)
            else:
                reduced = step.reduce(items, state_dir)
            for drop in reduced:
                drops[drop.order] = (step.name, drop)
                stats.dropped[drop.reason] += 1
            stats.kept = stats.docs_in - sum(n for r, n in stats.dropped.items() if r != "error")
            stats.seconds += time.perf_counter() - start
        if len({stage for stage, _drop in drops.values()}) > 1:  # a chain needs drops of two steps
            _follow_dup_chains(work_dir, len(tasks), drops)
        checkpoint("reduced")

        # 3. filter
        if sharded:
            filtered = sharded_run.filter_sharded(engine, tasks, work_dir, run_dir, drops, reseen_paths, config.run)
            sharded_run.count_filtered(filtered, outcome, reasons, totals)
        for task in ([] if sharded else tasks):
            for line, hit, reseen in candidates_with_drops(task_paths(work_dir, task.index), drops, reseen_paths):
                if reseen:
                    hit = _same_document_reseen(totals[hit[0]], hit[1])
                if hit is None:
                    kept.write_line(line)
                    outcome["kept"] += 1
                    checkpoint("kept")
                else:
                    stage, drop = hit
                    rejects.write(_dedup_reject(orjson.loads(line), stage, drop))
                    outcome["dropped"] += 1
                    reasons[f"{stage}:{drop.reason}"] += 1
        shards, reject_shards = kept.close(), rejects.close()
        if sharded:
            shards, reject_shards = sharded_run.shard_lists(filtered)
    except BaseException:
        kept.abort()
        rejects.abort()
        engine.close()
        raise
    finally:
        progress.close()
    total = outcome["documents"]
    accounting = check_accounting(run_id, outcome, reasons, shards, reject_shards)
    for step in pipeline.global_steps:  # what this run adds to the shared state, inside the run dir
        delta_dir = run_dir / "delta" / step.name
        delta_dir.mkdir(parents=True, exist_ok=True)
        step.stage(delta_dir)
        if sharded and sharded_run.handles(step):
            sharded_run.stage(step, engine, work_dir, delta_dir, run_id)
    engine.close()
    checkpoint("staged")
    seconds = time.perf_counter() - t0
    all_stats = list(totals.values())
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "pipeline": "newsclean",
        "pipeline_version": __version__,
        "run_id": run_id,
        "started": added,
        "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(seconds, 3),
        "workers": workers,
        "engine": engine.name,
        "dedup": dedup,
        "config_file": str(config.path),
        "config_hash": config.hash,
        "config": config.as_dict(),
        "inputs": [_input_entry(f) for f in todo],
        "skipped_inputs": len(files) - len(todo),  # processed by earlier runs, unchanged
        "reprocess": reprocess,
        "supersedes": supersedes,
        "recovery": recovery.as_dict(),
        "tasks": len(tasks),
        "counts": {"documents": total, "kept": outcome["kept"], "dropped": outcome["dropped"],
                   "errors": outcome["errors"], "by_reason": dict(sorted(reasons.items()))},
        "accounting": accounting,
        "stages": {s.name: s.as_dict() for s in all_stats},
        "shards": shards,
        "rejects": reject_shards,
    }
    try:  # report.html beside the manifest; written before it, so a finished run always has one
        from pipeline.report import write_report

        write_report(run_dir, manifest)
    except Exception as exc:  # the report must never fail a run
        log.warning(f"report not written: {type(exc).__name__}: {exc}")
    write_atomic(run_dir / MANIFEST, safe_json.dumps(manifest, option=orjson.OPT_INDENT_2))
    checkpoint("manifest")
    shutil.rmtree(work_dir, ignore_errors=True)
    apply_run(run_dir, manifest, state_dir, store, pipeline.global_steps)
    return RunResult(run_dir, manifest, all_stats)


# --- incremental input selection ------------------------------------------------------


def select_inputs(files: list[InputFile], store: InputStore, reprocess: bool) -> tuple[list[InputFile], list[dict]]:
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
            supersedes.append({"path": safe_json.safe_str(f.path), "input_path": seen.input_path,
                               "run_id": seen.run_id})
    return todo, supersedes


def _input_entry(f: InputFile) -> dict:
    entry = {**f.manifest_entry(), "input_path": f.rel, "key": input_key(f.path)}
    return {k: safe_json.safe_str(v) if isinstance(v, str) else v for k, v in entry.items()}


# --- run directories: resume or discard unfinished runs --------------------------------


def prepare_run_dir(output: Path, started: dt.datetime, plan: dict, recovery: Recovery) -> tuple[Path, str]:
    """(run directory, `added` time stamp) for this run. An unfinished run with the same plan
    is resumed (its finished map tasks are reused); other unfinished runs are deleted."""
    runs = output / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for trash in runs.glob(".trash-*"):  # deletions a kill interrupted
        shutil.rmtree(trash, ignore_errors=True)
    resumed: tuple[Path, str] | None = None
    for run_dir in run_dirs(output):
        if (run_dir / MANIFEST).exists():
            shutil.rmtree(run_dir / "_work", ignore_errors=True)  # left by a kill right after the manifest
            continue
        saved = _read_plan(run_dir)
        if resumed is None and saved is not None and saved["plan"] == plan:
            _clear_for_resume(run_dir)
            resumed = (run_dir, saved["added"])
            recovery.resumed = run_dir.name
        else:
            _discard(run_dir)
            recovery.discarded.append(run_dir.name)
    if resumed:
        return resumed
    run_id = new_run_id(started)
    while (runs / run_id).exists():  # same start time (SOURCE_DATE_EPOCH): keep ids unique and sorted
        run_id = _next_id(run_id)
    run_dir = runs / run_id
    (run_dir / "_work").mkdir(parents=True)
    added = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    write_atomic(run_dir / "_work" / "run.json", safe_json.dumps({"plan": plan, "added": added}))
    return run_dir, added


def discard_unfinished(output: Path) -> list[str]:
    """Delete unfinished run directories (no run resumes them); their ids."""
    gone = [d for d in run_dirs(output) if not (d / MANIFEST).exists()]
    for run_dir in gone:
        _discard(run_dir)
    return [d.name for d in gone]


def _record_elapsed(work_dir: Path, seconds: float) -> None:
    """Time spent so far, after each map task: a resumed run adds it to its own (kill loses one task's worth)."""
    write_atomic(work_dir / ELAPSED_FILE, f"{seconds:.3f}".encode())


def _elapsed_before(run_dir: Path) -> float:
    try:
        return round(float((run_dir / "_work" / ELAPSED_FILE).read_text()), 3)
    except (OSError, ValueError):
        return 0.0


def _next_id(run_id: str) -> str:
    base, dot, n = run_id.partition(".")
    return f"{base}.{int(n or 0) + 1:03d}"


def _read_plan(run_dir: Path) -> dict | None:
    try:
        return orjson.loads((run_dir / "_work" / "run.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def _clear_for_resume(run_dir: Path) -> None:
    """Keep the finished map tasks; everything after the map phase is redone."""
    for entry in run_dir.iterdir():
        if entry.name == "_work":
            for leftover in entry.glob(".*"):  # temp files of an interrupted atomic write
                leftover.unlink(missing_ok=True)
        elif entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _discard(run_dir: Path) -> None:
    # rename first (atomic), so a kill during the deletion never leaves a half-deleted run behind
    trash = run_dir.with_name(f".trash-{run_dir.name}")
    os.replace(run_dir, trash)
    shutil.rmtree(trash, ignore_errors=True)


# --- commit: apply finished runs to the shared state -----------------------------------


def apply_run(run_dir: Path, manifest: dict, state_dir: Path, store: InputStore, global_steps: list) -> None:
    """Apply a finished run to the state: global steps' deltas, then the processed inputs
    and the run's 'applied' mark in one transaction. Idempotent, so it can be redone."""
    sharded_run.commit(state_dir, run_dir / "delta")
    for step in global_steps:
        checkpoint("commit")
        step.commit(state_dir, run_dir / "delta" / step.name)
    checkpoint("committed")
    entries = [{**entry, "key": entry.get("key") or input_key(entry["path"]),
                "input_path": entry.get("input_path") or Path(entry["path"]).name}
               for entry in manifest.get("inputs", [])]
    store.apply_run(manifest["run_id"], entries)


def roll_forward(output: Path, store: InputStore) -> list[str]:
    """Apply the finished runs that a kill stopped between their manifest and their commit."""
    applied = []
    for run_dir in run_dirs(output):
        if store.is_applied(run_dir.name) or not (run_dir / MANIFEST).exists():
            continue
        manifest = orjson.loads((run_dir / MANIFEST).read_bytes())
        if store.is_applied(manifest["run_id"]):
            continue
        apply_run(run_dir, manifest, output / "state", store, _global_steps_of(run_dir, manifest))
        applied.append(manifest["run_id"])
    return applied


def _global_steps_of(run_dir: Path, manifest: dict) -> list:
    """The global steps of a finished run, built from its own config, that staged a delta."""
    context = {"config_dir": str(Path(manifest.get("config_file", ".")).parent)}
    steps = []
    for item in manifest.get("config", {}).get("steps", []):
        name = item["step"]
        if (run_dir / "delta" / name).is_dir():
            steps.append(step_class(name)({k: v for k, v in item.items() if k != "step"}, context))
    return steps


# --- accounting --------------------------------------------------------------------------


def check_accounting(run_id: str, outcome: Counter, reasons: Counter, shards: list[dict],
                     reject_shards: list[dict]) -> dict:
    """Documents read = kept + dropped + errors, by the counters and by the records written;
    raise AccountingError (the run is not committed) when they do not add up."""
    total, kept, dropped, errors = outcome["documents"], outcome["kept"], outcome["dropped"], outcome["errors"]
    written_kept = sum(s["records"] for s in shards)
    written_rejects = sum(s["records"] for s in reject_shards)
    problems = []
    if kept + dropped + errors != total:
        problems.append(f"{total} documents read but {kept + dropped + errors} accounted for "
                        f"(kept {kept}, dropped {dropped}, errors {errors})")
    if sum(reasons.values()) != dropped + errors:
        problems.append(f"dropped by reason add up to {sum(reasons.values())}, not {dropped + errors}")
    if written_kept != kept:
        problems.append(f"{written_kept} records in the shards, {kept} counted kept")
    if written_rejects != dropped + errors:
        problems.append(f"{written_rejects} reject records, {dropped + errors} counted dropped or failed")
    if problems:
        raise AccountingError(f"run {run_id}: accounting mismatch: " + "; ".join(problems))
    return {"documents": total, "kept": kept, "dropped": dropped, "errors": errors,
            "records_written": {"kept": written_kept, "rejects": written_rejects},
            "check": f"{total} = {kept} kept + {dropped} dropped + {errors} errors"}


def _same_document_reseen(stats: StepStats, drop: Drop) -> None:
    """A reprocessed input's document matched its own earlier record in a global step's index:
    not a duplicate, it replaces that record (which the manifest's `supersedes` retires)."""
    stats.dropped[drop.reason] -= 1
    stats.kept += 1
    stats.counters["same_document_reseen"] += 1
    return None


def _global_items(work_dir: Path, n_tasks: int, position: int, drops: dict,
                  stats: StepStats) -> Iterator[tuple[DocRef, object]]:
    """(DocRef, key) of every candidate still kept, in input order, streamed from the work files."""
    for index in range(n_tasks):
        with open(task_paths(work_dir, index)["keys"], "rb") as fh:
            refs, keys = pickle.load(fh)
        for ref, key in zip(refs, keys):
            if ref.order not in drops:
                stats.docs_in += 1
                yield ref, key[position]


def _follow_dup_chains(work_dir: Path, n_tasks: int, drops: dict[int, tuple[str, Drop]]) -> None:
    """Point `dup_of` at a document the corpus keeps: exact_dedup may name X as the original of a
    copy, and near_dedup then drop X as a near-copy of Y; the copy's `dup_of` becomes Y."""
    dropped_id: dict[int, str] = {}
    for index in range(n_tasks):  # ids of the dropped documents (memory: one entry per drop)
        with open(task_paths(work_dir, index)["keys"], "rb") as fh:
            refs, _keys = pickle.load(fh)
        dropped_id.update((ref.order, ref.id) for ref in refs if ref.order in drops)
    original_of = {dropped_id[order]: drop.dup_of for order, (_stage, drop) in drops.items()
                   if drop.dup_of is not None and order in dropped_id}
    for order, (stage, drop) in drops.items():
        target, hops = drop.dup_of, 0
        while target in original_of and hops < 100:  # ids are unique, but never loop on bad input
            target, hops = original_of[target], hops + 1
        if hops:
            detail = f"{drop.detail} ({drop.dup_of} was dropped as a copy of {target})"
            drops[order] = (stage, dataclasses.replace(drop, dup_of=target, detail=detail))


def _dedup_reject(record: dict, stage: str, drop: Drop) -> dict:
    meta = record.get("metadata", {})
    out = {"id": record["id"], "reason": drop.reason, "stage": stage, "detail": drop.detail, "error": False}
    if drop.dup_of is not None:
        out["dup_of"] = drop.dup_of
    out["source"] = record.get("source")
    out["metadata"] = {k: meta.get(k) for k in ("input_path", "title", "author", "section", "url", "removed",
                                                 "content_hash", "n_chars_raw") if meta.get(k) is not None}
    out["text"] = record.get("text", "")
    return out

