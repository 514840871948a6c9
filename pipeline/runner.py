"""The run path, kept apart from the stages: plan -> map -> reduce -> filter -> stage ->
manifest -> commit, one function each (`_run_locked` calls them in order), the same for
the local and Ray engines and for both dedup modes (`run.dedup: sharded` hands the
near-dup reduce, the filter and the staging to tasks: `pipeline/sharded_run.py`).

A run has three data phases, so that deduplication sees the whole input while memory
stays bounded and the output does not depend on the number of workers:

1. map: the input is cut into tasks (`pipeline/plan.py`), independently of the
   number of workers; each task reads its slice, takes it through the
   per-document steps and writes candidate records, rejects and the small dedup
   keys to the run's work directory (`pipeline/tasks.py`), inline or on a
   process pool.
2. reduce: each global step (dedup) reads the keys in input order and names the
   documents to drop.
3. filter: candidate records are copied to the final shards, minus those dropped;
   rejects of all phases go to the rejects shards (`tasks.filter_candidates`, in the
   driver or in one filter task per map task).

Every document read is kept, dropped or an error; the loop checks this and fails
loudly otherwise. The manifest is written last: a run directory without
`manifest.json` is not part of the corpus.

Runs are incremental and safe to kill. OUTPUT/runs/<run-id>/ holds each run,
OUTPUT/state/ what runs share: the processed-inputs store (`pipeline/state.py`),
global steps' indexes, and `run.lock` (one writer at a time). The commit protocol
(its state side is `pipeline/commit.py`, the selection `pipeline/selection.py`):

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
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline import __version__, forked, gcpause, plan_count, report, sharded_run
from pipeline.commit import (
    COPIES_FILE,
    Recovery,
    apply_run,
    check_applied_runs,
    damage_checked,
    ensure_id_registry,
    ensure_state,
    open_store,
    roll_forward,
)
from pipeline.config import Config
from pipeline.corpus import MANIFEST, run_dirs
from pipeline.early_reduce import EarlyReduce, feeds
from pipeline.engine import Engine, make_engine
from pipeline.engine.local import default_workers, forks_workers
from pipeline.faults import checkpoint
from pipeline.fs import StorageError, check_remote_inputs, is_url, local_path, remote_url, stage_inputs
from pipeline.ids import IdCheck
from pipeline.keysfile import read_keys, read_refs, read_refs_and_text_hashes
from pipeline.log import log
from pipeline.plan import ORDER_BITS, InputFile, cut_digest, list_inputs
from pipeline.preload import Preload
from pipeline.registry import step_class
from pipeline.s6_dedup import exact_sharded
from pipeline.s6_dedup.corpus_state import Digest, write_change
from pipeline.s6_dedup.near import SCRATCH
from pipeline.s6_dedup.sharded import ShardedReduce
from pipeline.s7_write import safe_json
from pipeline.s7_write.atomic import write_atomic
from pipeline.s7_write.jsonl import BackgroundShardWriter
from pipeline.s7_write.manifest import (
    AccountingError,
    Written,
    build_manifest,
    check_accounting,
    write_manifest,
)
from pipeline.selection import RunRequest, Selection, select
from pipeline.state import LOCK_FILE, InputStore, RunLock, StateError, input_key
from pipeline.step import DocRef, Drop, StepStats
from pipeline.summary import plural
from pipeline.tasks import (
    Filtered,
    Pipeline,
    copy_rejects,
    filter_candidates,
    init_worker,
    is_error_reason,
    run_map_task_in_worker,
    task_paths,
    use_pipeline,
)

__all__ = ["AccountingError", "StateError", "RunResult", "run_pipeline", "build_steps", "build_pipeline"]

REMOTE_INPUTS = "remote-inputs"  # OUTPUT/state/remote-inputs/<scheme>/<bucket>/<key>: inputs read from URLs
ELAPSED_FILE = "elapsed"  # in a run's _work/: seconds spent by its attempts so far


class InputNotFound(FileNotFoundError):
    """An input named on the command line does not exist (a typo must not be a silent empty run)."""


@dataclass
class RunResult:
    run_dir: Path | None  # None: nothing new to process, no run written
    manifest: dict  # the run's manifest; when nothing was new only `skipped_inputs` and `recovery`
    stats: list[StepStats] = field(default_factory=list)


@dataclass
class Run:
    """One run in progress: what it processes, with which steps, where it writes, what it counted."""

    request: RunRequest
    store: InputStore
    recovery: Recovery
    selection: Selection
    pipeline: Pipeline  # the run's steps, built once in this process
    tasks: list
    task_size: int
    before: Digest  # the corpus digest before the run
    run_dir: Path = Path()
    t0: float = 0.0  # perf_counter at the start (earlier killed attempts' time subtracted)
    made_engine: Engine | None = None  # made once the run directory is there (`engine`)
    sharded: sharded_run.ShardedPhases | None = None  # run.dedup: sharded
    written: Written = field(default_factory=Written)
    totals: dict[str, StepStats] = field(default_factory=dict)
    gone_when_read: set[str] = field(default_factory=set)  # files missing when a map task read them
    report_figures: report.PendingFigures | None = None  # the report's figures, being collected
    preload: Preload | None = None  # the steps' preload, begun during the plan (None: none in this process)
    early: EarlyReduce | None = None  # the reduce's reading, done as the map tasks end (a run with workers)

    @property
    def config(self) -> Config:
        return self.request.config

    @property
    def engine(self) -> Engine:
        assert self.made_engine is not None, "the engine is made before the map phase"
        return self.made_engine

    @property
    def state_dir(self) -> Path:
        return self.request.output / "state"

    @property
    def work_dir(self) -> Path:
        return self.run_dir / "_work"

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def writer_options(self) -> tuple:
        run = self.config.run
        return run["shard_size"], run["compression"], run["compresslevel"]


@dataclass
class Reduced:
    """What the reduce phase decided: the documents to drop, and what staging needs of it."""

    drops: dict[int, tuple[str, Drop]]  # order -> (stage, Drop)
    id_check: IdCheck | None  # None: sharded (`exact`)
    exact: exact_sharded.ShardedExact | None = None  # scale: run.dedup sharded: id check, exact dedup
    sharded: dict[str, ShardedReduce] = field(default_factory=dict)  # step name -> its sharded reduce


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
    context = {"config_dir": str(config.dir), "collection": config.run["collection"]}
    return [step_class(name)(options, context) for name, options in config.steps]


def build_pipeline(
    config: Config, added: str, collection: str, dedup: str = "driver", steps: list | None = None
) -> Pipeline:
    """The run's Pipeline; from `steps` when the process built them already (they are built once)."""
    steps = build_steps(config) if steps is None else steps
    for step in steps:
        if sharded_run.handles(step):
            step.mode = dedup  # which cross-run index it checks and rebuilds
    return Pipeline(steps, added, collection, dict(config.read), dedup, config.run["doc_timeout"])


