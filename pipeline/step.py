"""The step contract: a step is a generator over documents.

Per-document steps override `process(doc)`; the base class counts documents in,
kept, dropped by reason and errors, times the work, and turns an exception into
an error record on that document (the run goes on). A step may also override
`process_batch(docs)`, a batch path beside it for work that pays to do over many
documents at once; the run falls back to `process` for a batch whose batch path
fails, so both give the same documents, drops and counters. Steps keep no global
state, so the same step can run over a batch of documents in another process.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pipeline.document import Document
from pipeline.options import defaults_of
from pipeline.timelimit import DocTimeout, arm, begin, doc_timeout, end, limited, stop
from pipeline.workfile import plain


@plain
@dataclass
class StepStats:
    name: str
    docs_in: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> count (errors included)
    errors: int = 0
    seconds: float = 0.0
    counters: Counter = field(default_factory=Counter)  # step-specific figures, e.g. lines removed by rule

    def merge(self, other: StepStats) -> None:
        self.docs_in += other.docs_in
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.errors += other.errors
        self.seconds += other.seconds
        self.counters.update(other.counters)

    def as_dict(self) -> dict:
        return {
            "in": self.docs_in,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            **({"counters": dict(sorted(self.counters.items()))} if self.counters else {}),
        }


# documents a step takes at a time (see Step.run); small enough that a batch's documents stay in
# memory beside the task's output, large enough to keep one step's working set in the CPU caches
BATCH = 64


class Step:
    """Base class of every pipeline step."""

    name: ClassVar[str] = "step"
    # the stage it belongs to: read | extract | clean | normalize | filter | dedup ("" = a step of
    # one's own). Read and extract steps turn bytes into the text `newsclean explain` shows.
    pipeline_stage: ClassVar[str] = ""
    # the step's options: a schema (`class Options(Schema)`, pipeline/options.py) whose fields are
    # typed and whose defaults are the shipped ones; `defaults` (a dict) is derived from it. A step
    # of one's own may set `defaults = {...}` alone (each option has the type of its default).
    Options: ClassVar[type | None] = None
    defaults: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__ and cls.Options is not None:
            cls.defaults = defaults_of(cls.Options)
        elif "defaults" in cls.__dict__:  # a plain dict replaces an inherited schema
            cls.Options = None

    @classmethod
    def schema(cls) -> type | dict:
        """What the config loader validates the step's options against (`options.schema_of`)."""
        return cls.Options if cls.Options is not None else cls.defaults

    def __init__(self, options: dict | None = None, context: dict | None = None):
        self.options = {**self.defaults, **(options or {})}
        self.context = context or {}
        self.stats = StepStats(self.name)

    # optional: `validate(cls, options, where)`, a classmethod the config loader calls with the merged
    # options and `where(key)` (the key's `file:line`); it raises ConfigError for a bad value

    def process(self, doc: Document) -> None:  # pragma: no cover - interface
        """Transform `doc` in place, or call `doc.drop(self.name, reason)`."""
        raise NotImplementedError

    def preload(self, docs_per_process: int) -> None:
        """Optional: load now the large read-only data (models, compiled code) that a process handling
        `docs_per_process` documents would load on its own. The run calls it before it forks its
        workers, so that they share one copy of the pages instead of each making its own; for a
        large input, once from a thread while the plan still counts (a lower bound of the count),
        then with the whole count: what is loaded already is not loaded again (pipeline/preload.py)."""

    def unload(self) -> None:
        """Optional: drop what `preload` loaded; the run calls it once its workers are done."""

    def process_batch(self, docs: list[Document]) -> None:
        """Optional: `process` over a batch of documents in one call (none of them dropped), for a
        step whose work pays to do over many documents at once (one compiled call, one scan).

        The run uses it only where a step overrides it, and holds it to the per-document result:
        the same documents, drops and `stats.counters` as `process` on each document in turn. It
        must compute before it changes any document (none changed when it raises): an exception or
        the time limit inside it sends the batch through `process` one document at a time, so that
        the bad document alone becomes an error record and the rest go on (the counters are put
        back as they were before the batch)."""
        for doc in docs:
            self.process(doc)

    def run(self, docs: Iterable[Document]) -> Iterator[Document]:
        """`process` on each document, BATCH documents at a time: a batch goes through this step
        before the next step sees it, so each step's code, tables and caches stay hot for many
        documents in a row (~28% less CPU than one document through every step at a time)."""
        batch: list[Document] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) == BATCH:
                yield from self._run_batch(batch)
                batch = []
        yield from self._run_batch(batch)

    def _run_batch(self, batch: list[Document]) -> list[Document]:
        # dropped upstream: passed through untouched to the rejects writer
        live = [doc for doc in batch if doc.drop_reason is None]  # (`not doc.dropped`, inline)
        batched = type(self).process_batch is not Step.process_batch  # the step has a batch path
        try:
            if live and not (batched and self._run_batched(live)):
                self._run_each(live)
        finally:  # no time-limit alarm left running outside the steps' work (pipeline/timelimit.py)
            stop()
        return batch

    def _run_batched(self, docs: list[Document]) -> bool:
        """`process_batch` under the batch's time limit (the smallest budget left of its documents);
        False, with nothing counted, when it raised: the caller then runs the documents one by one."""
        counters = self.stats.counters.copy()  # restored if the batch fails (the retry counts again)
        start = time.perf_counter()
        budget = _Budget(docs)
        try:
            armed = begin(budget, start)
            try:
                self.process_batch(docs)
            finally:
                if armed:
                    end(budget, 0.0)
        except (DocTimeout, Exception):  # the documents one by one show which one it was
            self.stats.counters = counters
            self.stats.seconds += time.perf_counter() - start
            return False
        elapsed = time.perf_counter() - start
        self.stats.seconds += elapsed
        self.stats.docs_in += len(docs)
        if armed:  # each document is charged its share of the batch's time
            budget.charge(docs, elapsed)
        for doc in docs:
            self._count(doc)
        return True

    def _run_each(self, docs: list[Document]) -> None:
        """`process` on each document, under its time limit; an exception makes the document an
        error record. (One clock reading between two documents, the limit's state asked once: the
        step's own overhead per document is a fraction of a microsecond.)"""
        stats, process, clock, name = self.stats, self.process, time.perf_counter, self.name
        limit, kept = limited(), 0
        stats.docs_in += len(docs)
        start = began = clock()
        for doc in docs:
            try:
                if limit:
                    arm(doc, start)  # the per-document time limit (pipeline/timelimit.py)
                try:
                    process(doc)
                finally:  # before the handlers below, so that the alarm cannot stop them
                    if limit:
                        end(doc, clock() - start)
            except DocTimeout:  # a pathological page: an error record, the run goes on
                self._drop_timeout(doc)
            except Exception as exc:  # one bad document must not stop the run
                doc.drop(self.name, "error", f"{type(exc).__name__}: {exc}", error=True)
            start = clock()
            if doc.drop_reason is None or doc.drop_stage != name:  # `_count`, inline
                kept += 1
            else:
                stats.dropped[doc.drop_reason] += 1
                stats.errors += doc.is_error
        stats.kept += kept
        stats.seconds += clock() - began

    def _drop_timeout(self, doc: Document) -> None:
        doc.drop(
            self.name,
            "timeout",
            f"over the per-document time limit run.doc_timeout={doc_timeout():g} s (stopped in {self.name})",
            error=True,
        )

    def _count(self, doc: Document) -> None:
        if doc.dropped and doc.drop_stage == self.name:
            self.stats.dropped[doc.drop_reason] += 1
            self.stats.errors += doc.is_error
        else:
            self.stats.kept += 1


