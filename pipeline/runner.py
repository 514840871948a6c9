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
   are superseded (the manifest's `supersedes`, see `pipeline/corpus.py`): they
   are retired, i.e. ignored by the dedup steps from now on, so that their new
   versions are deduplicated like new documents;
   then each global step checks that its index describes the corpus (the corpus
   digest of `pipeline/s6_dedup/corpus_state.py`) and is rebuilt from the corpus
   when it does not (missing, stale, corrupt), all before the map phase;
3. map, reduce, filter into the run directory; global steps read the state but
   do not change it; the accounting check;
4. each global step stages what it adds to the state in `<run>/delta/<step>/`
   (the run's kept documents only), beside `<run>/delta/corpus.json` (the ids
   retired and the corpus digest after the run);
5. the manifest, written atomically: the commit point;
6. apply: each global step's `commit(state_dir, delta_dir)` (idempotent: retired
   ids out, the run's kept documents in, the new digest, in one transaction), then
   the store records the run's inputs and marks the run applied, in one
   transaction. A kill before 5 loses the run (it is redone); a kill after 5 is
   completed by step 1 of the next run, so nothing is processed twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import os
import shutil
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline import __version__, ids, plan_count, sharded_run, workfile
from pipeline.config import Config
from pipeline.corpus import MANIFEST, finished_runs, run_dirs
from pipeline.engine import make_engine
from pipeline.engine.local import default_workers
from pipeline.faults import checkpoint
from pipeline.fs import StorageError, check_remote_inputs, is_url, local_path, remote_url, stage_inputs
from pipeline.ids import IdCheck
from pipeline.log import log
from pipeline.plan import ORDER_BITS, InputFile, list_inputs
from pipeline.registry import STEPS, step_class
from pipeline.s6_dedup import exact_sharded
from pipeline.s6_dedup.corpus_state import Digest, expected_digest, id_hash, retired_records, write_change
from pipeline.s6_dedup.near import SCRATCH
from pipeline.s7_write import safe_json
from pipeline.s7_write.atomic import write_atomic
from pipeline.s7_write.jsonl import ShardWriter
from pipeline.state import LOCK_FILE, STORE_FILE, InputStore, RunLock, StateError, input_key
from pipeline.step import DocRef, Drop, StepStats
from pipeline.summary import plural
from pipeline.tasks import Pipeline, candidates_with_drops, init_worker, run_map_task_in_worker, task_paths

MANIFEST_VERSION = 1
REMOTE_INPUTS = "remote-inputs"  # OUTPUT/state/remote-inputs/<scheme>/<bucket>/<key>: inputs read from URLs
ELAPSED_FILE = "elapsed"  # in a run's _work/: seconds spent by its attempts so far
COPIES_FILE = "copies.json"  # in <run>/delta/: (dup_of, input key) of the duplicates the run dropped


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
    rebuilt: list[str] = field(default_factory=list)  # state indexes rebuilt from the corpus, and why

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
    steps = build_steps(config)
    for step in steps:
        if sharded_run.handles(step):
            step.mode = dedup  # which cross-run index it checks and rebuilds
    return Pipeline(steps, added, collection, dict(config.read), dedup, config.run["doc_timeout"])


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
            self.bar = tqdm(
                unit="doc",
                desc="newsclean",
                file=sys.stderr,
                dynamic_ncols=sized,
                **({} if sized else {"ncols": columns or 80, "nrows": 24}),
            )

    # `is not None`: a tqdm bar without a total raises TypeError on bool()
    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_pipeline(
    config: Config,
    inputs: list[str | Path],
    output: str | Path,
    workers: int | None = None,
    reprocess: bool = False,
) -> RunResult:
    """Process the inputs not yet in the corpus at `output` (all of them with `reprocess`).

    Raises LockHeld when another run holds the corpus, AccountingError when the
    documents do not add up (nothing is committed then), StateError when the state
    cannot be made to describe the corpus (nothing is run then).
    """
    if is_url(output):
        raise StorageError(
            f"{output}: a run writes its corpus (shards, state, lock) to a local folder; "
            "run into one, then `newsclean export` it to the URL"
        )
    output = local_path(output)
    check_inputs_exist(inputs)
    build_steps(config)  # rule files and regexes are checked before anything is touched
    state_dir = output / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(state_dir / LOCK_FILE) as lock:
        recovery = Recovery(stale_lock=lock.stale)
        with open_store(output, recovery) as store:
            check_applied_runs(output, store)
            recovery.rolled_forward = roll_forward(output, store)
            inputs = stage_inputs(
                inputs, state_dir / REMOTE_INPUTS
            )  # URLs: local copies, kept for the next run
            return _run_locked(config, inputs, output, store, workers, reprocess, recovery)


def open_store(output: Path, recovery: Recovery) -> InputStore:
    """The processed-inputs store; a corrupt one is set aside (`inputs.sqlite.corrupt-<time>`) and
    rebuilt from the manifests of the finished runs, which list the inputs each one processed."""
    state_dir = output / "state"
    path = state_dir / STORE_FILE
    try:
        store = InputStore(state_dir)
        if store.check() == "ok":
            return store
        problem = f"{path} fails its integrity check"
        store.close()
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):  # in use, not damaged
            raise
        problem = f"{path} is unreadable ({exc})"
    aside = path.with_name(f"{STORE_FILE}.corrupt-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}")
    os.replace(path, aside)
    for suffix in ("-journal", "-wal", "-shm"):
        path.with_name(STORE_FILE + suffix).unlink(missing_ok=True)
    store = InputStore(state_dir)
    for run in finished_runs(output):  # in run order, as the runs' commits applied them
        apply_run_to_store(run.dir, run.manifest, store)
    recovery.rebuilt.append(f"inputs: {problem}; set aside as {aside.name}")
    return store