def dedup_mode_of(config: Config, steps: list, state_dir: Path) -> str:
    return sharded_run.dedup_mode(config.run["dedup"], config.run["engine"], steps, state_dir)


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
            # a terminal that reports 0 columns or rows (a bare pty, `script` under cron) would get no bar
            columns, rows = _terminal_size()
            sized = columns > 0 and rows > 0
            from tqdm import tqdm  # here: a run without a bar (cron, a pipe) need not import it

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
    steps = build_steps(config)  # rule files and regexes are checked before anything is touched
    state_dir = output / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(state_dir / LOCK_FILE) as lock:
        recovery = Recovery(stale_lock=lock.stale)
        with open_store(output, recovery) as store:
            check_applied_runs(output, store)
            recovery.rolled_forward = roll_forward(output, store)
            # URLs: local copies, kept for the next run
            inputs = stage_inputs(inputs, state_dir / REMOTE_INPUTS)
            request = RunRequest(config, inputs, output, workers, reprocess)
            return _run_locked(request, steps, store, recovery)


def check_inputs_exist(inputs: Sequence[str | Path]) -> None:
    """Raise InputNotFound before anything is written when an input path does not exist."""
    missing = [str(p) for p in inputs if not is_url(p) and not os.path.lexists(p)]
    if not inputs:
        raise InputNotFound("no input given")
    if missing:
        raise InputNotFound(f"input not found: {', '.join(missing)}")
    check_remote_inputs(inputs)  # URLs: RemoteInputNotFound when nothing is there