class _Budget:
    """A batch's share of the per-document time limit, as `timelimit.begin` sees a document: the
    smallest budget left of its documents (None: all at their first step, a full budget)."""

    def __init__(self, docs: list[Document]):
        left = [doc.time_left for doc in docs if doc.time_left is not None]
        self.time_left: float | None = min(left) if left else None

    @staticmethod
    def charge(docs: list[Document], seconds: float) -> None:
        share = seconds / len(docs)
        limit = doc_timeout()
        for doc in docs:
            doc.time_left = (limit if doc.time_left is None else doc.time_left) - share


@plain
@dataclass(frozen=True)
class DocRef:
    """What a global step knows of a document: its position in the run's input order,
    its id and publication date (the keep rule: earliest `created`, then input order)."""

    order: int
    id: str
    created: str | None = None

    def keep_rank(self) -> tuple:
        # documents without a date sort after dated ones; ties broken by input order
        return (self.created is None, self.created or "", self.order)


@plain
@dataclass(frozen=True)
class Drop:
    order: int
    reason: str
    detail: str
    dup_of: str | None = None


class GlobalStep(Step):
    """A step that needs every document (deduplication).

    It is split so that it scales: `key(doc)` runs per document next to the other
    steps (in worker processes) and returns a small picklable key; `reduce()` runs
    once over all (DocRef, key) pairs in input order and yields the documents to
    drop. The run loop then filters them out of the candidate shards.

    Persistent state (e.g. a dedup index in OUTPUT/state/) follows the run's
    commit protocol (`pipeline/runner.py`), so that a kill at any moment leaves
    the state as before the run or as after it, never half of it nor twice:

    1. `reduce(items, state_dir)` may read `state_dir` but must not change it.
    2. `stage(delta_dir)` (after reduce, before the manifest) writes what this run
       adds to the state into `delta_dir` (= OUTPUT/runs/<run-id>/delta/<step name>/,
       created by the runner). The manifest is the commit point: a run whose
       manifest exists is applied; one without it is discarded with its delta.
    3. `commit(state_dir, delta_dir)` (after the manifest) applies the delta. It
       must be idempotent (applying it twice equals once: e.g. insert-if-absent,
       whole files replaced by temp+rename) and must work on a fresh instance with
       no memory of reduce(): if the process dies before the run is marked applied,
       the next run calls it again at startup (roll forward), built from the
       finished run's config.

    The state holds the kept documents of applied runs and nothing else: a
    document a later step dropped is not staged, and the documents a changed
    input (or `--reprocess`) retires are ignored by reduce (`retired`) and removed
    by commit, so the new version of a document goes through every step like a
    new one. Each index carries the corpus digest (`s6_dedup/corpus_state.py`),
    checked before the map phase: `state_problem`, then `rebuild`.
    """

    # ids of kept documents that this run retires (their input changed, or --reprocess): their
    # entries in the state are on their way out, so reduce() must not match them (set by the runner)
    retired: frozenset = frozenset()
    retired_runs: frozenset = frozenset()  # the runs that kept them
    # small keys (a hash, a few line hashes): a runner may hold them in memory, decoded while the map
    # tasks end, instead of reading them back from the work files in the reduce (runner: EarlyReduce)
    hold_keys: bool = False

    def key(self, doc: Document):  # pragma: no cover - interface
        raise NotImplementedError

    def reduce(self, items: Iterable[tuple[DocRef, Any]], state_dir) -> Iterator[Drop]:  # pragma: no cover
        raise NotImplementedError

    def stage(self, delta_dir, dropped=frozenset()) -> None:
        """Write this run's additions to the persistent state into `delta_dir` (default: none): only
        documents the run keeps, i.e. not in `dropped` (orders dropped by any global step)."""

    def staged_elsewhere(self) -> None:
        """`stage` ran in a child process forked from this one (the runner overlaps it with the
        filter): free here what `stage` would have freed (default: nothing)."""

    def commit(self, state_dir, delta_dir) -> None:
        """Apply `delta_dir` to `state_dir`, idempotently (see the class docstring); default: nothing.
        The ids the run retired leave the state in the same commit (`corpus_state.read_change`)."""

    def state_problem(self, state_dir, expected) -> str | None:
        """Why the persistent state does not describe the corpus whose digest is `expected`
        (missing, stale, unreadable), or None when it does (default: no state)."""
        return None

    def rebuild(self, state_dir, output) -> None:
        """Rebuild the persistent state from the corpus at `output` (default: no state)."""

    def state_file(self, state_dir):
        """The SQLite file of the persistent state, if any (set aside when found damaged)."""
        return None

    def process(self, doc: Document) -> None:  # a global step does its work in reduce()
        return None