def check_inputs_exist(inputs: list[str | Path]) -> None:
    """Raise InputNotFound before anything is written when an input path does not exist."""
    missing = [str(p) for p in inputs if not is_url(p) and not os.path.lexists(p)]
    if not inputs:
        raise InputNotFound("no input given")
    if missing:
        raise InputNotFound(f"input not found: {', '.join(missing)}")
    check_remote_inputs(inputs)  # URLs: RemoteInputNotFound when nothing is there


def _run_locked(
    config: Config,
    inputs: list[str | Path],
    output: Path,
    store: InputStore,
    workers: int | None,
    reprocess: bool,
    recovery: Recovery,
) -> RunResult:
    started = run_started()
    t0 = time.perf_counter()
    state_dir = output / "state"
    collection = config.run["collection"]  # "" = per document (pipeline/s7_write/records.py: source_of)
    workers = workers or config.run["workers"] or default_workers()

    files = list_inputs(inputs, config.read["follow_symlinks"])
    todo, supersedes, retired, vanished, reconsidered = _selection(
        config, inputs, output, files, store, reprocess
    )
    # scale: the records of many files are counted by the workers (and the engine made for it)
    task_size, tasks, engine = plan_count.plan(todo, config, workers)
    dedup = sharded_run.dedup_mode(config.run["dedup"], config.run["engine"], build_steps(config), state_dir)
    before = ensure_state(output, build_pipeline(config, "", collection, dedup).global_steps, recovery)
    ensure_id_registry(output, recovery)
    if not todo and not supersedes:  # nothing new, nothing to retire: no run (an empty one only clutters)
        recovery.discarded += discard_unfinished(output)
        if engine is not None:
            engine.close()
        return RunResult(None, {"skipped_inputs": len(files), "recovery": recovery.as_dict()})
    plan = {
        "config_hash": config.hash,
        "collection": collection,
        "version": __version__,
        "inputs": [[safe_json.safe_str(f.path), f.size, f.xxh3_128, f.error] for f in todo],
        "task_size": task_size,
        "dedup": dedup,
    }
    run_dir, added = prepare_run_dir(output, started, plan, recovery)
    if recovery.resumed:
        recovery.earlier_attempts_seconds = _elapsed_before(run_dir)
        t0 -= recovery.earlier_attempts_seconds  # the run's time counts its killed attempts too
    run_id = run_dir.name
    work_dir = run_dir / "_work"
    log.info(
        f"run {run_id}: {len(todo):,} of {plural(len(files), 'input')} to process, "
        f"{plural(len(tasks), 'task')}",
        extra={
            "fields": {
                "event": "run_started",
                "run_id": run_id,
                "inputs": len(todo),
                "skipped_inputs": len(files) - len(todo),
                "tasks": len(tasks),
            }
        },
    )

    pipeline = build_pipeline(config, added, collection, dedup)  # the main process's copy: stats and reduce
    for step in pipeline.global_steps:  # the records this run replaces are no match for their new versions
        step.retired, step.retired_runs = frozenset(retired), frozenset(e["run_id"] for e in supersedes)
    sharded = dedup == "sharded"
    engine = engine or make_engine(config.run["engine"], workers, config.run["address"])
    workers = engine.workers
    totals = {name: StepStats(name) for name in ["read"] + [step.name for step in pipeline.steps]}
    kept_n, kept_sum = 0, 0  # the kept documents' Digest, summed as they are written
    rejects = ShardWriter(
        run_dir, "rejects", config.run["shard_size"], config.run["compression"], config.run["compresslevel"]
    )
    kept = ShardWriter(
        run_dir, "part", config.run["shard_size"], config.run["compression"], config.run["compresslevel"]
    )
    outcome, reasons = Counter(), Counter()
    gone_when_read: set[str] = set()  # files missing when a map task read them
    progress = _Progress(config.run["progress"])
    try:
        # 1. map
        jobs = ((task, str(work_dir)) for task in tasks)
        for summary in engine.map_ordered(
            run_map_task_in_worker, jobs, init_worker, (build_pipeline, config, added, collection, dedup)
        ):
            for stats in summary.stats:
                totals[stats.name].merge(stats)
            reasons.update(summary.outcome)
            outcome["documents"] += summary.n_docs
            outcome["errors"] += summary.errors
            outcome["dropped"] += sum(summary.outcome.values()) - summary.errors
            progress.update(summary.n_docs)
            gone_when_read.update(summary.vanished)
            _record_elapsed(work_dir, time.perf_counter() - t0)
            log.debug(
                f"task {summary.index} done: {summary.n_docs} documents",
                extra={"fields": {"event": "task_done", "task": summary.index, "documents": summary.n_docs}},
            )
            checkpoint("task")
        for task in [] if sharded else tasks:  # sharded: the filter tasks write them
            with open(task_paths(work_dir, task.index)["rejects"], "rb") as fh:
                for line in fh:
                    rejects.write_line(line)

        # 2. reduce; first the ids: a document whose id another input has is not a candidate any more
        drops: dict[int, tuple[str, Drop]] = {}
        owned = [input_key(f.path) for f in todo] + [e["key"] for e in vanished]
        xs = None  # scale: with dedup sharded, the id check and exact dedup run as tasks (exact_sharded.py)
        if sharded:
            xs = exact_sharded.ShardedExact(
                engine, work_dir, state_dir, todo, owned, config.run["dedup_ranges"]
            )
            xs.check_ids()
        else:
            id_check = IdCheck(state_dir, owned)
            for drop in id_check.check(_candidate_refs(work_dir, len(tasks), todo)):
                drops[drop.order] = ("read", drop)
            id_check.close()
        for position, step in enumerate(pipeline.global_steps):
            start = time.perf_counter()
            stats = totals[step.name]
            if xs is not None and exact_sharded.handles(step):
                reduced = xs.reduce_iter(step, stats)
            elif sharded and sharded_run.handles(step):
                held = len(drops) + (xs.n_dropped if xs is not None else 0)
                stats.docs_in += outcome["documents"] - outcome["dropped"] - outcome["errors"] - held
                reduced = sharded_run.reduce_sharded(
                    step,
                    engine,
                    work_dir,
                    len(tasks),
                    drops if xs is None else xs.dropped_orders(drops),
                    state_dir,
                    config.run["dedup_ranges"],
                    stats,
                )
            else:  # (a custom global step after the sharded ones: a set of the orders dropped so far)
                excluded = drops if xs is None else set(xs.dropped_orders(drops).tolist())
                reduced = step.reduce(
                    _global_items(work_dir, len(tasks), position, excluded, stats), state_dir
                )
            for drop in _damage_checked(step, state_dir, reduced):
                drops[drop.order] = (step.name, drop)
                stats.dropped[drop.reason] += 1
            stats.kept = stats.docs_in - sum(n for r, n in stats.dropped.items() if r != "error")
            stats.seconds += time.perf_counter() - start
        if xs is not None:  # scale: chains through the sharded drop files too
            xs.follow_chains(drops)
        elif len({stage for stage, _drop in drops.values()}) > 1:  # a chain needs drops of two steps
            _follow_dup_chains(work_dir, len(tasks), drops)
        copies = _copies(drops, files)
        checkpoint("reduced")

        # 3. filter
        if sharded:
            filtered = sharded_run.filter_sharded(engine, tasks, work_dir, run_dir, drops, config.run, xs)
            added_digest = sharded_run.count_filtered(filtered, outcome, reasons)
        for task in [] if sharded else tasks:
            for line, hit, doc_id in candidates_with_drops(task_paths(work_dir, task.index), drops):
                if hit is None:
                    kept.write_line(line)
                    kept_n, kept_sum = kept_n + 1, kept_sum + id_hash(doc_id)
                    outcome["kept"] += 1
                    checkpoint("kept")
                else:
                    stage, drop = hit
                    rejects.write(_dedup_reject(orjson.loads(line), stage, drop))
                    outcome["errors" if ids.is_error(drop) else "dropped"] += 1
                    reasons[f"{stage}:{drop.reason}"] += 1
        shards, reject_shards = kept.close(), rejects.close()
        if sharded:
            shards, reject_shards = sharded_run.shard_lists(filtered)
        else:
            added_digest = Digest(kept_n, kept_sum % (1 << 128))
    except BaseException:
        kept.abort()
        rejects.abort()
        engine.close()
        raise
    finally:
        progress.close()
    total = outcome["documents"]
    accounting = check_accounting(run_id, outcome, reasons, shards, reject_shards)
    if xs is not None:
        xs.stage_ids(run_dir / "delta")
    else:
        id_check.stage(run_dir / "delta")
    retired_digest = Digest.of(retired)
    corpus_change = {
        "added": added_digest.as_dict(),
        "retired": retired_digest.as_dict(),
        "after": (before + added_digest - retired_digest).as_dict(),
    }
    write_change(
        run_dir / "delta", retired, {e["run_id"] for e in supersedes}, before + added_digest - retired_digest
    )
    write_atomic(run_dir / "delta" / COPIES_FILE, safe_json.dumps(copies))
    for step in pipeline.global_steps:  # what this run adds to the shared state, inside the run dir
        delta_dir = run_dir / "delta" / step.name
        delta_dir.mkdir(parents=True, exist_ok=True)
        step.stage(delta_dir, frozenset(drops))
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
        "inputs": [_input_entry(f, gone_when_read, state_dir / REMOTE_INPUTS) for f in todo],
        "skipped_inputs": len(files) - len(todo),  # processed by earlier runs, unchanged
        "reprocess": reprocess,
        "supersedes": supersedes,
        "vanished_inputs": vanished,  # gone from the input folder, retired (run.vanished_inputs: retire)
        "reconsidered_inputs": reconsidered,  # unchanged, processed again: they held copies of retired records
        "corpus_change": corpus_change,  # kept documents added and superseded (s6_dedup/corpus_state.py)
        "recovery": recovery.as_dict(),
        "tasks": len(tasks),
        "counts": {
            "documents": total,
            "kept": outcome["kept"],
            "dropped": outcome["dropped"],
            "errors": outcome["errors"],
            "by_reason": dict(sorted(reasons.items())),
        },
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