# --- the run path: plan -> map -> reduce -> filter -> stage -> manifest -> commit ---------


def _run_locked(request: RunRequest, steps: list, store: InputStore, recovery: Recovery) -> RunResult:
    started, t0 = run_started(), time.perf_counter()
    run = plan_run(request, steps, store, recovery)
    if not run.selection.todo and not run.selection.supersedes:  # nothing new, nothing to retire:
        recovery.discarded += discard_unfinished(request.output)  # no run (an empty one only clutters)
        if run.made_engine is not None:  # made by the plan to count records
            run.made_engine.close()
        skipped = len(run.selection.files)
        return RunResult(None, {"skipped_inputs": skipped, "recovery": recovery.as_dict()})
    try:
        open_run_dir(run, started, t0)
        settings = request.config.run
        if run.made_engine is None:
            run.made_engine = make_engine(settings["engine"], _workers(request), settings["address"])
        manifest = _phases(run, started)
    finally:
        if run.preload is not None:  # its thread ended, also when the run fails before the map
            run.preload.close()
        if run.report_figures is not None:  # its child process reaped, whatever happened
            run.report_figures.close()
    checkpoint("manifest")
    apply_run(run.run_dir, manifest, run.state_dir, store, run.pipeline.global_steps)
    return RunResult(run.run_dir, manifest, run.written.stages)


def _phases(run: Run, started: dt.datetime) -> dict:
    """map -> reduce -> filter -> stage -> manifest (written); the manifest."""
    settings = run.config.run
    try:
        if run.pipeline.dedup == "sharded":
            run.sharded = sharded_run.ShardedPhases(
                run.engine, run.tasks, run.work_dir, run.state_dir, settings["dedup_ranges"]
            )
        map_phase(run)
        reduced = reduce_phase(run)
        accounting, corpus_change = filter_and_stage(run, reduced)
    finally:
        run.engine.close()
        if run.early is not None:
            run.early.close()
    checkpoint("staged")
    manifest = build_manifest(_about_run(run, started, corpus_change), run.written, accounting)
    write_manifest(run.run_dir, manifest, run.report_figures)
    return manifest


def filter_and_stage(run: Run, reduced: Reduced) -> tuple[dict, dict]:
    """The filter, and beside it (the workers are done: a core is idle) in forked children the
    stage, which needs the reduce's drops but not the filter's output, and the report's figures,
    from the lines the filter writes. In this process, one after the other, where the run cannot
    fork, and for sharded dedup (its filter and stage are tasks). (accounting, corpus change)."""
    staging = None
    if run.sharded is None:  # the driver's filter: the report reads its lines as they are written
        staging = forked.start("staging", stage_steps, run, reduced)  # first: no feed pipe to inherit
        run.report_figures = report.start_feed(run.run_dir, run.work_dir)
    try:
        kept = filter_phase(run, reduced.drops, reduced.exact)
        if run.report_figures is not None:
            run.report_figures.written(run.written.shards, run.written.rejects)
        else:  # the report reads the shards in a child while this process stages and builds the manifest
            run.report_figures = report.start_collect(run.run_dir, run.written.shards, run.written.rejects)
        accounting = check_accounting(run.run_id, run.written)
        if staging is None:
            stage_steps(run, reduced)
        else:
            staging.result()  # its error, raised here
            for step in run.pipeline.global_steps:
                step.staged_elsewhere()
    finally:
        if staging is not None:
            staging.close()
    return accounting, stage_change(run, kept)


def plan_run(request: RunRequest, steps: list, store: InputStore, recovery: Recovery) -> Run:
    """Select the inputs, cut them into tasks, make the state describe the corpus (before the map)."""
    config, output = request.config, request.output
    files = list_inputs(request.inputs, config.read["follow_symlinks"])
    selection = select(request, files, store)
    dedup = dedup_mode_of(config, steps, output / "state")
    # scale: the records of many files are counted by the workers (the engine made for it, if so);
    # the last tasks in pieces where the output does not depend on the cut (sharded: shards per task)
    split_tail = dedup == "driver"
    workers = _workers(request)
    # the steps' models and kernels begin to load while the plan counts the records (pipeline/preload.py)
    preload = Preload(steps, workers) if _preloads_here(config, workers) else None
    progress = preload.counted if preload is not None else None
    try:
        task_size, tasks, engine = plan_count.plan(selection.todo, config, workers, split_tail, progress)
        # "" = per document (pipeline/s7_write/records.py: source_of); `added` is set with the run dir
        pipeline = build_pipeline(config, "", config.run["collection"], dedup, steps)
        before = ensure_state(output, pipeline.global_steps, recovery)
        ensure_id_registry(output, recovery)
    except BaseException:
        if preload is not None:  # no run: its thread ended before the error goes up
            preload.close()
        raise
    run = Run(request, store, recovery, selection, pipeline, tasks, task_size, before, made_engine=engine)
    run.preload = preload
    return run


def _workers(request: RunRequest) -> int:
    return request.workers or request.config.run["workers"] or default_workers()


def _preloads_here(config: Config, workers: int) -> bool:
    """Whether the run preloads its steps in this process: with the local engine, whose workers are
    forked from it (they share its pages) or which runs the tasks itself (one worker)."""
    return config.run["engine"] == "local" and (workers == 1 or forks_workers())


def open_run_dir(run: Run, started: dt.datetime, t0: float) -> None:
    """The run's directory (a new one, or the unfinished one with the same plan, resumed)."""
    config, todo = run.config, run.selection.todo
    plan = {
        "config_hash": config.hash,
        "collection": run.pipeline.collection,
        "version": __version__,
        "inputs": [[safe_json.safe_str(f.path), f.size, f.xxh3_128, f.error] for f in todo],
        "task_size": run.task_size,
        "tasks": len(run.tasks),
        "cut": cut_digest(run.tasks),  # the tail in pieces (plan.py): a run cut otherwise is not resumed
        "dedup": run.pipeline.dedup,
    }
    run.run_dir, run.pipeline.added = prepare_run_dir(run.request.output, started, plan, run.recovery)
    run.t0 = t0
    if run.recovery.resumed:
        run.recovery.earlier_attempts_seconds = _elapsed_before(run.run_dir)
        run.t0 -= run.recovery.earlier_attempts_seconds  # the run's time counts its killed attempts too
    # the records this run replaces are no match for their new versions
    for step in run.pipeline.global_steps:
        step.retired = frozenset(run.selection.retired)
        step.retired_runs = frozenset(e["run_id"] for e in run.selection.supersedes)
    run.totals = {name: StepStats(name) for name in ["read"] + [step.name for step in run.pipeline.steps]}
    files = run.selection.files
    log.info(
        f"run {run.run_id}: {len(todo):,} of {plural(len(files), 'input')} to process, "
        f"{plural(len(run.tasks), 'task')}",
        extra={
            "fields": {
                "event": "run_started",
                "run_id": run.run_id,
                "inputs": len(todo),
                "skipped_inputs": len(files) - len(todo),
                "tasks": len(run.tasks),
            }
        },
    )