def select_inputs(
    files: list[InputFile], store: InputStore, reprocess: bool
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


def _selection(
    config: Config, inputs: list, output: Path, files: list[InputFile], store: InputStore, reprocess: bool
):
    """(inputs to process, earlier records they supersede, ids of the kept records that leaves out,
    vanished inputs retired, unchanged inputs processed again)."""
    todo, supersedes = select_inputs(files, store, reprocess)
    vanished = vanished_inputs(inputs, files, store) if config.run["vanished_inputs"] == "retire" else []
    supersedes += [{k: v for k, v in entry.items() if k != "key"} for entry in vanished]
    retired = _retired(output, supersedes)
    todo, supersedes, retired, reconsidered = with_copies_of_retired(
        output, files, todo, supersedes, retired, store
    )
    return todo, supersedes, retired, vanished, reconsidered


def vanished_inputs(inputs: list[str | Path], files: list[InputFile], store: InputStore) -> list[dict]:
    """Inputs earlier runs processed under this run's input folders that are gone from them now."""
    listed = {input_key(f.path) for f in files}
    roots = [input_key(p).rstrip("/") + "/" for p in inputs if Path(p).is_dir()]
    return [
        {"path": seen.key, "input_path": seen.input_path, "run_id": seen.run_id, "key": seen.key}
        for seen in store.keys()
        if seen.key not in listed and any(seen.key.startswith(r) for r in roots)
    ]


def with_copies_of_retired(
    output: Path,
    files: list[InputFile],
    todo: list[InputFile],
    supersedes: list[dict],
    retired: list[str],
    store: InputStore,
):
    """Inputs holding copies (dropped duplicates) of retired records are processed again too: with
    their original gone or changed, a copy may be the document the corpus keeps now, as in a fresh
    run. Their own kept records are retired in turn, so this repeats until nothing is added.
    Returns (todo, supersedes, retired, input_paths reconsidered)."""
    by_key = {input_key(f.path): f for f in files if not f.error}
    chosen = {input_key(f.path) for f in todo}
    todo, supersedes, retired, reconsidered = list(todo), list(supersedes), list(retired), []
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


def _copies(drops: dict, files: list[InputFile]) -> list[list[str]]:
    """(dup_of, input key) of every duplicate the run dropped: the inputs to process again if
    that original leaves the corpus (see with_copies_of_retired)."""
    key_of = {f.index: input_key(f.path) for f in files}
    pairs = {
        (drop.dup_of, key_of[order >> ORDER_BITS])
        for order, (_stage, drop) in drops.items()
        if drop.dup_of is not None and (order >> ORDER_BITS) in key_of
    }
    return [list(pair) for pair in sorted(pairs)]


def _input_entry(f: InputFile, gone_when_read: set[str], remote_cache: Path) -> dict:
    entry = {**f.manifest_entry(), "input_path": f.rel, "key": input_key(f.path)}
    url = None if f.reason else remote_url(f.path, remote_cache)  # (resolve() raises on a symlink loop)
    if url:  # read from object storage: `path` is the local copy
        entry["url"] = url
    # a file moved away or rewritten while the run read it: its records may not be those of the version
    # hashed, so it is not recorded as processed (apply_run), and the next run reads it again
    changed = "gone when read" if safe_json.safe_str(f.path) in gone_when_read else f.changed_since_listed()
    if changed:
        entry["changed_during_run"] = changed
    return {k: safe_json.safe_str(v) if isinstance(v, str) else v for k, v in entry.items()}


# --- run directories: resume or discard unfinished runs --------------------------------


def prepare_run_dir(output: Path, started: dt.datetime, plan: dict, recovery: Recovery) -> tuple[Path, str]:
    """(run directory, `added` time stamp) for this run. An unfinished run with the same plan
    is resumed (its finished map tasks are reused); other unfinished runs are deleted."""
    runs = output / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for trash in runs.glob(".trash-*"):  # deletions a kill interrupted
        shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(output / "state" / SCRATCH, ignore_errors=True)  # scratch files of a killed run
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

MANIFEST_COPIES = "manifests"  # OUTPUT/state/manifests/<run-id>.json: what an applied run committed


def apply_run(run_dir: Path, manifest: dict, state_dir: Path, store: InputStore, global_steps: list) -> None:
    """Apply a finished run to the state: global steps' deltas, then the processed inputs
    and the run's 'applied' mark in one transaction. Idempotent, so it can be redone."""
    sharded_run.commit(state_dir, run_dir / "delta")
    ids.commit(state_dir, run_dir / "delta")
    for step in global_steps:
        checkpoint("commit")
        step.commit(state_dir, run_dir / "delta" / step.name)
    checkpoint("committed")
    copies = state_dir / MANIFEST_COPIES
    copies.mkdir(exist_ok=True)
    write_atomic(copies / f"{manifest['run_id']}.json", (run_dir / MANIFEST).read_bytes())
    apply_run_to_store(run_dir, manifest, store)


def apply_run_to_store(run_dir: Path, manifest: dict, store: InputStore) -> None:
    """The processed-inputs part of a run's commit (also what rebuilds a lost store)."""
    entries = [
        {
            **entry,
            "key": entry.get("key") or input_key(entry["path"]),
            "input_path": entry.get("input_path") or Path(entry["path"]).name,
        }
        for entry in manifest.get("inputs", [])
    ]
    for entry in entries:  # recorded with an empty hash: the next run reads it again and supersedes this one
        if entry.get("changed_during_run") and entry.get("xxh3_128") is not None:
            entry["xxh3_128"] = ""
    copies_file = run_dir / "delta" / COPIES_FILE
    copies = [tuple(pair) for pair in orjson.loads(copies_file.read_bytes())] if copies_file.exists() else []
    parts = exact_sharded.iter_copies(run_dir / "delta")  # scale: the sharded exact dedup's copies
    store.apply_run(
        manifest["run_id"],
        entries,
        itertools.chain(copies, parts),
        [e["key"] for e in manifest.get("vanished_inputs", [])],
    )


def check_applied_runs(output: Path, store: InputStore) -> None:
    """Refuse to run over a corpus that lost an applied run: its inputs are recorded as processed
    and the dedup indexes hold its documents, so a run directory without its manifest must not be
    deleted as "unfinished", and a deleted one must not go unnoticed (its documents would be lost)."""
    for run_id in store.applied_runs():
        run_dir = output / "runs" / run_id
        copy = output / "state" / MANIFEST_COPIES / f"{run_id}.json"
        restore = f"; a copy is in {copy}" if copy.is_file() else ""
        if not run_dir.is_dir():
            raise StateError(
                f"applied run {run_id} is missing: {run_dir} is gone (restore it from a backup, "
                "or start a new corpus)"
            )
        if not (run_dir / MANIFEST).is_file():
            raise StateError(
                f"applied run {run_id} lost its manifest: {run_dir / MANIFEST} is missing "
                f"(restore it{restore}; `newsclean verify` then checks the run)"
            )


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
        staged = name if name in STEPS else step_class(name).name  # a custom step (import path) stages
        if (run_dir / "delta" / staged).is_dir():  # under its own `name`
            steps.append(step_class(name)({k: v for k, v in item.items() if k != "step"}, context))
    return steps


# --- the state describes the corpus ------------------------------------------------------


def _retired(output: Path, supersedes: list[dict]) -> list[str]:
    """Ids of the kept records this run supersedes: they leave the corpus and the indexes."""
    return [record["id"] for record in retired_records(output, supersedes)] if supersedes else []


def ensure_state(output: Path, global_steps: list, recovery: Recovery) -> Digest:
    """Before the map phase: every global step's index must describe the corpus (its digest, from
    the manifests); one that does not (missing, stale, corrupt) is rebuilt from the corpus, or
    the run is refused (StateError). Returns the corpus digest."""
    state_dir = output / "state"
    expected = expected_digest(output)
    for step in global_steps:
        problem = step.state_problem(state_dir, expected)
        if problem is None:
            continue
        try:
            step.rebuild(state_dir, output)
        except Exception as exc:  # e.g. unreadable shards: refuse rather than run on a wrong index
            raise StateError(
                f"{step.name}: {problem}; rebuilding it from the corpus failed: {type(exc).__name__}: {exc}"
            ) from None
        still = step.state_problem(state_dir, expected)
        if still is not None:
            raise StateError(
                f"{step.name}: {problem}; rebuilt from the corpus, it still does not match "
                f"({still}); run `newsclean verify {output}`"
            )
        recovery.rebuilt.append(f"{step.name}: {problem}")
    return expected


def ensure_id_registry(output: Path, recovery: Recovery) -> None:
    """Before the map phase: the id registry (pipeline/ids.py) missing or damaged while the corpus
    has runs is rebuilt from the corpus, so that collisions with earlier runs are still found."""
    state_dir = output / "state"
    problem = ids.registry_problem(state_dir, any((d / MANIFEST).is_file() for d in run_dirs(output)))
    if problem is None:
        return
    try:
        ids.rebuild(output, state_dir)
    except Exception as exc:  # e.g. an unreadable shard: refuse rather than miss collisions
        raise StateError(
            f"ids: {problem}; rebuilding it from the corpus failed: {type(exc).__name__}: {exc}"
        ) from None
    recovery.rebuilt.append(f"ids: {problem}")


def _damage_checked(step, state_dir: Path, drops: Iterator[Drop]) -> Iterator[Drop]:
    """The step's drops; a damaged index found while reading it (too large for the start-up
    check) is set aside, and the run stops with a StateError: the next run rebuilds it."""
    try:
        yield from drops
    except sqlite3.DatabaseError as exc:
        path = step.state_file(state_dir)
        if path is None or not Path(path).exists():
            raise
        aside = Path(path).with_name(
            f"{Path(path).name}.corrupt-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}"
        )
        os.replace(path, aside)
        raise StateError(
            f"{step.name}: {path} is damaged ({exc}); set aside as {aside.name}, the next run "
            "rebuilds it from the corpus"
        ) from None


# --- accounting --------------------------------------------------------------------------


def check_accounting(
    run_id: str, outcome: Counter, reasons: Counter, shards: list[dict], reject_shards: list[dict]
) -> dict:
    """Documents read = kept + dropped + errors, by the counters and by the records written;
    raise AccountingError (the run is not committed) when they do not add up."""
    total, kept, dropped, errors = (
        outcome["documents"],
        outcome["kept"],
        outcome["dropped"],
        outcome["errors"],
    )
    written_kept = sum(s["records"] for s in shards)
    written_rejects = sum(s["records"] for s in reject_shards)
    problems = []
    if kept + dropped + errors != total:
        problems.append(
            f"{total} documents read but {kept + dropped + errors} accounted for "
            f"(kept {kept}, dropped {dropped}, errors {errors})"
        )
    if sum(reasons.values()) != dropped + errors:
        problems.append(f"dropped by reason add up to {sum(reasons.values())}, not {dropped + errors}")
    if written_kept != kept:
        problems.append(f"{written_kept} records in the shards, {kept} counted kept")
    if written_rejects != dropped + errors:
        problems.append(f"{written_rejects} reject records, {dropped + errors} counted dropped or failed")
    if problems:
        raise AccountingError(f"run {run_id}: accounting mismatch: " + "; ".join(problems))
    return {
        "documents": total,
        "kept": kept,
        "dropped": dropped,
        "errors": errors,
        "records_written": {"kept": written_kept, "rejects": written_rejects},
        "check": f"{total} = {kept} kept + {dropped} dropped + {errors} errors",
    }


def _global_items(
    work_dir: Path, n_tasks: int, position: int, drops: dict | set, stats: StepStats
) -> Iterator[tuple[DocRef, object]]:
    """(DocRef, key) of every candidate still kept, in input order, streamed from the work files."""
    for index in range(n_tasks):
        refs, keys = workfile.load(task_paths(work_dir, index)["keys"])
        for ref, key in zip(refs, keys):
            if ref.order not in drops:
                stats.docs_in += 1
                yield ref, key[position]


def _candidate_refs(work_dir: Path, n_tasks: int, todo: list[InputFile]) -> Iterator[tuple[DocRef, str, int]]:
    """(DocRef, input key, text hash) of every candidate the map tasks wrote, in input order."""
    key_of = {f.index: input_key(f.path) for f in todo}
    for index in range(n_tasks):
        paths = task_paths(work_dir, index)
        if paths["refs"].exists():
            refs, text_hashes = workfile.load(paths["refs"])
        else:  # a map task resumed from a version without refs files: ids alone
            refs = workfile.load(paths["keys"])[0]
            text_hashes = [None] * len(refs)
        for ref, text in zip(refs, text_hashes):
            yield ref, key_of[ref.order >> ORDER_BITS], text


def _follow_dup_chains(work_dir: Path, n_tasks: int, drops: dict[int, tuple[str, Drop]]) -> None:
    """Point `dup_of` at a document the corpus keeps: exact_dedup may name X as the original of a
    copy, and near_dedup then drop X as a near-copy of Y; the copy's `dup_of` becomes Y."""
    dropped_id: dict[int, str] = {}
    for index in range(n_tasks):  # ids of the dropped documents (memory: one entry per drop)
        refs, _keys = workfile.load(task_paths(work_dir, index)["keys"])
        dropped_id.update((ref.order, ref.id) for ref in refs if ref.order in drops)
    original_of = {
        dropped_id[order]: drop.dup_of
        for order, (_stage, drop) in drops.items()
        if drop.dup_of is not None and order in dropped_id
    }
    for order, (stage, drop) in drops.items():
        target, hops = drop.dup_of, 0
        while target in original_of and hops < 100:  # ids are unique, but never loop on bad input
            target, hops = original_of[target], hops + 1
        if hops:
            detail = f"{drop.detail} ({drop.dup_of} was dropped as a copy of {target})"
            drops[order] = (stage, dataclasses.replace(drop, dup_of=target, detail=detail))


def _dedup_reject(record: dict, stage: str, drop: Drop) -> dict:
    meta = record.get("metadata", {})
    out = {
        "id": record["id"],
        "reason": drop.reason,
        "stage": stage,
        "detail": drop.detail,
        "error": ids.is_error(drop),
    }
    if drop.dup_of is not None:
        out["dup_of"] = drop.dup_of
    out["source"] = record.get("source")
    out["metadata"] = {
        k: meta.get(k)
        for k in ("input_path", "title", "author", "section", "url", "removed", "content_hash", "n_chars_raw")
        if meta.get(k) is not None
    }
    out["text"] = record.get("text", "")
    return out