def map_phase(run: Run) -> None:
    """Every map task, on the engine: candidates, rejects and dedup keys to the work directory."""
    config, pipeline = run.config, run.pipeline
    jobs = ((task, str(run.work_dir)) for task in run.tasks)
    # where the steps are built already (this process, or one forked from it) they are reused
    run_key = f"{run.request.output}:{run.run_id}:{id(pipeline)}"
    use_pipeline(pipeline, run_key)
    factory = (build_pipeline, config, pipeline.added, pipeline.collection, pipeline.dedup)
    progress = _Progress(config.run["progress"])
    _preload_shared(run)
    if run.sharded is None and run.engine.workers > 1:  # the driver waits for the workers: it reads the keys
        run.early = EarlyReduce(run.work_dir, run.state_dir, pipeline.global_steps)
    try:
        for summary in run.engine.map_ordered(run_map_task_in_worker, jobs, init_worker, (run_key, *factory)):
            _count_map_task(run, summary)
            if run.early is not None:
                run.early.add_task(summary.index, summary.n_docs)
            progress.update(summary.n_docs)
            _record_elapsed(run.work_dir, time.perf_counter() - run.t0)
            log.debug(
                f"task {summary.index} done: {summary.n_docs} documents",
                extra={"fields": {"event": "task_done", "task": summary.index, "documents": summary.n_docs}},
            )
            checkpoint("task")
    finally:
        progress.close()
        use_pipeline(None, None)
        for step in pipeline.steps:
            step.unload()  # the reduce and what follows need no model: its memory back for them


def _preload_shared(run: Run) -> None:
    """The steps' models and compiled kernels loaded here, before the workers fork, so that they
    share one copy (the language model and numba took ~290 MB in each worker otherwise). With one
    worker (the tasks run in this process) too: a run known to be large then uses the compiled
    kernels from its first document instead of its 2,000th (the same output either way). Begun
    during the plan (pipeline/preload.py); here it is waited for, and completed for the whole count."""
    if run.preload is not None:
        run.preload.finish()


def _count_map_task(run: Run, summary) -> None:
    outcome = run.written.outcome
    for stats in summary.stats:
        run.totals[stats.name].merge(stats)
    run.written.reasons.update(summary.outcome)
    outcome["documents"] += summary.n_docs
    outcome["errors"] += summary.errors
    outcome["dropped"] += sum(summary.outcome.values()) - summary.errors
    run.gone_when_read.update(summary.vanished)


def reduce_phase(run: Run) -> Reduced:
    """The documents to drop: id collisions first (a document whose id another input has is not a
    candidate any more), then each global step in order, over the candidates still kept."""
    selection = run.selection
    input_keys = [input_key(f.path) for f in selection.todo] + [e["key"] for e in selection.vanished]
    if run.sharded is not None:  # scale: the id check and exact dedup as tasks (exact_sharded.py)
        exact = exact_sharded.ShardedExact(
            run.engine,
            run.work_dir,
            run.state_dir,
            selection.todo,
            input_keys,
            run.config.run["dedup_ranges"],
        )
        reduced = Reduced({}, None, exact)
        exact.check_ids()
    else:
        id_check = IdCheck(run.state_dir, input_keys)
        reduced = Reduced({}, id_check)
        # its table of ids: new acyclic tuples, one per candidate; an automatic collection would only
        # walk the heap, which in a run with workers holds the keys read during the map (early_reduce)
        with gcpause.paused():
            found = id_check.check(_candidate_refs(run.work_dir, len(run.tasks), selection.todo))
        for drop in found:
            reduced.drops[drop.order] = ("read", drop)
        id_check.close()
    for position, step in enumerate(run.pipeline.global_steps):
        _reduce_step(run, step, position, reduced)
        if hasattr(step, "write_edits"):  # template_lines: the lines the filter phase removes
            step.write_edits(run.work_dir)
    if reduced.exact is not None:  # scale: chains through the sharded drop files too
        reduced.exact.follow_chains(reduced.drops)
    elif len({stage for stage, _drop in reduced.drops.values()}) > 1:  # a chain needs drops of two steps
        _follow_dup_chains(run.work_dir, len(run.tasks), reduced.drops, run.early)
    if run.early is not None:  # the held keys and refs are not needed any more
        run.early.close()
    checkpoint("reduced")
    return reduced


def _reduce_step(run: Run, step, position: int, reduced: Reduced) -> None:
    start = time.perf_counter()
    stats, drops, outcome = run.totals[step.name], reduced.drops, run.written.outcome
    step.stats = StepStats(step.name)  # the reduce's own counters (the map's are in `stats` already)
    exact = reduced.exact
    if exact is not None and exact_sharded.handles(step):  # scale: its drops stay in files
        step_drops = exact.reduce_iter(step, stats)
    elif run.sharded is not None and sharded_run.handles(step):
        held = len(drops) + (exact.n_dropped if exact is not None else 0)
        stats.docs_in += outcome["documents"] - outcome["dropped"] - outcome["errors"] - held
        dropped = drops if exact is None else exact.dropped_orders(drops)
        found = reduced.sharded[step.name] = run.sharded.reduce(step, dropped, stats)
        step_drops = iter(found.drops)
    elif run.early is not None and feeds(step):  # its keys fed as the map tasks ended
        run.early.begin()  # (a run without map tasks fed nothing)
        stats.docs_in += run.early.docs_in(drops)
        step_drops = step.reduce_fed(drops, run.state_dir)
    else:  # (after sharded exact dedup, a custom global step gets a set of the orders dropped so far)
        excluded = drops if exact is None else set(exact.dropped_orders(drops).tolist())
        items = _global_items(run.work_dir, len(run.tasks), position, excluded, stats, run.early)
        step_drops = step.reduce(items, run.state_dir)
    for drop in damage_checked(step, run.state_dir, step_drops):
        drops[drop.order] = (step.name, drop)
        stats.dropped[drop.reason] += 1
    stats.counters.update(step.stats.counters)  # e.g. near_dedup's candidate and verified pairs
    stats.kept = stats.docs_in - sum(n for r, n in stats.dropped.items() if r != "error")
    stats.seconds += time.perf_counter() - start


def filter_phase(run: Run, drops: dict, exact=None) -> Filtered:
    """The candidates minus the drops to the kept shards, the rejects of every phase to the
    rejects shards: in the driver, or one filter task per map task (sharded)."""
    if run.sharded is not None:
        kept, shards, rejects = run.sharded.filter(drops, run.run_dir, run.writer_options, exact)
    else:
        kept, shards, rejects = _filter_in_driver(run, drops)
    written = run.written
    written.outcome["kept"] += kept.kept
    for key, n in kept.dropped.items():
        written.count_drop(key, n, is_error_reason(key))
    written.shards, written.rejects = shards, rejects
    written.stages = list(run.totals.values())
    return kept


def _filter_in_driver(run: Run, drops: dict) -> tuple[Filtered, list[dict], list[dict]]:
    # the shards compressed in threads beside the filtering (about half of this phase's CPU); the
    # same threads copy the lines to the report's child, when there is one (report.start_feed). The
    # map's workers are done: the kept shards' blocks are compressed by as many threads
    feed = run.report_figures.feed if run.report_figures is not None else None
    threads = _workers(run.request)
    kept = BackgroundShardWriter(
        run.run_dir, "part", *run.writer_options, tee=feed and feed.kept, threads=threads
    )
    rejects = BackgroundShardWriter(run.run_dir, "rejects", *run.writer_options, tee=feed and feed.rejects)
    total = Filtered()
    try:
        for task in run.tasks:  # the map phase's rejects first, in input order
            copy_rejects(task_paths(run.work_dir, task.index), rejects)
        for task in run.tasks:
            total.add(filter_candidates(task_paths(run.work_dir, task.index), drops, kept, rejects))
        return total, kept.close(), rejects.close()
    except BaseException:
        kept.abort()
        rejects.abort()
        raise


def stage_steps(run: Run, reduced: Reduced) -> None:
    """What the run adds to the shared state, staged inside the run directory (step 4 of the
    commit protocol): from the reduce's drops, in a forked child while the filter runs
    (`filter_and_stage`); the corpus change, which needs the filter's kept ids, is `stage_change`."""
    delta = run.run_dir / "delta"
    delta.mkdir(parents=True, exist_ok=True)
    if reduced.exact is not None:  # scale: the registry rows are the id reduce tasks' parts
        reduced.exact.stage_ids(delta)
    elif reduced.id_check is not None:
        reduced.id_check.stage(delta)
    write_atomic(delta / COPIES_FILE, safe_json.dumps(_copies(reduced.drops, run.selection.files)))
    for step in run.pipeline.global_steps:
        delta_dir = delta / step.name
        delta_dir.mkdir(parents=True, exist_ok=True)
        step.stage(delta_dir, frozenset(reduced.drops))
        if run.sharded is not None and step.name in reduced.sharded:
            run.sharded.stage(step, reduced.sharded[step.name], delta_dir, run.run_id)


def stage_change(run: Run, kept: Filtered) -> dict:
    """The corpus digest after the run, staged beside the steps' deltas; the manifest's corpus change."""
    selection = run.selection
    retired = Digest.of(selection.retired)
    after = run.before + kept.kept_ids - retired
    write_change(run.run_dir / "delta", selection.retired, {e["run_id"] for e in selection.supersedes}, after)
    return {"added": kept.kept_ids.as_dict(), "retired": retired.as_dict(), "after": after.as_dict()}


def _about_run(run: Run, started: dt.datetime, corpus_change: dict) -> dict:
    """The run's part of its manifest (the figures come from `run.written`)."""
    config, selection, state_dir = run.config, run.selection, run.state_dir
    return {
        "run_id": run.run_id,
        "started": run.pipeline.added,
        "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - run.t0, 3),
        "workers": run.engine.workers,
        "engine": run.engine.name,
        "dedup": run.pipeline.dedup,
        "config_file": str(config.path),
        "config_hash": config.hash,
        "config": config.as_dict(),
        "inputs": [_input_entry(f, run.gone_when_read, state_dir / REMOTE_INPUTS) for f in selection.todo],
        "skipped_inputs": len(selection.files) - len(selection.todo),  # processed by earlier runs, unchanged
        "reprocess": run.request.reprocess,
        "supersedes": selection.supersedes,
        "vanished_inputs": selection.vanished,  # gone from the input folder, retired (run.vanished_inputs)
        "reconsidered_inputs": selection.reconsidered,  # processed again: they held copies of retired records
        "corpus_change": corpus_change,  # kept documents added and superseded (s6_dedup/corpus_state.py)
        "recovery": run.recovery.as_dict(),
        "tasks": len(run.tasks),
    }


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


# --- the reduce phase's inputs ------------------------------------------------------------


def _global_items(
    work_dir: Path,
    n_tasks: int,
    position: int,
    drops: dict | set,
    stats: StepStats,
    early: EarlyReduce | None = None,
) -> Iterator[tuple[DocRef, object]]:
    """(DocRef, key) of every candidate still kept, in input order, streamed from the work files
    (or, in a run with workers, the keys `early` holds since the map)."""
    for index in range(n_tasks):
        if early is not None:
            refs, keys = early.keys(index, position)
        else:
            refs, keys = read_keys(task_paths(work_dir, index), position)
        for ref, key in zip(refs, keys):
            if ref.order not in drops:
                stats.docs_in += 1
                yield ref, key


def _candidate_refs(work_dir: Path, n_tasks: int, todo: list[InputFile]) -> Iterator[tuple[DocRef, str, int]]:
    """(DocRef, input key, text hash) of every candidate the map tasks wrote, in input order."""
    key_of = {f.index: input_key(f.path) for f in todo}
    for index in range(n_tasks):
        refs, text_hashes = read_refs_and_text_hashes(task_paths(work_dir, index))
        for ref, text in zip(refs, text_hashes):
            yield ref, key_of[ref.order >> ORDER_BITS], text


def _follow_dup_chains(
    work_dir: Path, n_tasks: int, drops: dict[int, tuple[str, Drop]], early: EarlyReduce | None = None
) -> None:
    """Point `dup_of` at a document the corpus keeps: exact_dedup may name X as the original of a
    copy, and near_dedup then drop X as a near-copy of Y; the copy's `dup_of` becomes Y."""
    dropped_id: dict[int, str] = {}
    for index in range(n_tasks):  # ids of the dropped documents (memory: one entry per drop)
        refs = early.refs(index) if early is not None else read_refs(task_paths(work_dir, index))
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
