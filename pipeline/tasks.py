"""Task functions, the same for every engine (inline, process pool, cluster).

`run_map_task` is file-to-file: it reads its own slice of the input, takes the
documents through the per-document steps, and writes to the run's work
directory the candidate kept records, the rejects, the keys the global (dedup)
steps need, and a summary with the task's statistics; a `.done` marker written
last makes the task resumable. No documents flow through the engine.

`filter_candidates` is the filter of one map task's candidates, the same in the
driver (`run.dedup: driver`, pipeline/runner.py) and in the sharded filter tasks
(pipeline/sharded_run.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline import faults, ids, workfile
from pipeline.document import Document
from pipeline.faults import checkpoint
from pipeline.keysfile import read_refs, write_keys
from pipeline.plan import read_task
from pipeline.s3_clean import template_lines
from pipeline.s6_dedup import exact_sharded
from pipeline.s6_dedup.corpus_state import Digest
from pipeline.s6_dedup.sharded import write_map_files
from pipeline.s7_write.atomic import write_atomic, write_parts
from pipeline.s7_write.jsonl import ShardWriter
from pipeline.s7_write.records import Rejection, dropped_candidate, kept_record, reject_record
from pipeline.s7_write.safe_json import json_line
from pipeline.step import DocRef, GlobalStep, Step, StepStats
from pipeline.timelimit import set_doc_timeout
from pipeline.workfile import task_paths  # noqa: F401  (where the run and its tests look for it)


@dataclass
class BatchResult:
    index: int
    kept: list[bytes] = field(default_factory=list)  # JSON lines of candidate kept records
    refs: list[DocRef] = field(default_factory=list)  # aligned with kept
    text_hashes: list[int] = field(default_factory=list)  # aligned with kept: ids.text_hash of each text
    keys: list[tuple] = field(default_factory=list)  # per kept document, one key per global step
    rejects: list[bytes] = field(default_factory=list)
    outcome: Counter = field(default_factory=Counter)  # "stage:reason" -> count of dropped/errors
    errors: int = 0
    stats: list[StepStats] = field(default_factory=list)
    vanished: set[str] = field(default_factory=set)  # files gone when the task read them


@workfile.plain
@dataclass
class TaskSummary:
    """What the run loop needs back from a task (small: figures, not documents)."""

    index: int
    n_docs: int
    n_kept: int
    outcome: Counter
    errors: int
    stats: list[StepStats]
    vanished: tuple[str, ...] = ()  # input files missing when read (moved, rotated): not marked processed


@dataclass
class Pipeline:
    """The steps of one run, built from its config, plus what records need."""

    steps: list[Step]
    added: str
    collection: str
    read_options: dict = field(default_factory=dict)
    # sharded: near-dup keys go to sorted files of their own (pipeline/s6_dedup/sharded.py)
    dedup: str = "driver"
    doc_timeout: float = 0.0  # seconds a document may spend in the per-document steps (0 = no limit)

    @property
    def per_document(self) -> list[Step]:
        return [s for s in self.steps if not isinstance(s, GlobalStep)]

    @property
    def global_steps(self) -> list[GlobalStep]:
        return [s for s in self.steps if isinstance(s, GlobalStep)]


_WORKER_PIPELINE: Pipeline | None = None  # one per process, set by init_worker (or use_pipeline)
_WORKER_RUN: str | None = None  # the run it was built for


def use_pipeline(pipeline: Pipeline | None, run_key: str | None) -> None:
    """The run's own process (and the processes forked from it) reuse the steps it built; None
    after the map phase (the run's steps are not held beyond it)."""
    global _WORKER_PIPELINE, _WORKER_RUN
    _WORKER_PIPELINE, _WORKER_RUN = pipeline, run_key


def init_worker(run_key: str, factory, *args) -> None:
    """Build the run's steps in a worker process, once (not again where they are built already)."""
    global _WORKER_PIPELINE, _WORKER_RUN
    if _WORKER_RUN != run_key or _WORKER_PIPELINE is None:
        _WORKER_PIPELINE, _WORKER_RUN = factory(*args), run_key


def run_map_task_in_worker(job: tuple) -> TaskSummary:
    task, work_dir = job
    assert _WORKER_PIPELINE is not None, "init_worker runs before the tasks"
    return run_map_task(_WORKER_PIPELINE, task, Path(work_dir))


def run_map_task(pipeline: Pipeline, task, work_dir: Path) -> TaskSummary:
    """Read the task's input slice, process it, write its work files; resumable via the done marker."""
    paths = task_paths(work_dir, task.index)
    if pipeline.dedup == "sharded" and not _has_exact_parts(work_dir, task.index):
        paths["done"].unlink(missing_ok=True)  # scale: done by a version without them: redone
    if paths["done"].exists():
        try:
            return workfile.load(paths["summary"])
        except (OSError, ValueError):  # damaged or not ours (e.g. a planted pickle): the task is redone
            paths["done"].unlink(missing_ok=True)
    read_stats = StepStats("read")
    docs = read_task(task, pipeline.read_options, read_stats.counters)
    result = process_batch(pipeline, task.index, _counted(docs, read_stats))
    write_parts(paths["kept"], result.kept)  # the lines in turn: ~6 MB per 2,000 documents, not joined
    write_parts(paths["rejects"], result.rejects)
    keys = result.keys
    if pipeline.dedup == "sharded":
        keys = write_map_files(pipeline, work_dir, task.index, result.refs, keys)
        # scale: the id check and exact dedup keys, partitioned by hash range (s6_dedup/exact_sharded.py)
        keys = exact_sharded.write_map_parts(
            pipeline, work_dir, task.index, result.refs, keys, result.text_hashes
        )
    write_keys(paths, result.refs, keys, len(pipeline.global_steps), result.text_hashes)
    summary = TaskSummary(
        task.index,
        read_stats.docs_in,
        len(result.kept),
        result.outcome,
        result.errors,
        [read_stats] + result.stats,
        tuple(sorted(result.vanished)),
    )
    write_atomic(paths["summary"], workfile.dumps(summary))
    write_atomic(paths["done"], b"")
    return summary


def _has_exact_parts(work_dir: Path, index: int) -> bool:

    return exact_sharded.map_paths(work_dir, index)["idkeys.npy"].exists()


def _counted(docs: Iterable[Document], stats: StepStats):
    for doc in docs:
        stats.docs_in += 1
        if doc.dropped:
            stats.dropped[doc.drop_reason] += 1
            stats.errors += doc.is_error
        else:
            stats.kept += 1
        yield doc


def process_batch(pipeline: Pipeline, index: int, docs: Iterable[Document]) -> BatchResult:
    """Documents through the per-document steps; global steps compute their keys."""
    for step in pipeline.steps:  # fresh counters: this batch's figures are merged by the run loop
        step.stats = StepStats(step.name)
    set_doc_timeout(pipeline.doc_timeout)
    stream = iter(docs)
    for step in pipeline.per_document:
        stream = step.run(stream)
    result = BatchResult(index)
    global_steps = pipeline.global_steps
    for doc in stream:
        if not doc.dropped:
            keys = _keys(global_steps, doc)
        if doc.dropped:
            if doc.drop_stage == "read" and doc.drop_reason == "missing_input":
                result.vanished.add(doc.provenance.get("file", ""))
            result.rejects.append(json_line(reject_record(doc, pipeline.collection)))
            result.outcome[f"{doc.drop_stage}:{doc.drop_reason}"] += 1
            result.errors += doc.is_error
            continue
        result.kept.append(
            json_line(
                kept_record(
                    doc, pipeline.added, pipeline.collection, pipeline.read_options.get("timezone", "")
                )
            )
        )
        result.refs.append(DocRef(doc.provenance["order"], doc.id, doc.metadata.get("created")))
        result.text_hashes.append(ids.text_hash(doc.text))
        result.keys.append(keys)
    result.stats = [step.stats for step in pipeline.steps]
    return result


def _keys(global_steps: list[GlobalStep], doc: Document) -> tuple:
    """Each global step's key; a key that cannot be computed makes the document an error record."""
    keys = []
    for step in global_steps:
        start = time.perf_counter()
        try:
            keys.append(step.key(doc))
        except Exception as exc:
            doc.drop(step.name, "error", f"{type(exc).__name__}: {exc}", error=True)
            step.stats.dropped["error"] += 1
            step.stats.errors += 1
            return ()
        finally:
            step.stats.seconds += time.perf_counter() - start
    return tuple(keys)


def candidates_with_drops(paths: dict, drops: dict) -> Iterator[tuple[bytes, tuple | None, str]]:
    """(record line, (stage, Drop) or None, document id) for each candidate a map task wrote, in order."""
    refs = read_refs(paths)
    with open(paths["kept"], "rb") as fh:
        for ref, line in zip(refs, fh):
            yield line, drops.get(ref.order), ref.id


# --- the filter: a map task's candidates, minus the documents the reduce dropped ------------


@workfile.plain
@dataclass
class Filtered:
    """What the filter kept and dropped (of one task, or of all)."""

    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # "stage:reason" -> documents
    kept_ids: Digest = field(default_factory=Digest)  # of the kept documents (s6_dedup/corpus_state.py)

    def add(self, other: Filtered) -> None:
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.kept_ids = self.kept_ids + other.kept_ids


def is_error_reason(stage_reason: str) -> bool:
    """Whether a "stage:reason" of the reduce phase counts as an error (an id collision)."""
    return stage_reason.partition(":")[2] == ids.REASON


_BATCH = 1 << 20  # bytes of lines read (and written) at once by the filter


def filter_candidates(paths: dict, drops: dict, kept: ShardWriter, rejects: ShardWriter) -> Filtered:
    """Copy a map task's candidates to `kept`, minus `drops` (order -> (stage, Drop)), which go
    to `rejects` with their reason."""
    done, kept_ids = Filtered(), []
    edits = template_lines.load_edits(paths["kept"].parent)  # lines the reduce named site template
    if edits is None and not faults.armed():  # nothing to edit, no kill point to count: in batches
        return _filter_in_batches(paths, drops, kept, rejects)
    for line, hit, doc_id in candidates_with_drops(paths, drops):
        if hit is None and edits is not None:
            line, emptied = template_lines.strip_record(line, edits)
            if emptied is not None:  # nothing but template: a reject, with its text
                _reject_template_only(emptied, rejects, done)
                continue
        if hit is None:
            kept.write_line(line)
            kept_ids.append(doc_id)
            done.kept += 1
            checkpoint("kept")
        else:
            _reject_drop(line, hit, rejects, done)
    done.kept_ids = Digest.of(kept_ids)
    return done


def _filter_in_batches(paths: dict, drops: dict, kept: ShardWriter, rejects: ShardWriter) -> Filtered:
    """filter_candidates for records that stay as they are: ~1 MB of lines at a time, the kept ones
    written in one call (the same lines, in the same order, as line by line)."""
    done, kept_ids, refs, at = Filtered(), [], read_refs(paths), 0
    with open(paths["kept"], "rb") as fh:
        while at < len(refs) and (batch := fh.readlines(_BATCH)):
            batch_refs = refs[at : at + len(batch)]
            at += len(batch)
            hits = [drops.get(ref.order) for ref in batch_refs] if drops else []
            if not any(hits):
                keep, keep_refs = batch[: len(batch_refs)], batch_refs
            else:
                keep, keep_refs = [], []
                for ref, line, hit in zip(batch_refs, batch, hits):
                    if hit is None:
                        keep.append(line)
                        keep_refs.append(ref)
                    else:
                        _reject_drop(line, hit, rejects, done)
            kept.write_lines(keep)
            kept_ids += [ref.id for ref in keep_refs]
            done.kept += len(keep)
    done.kept_ids = Digest.of(kept_ids)
    return done


def _reject_drop(line: bytes, hit: tuple, rejects: ShardWriter, done: Filtered) -> None:
    stage, drop = hit
    why = Rejection.of_drop(stage, drop, ids.is_error(drop))
    rejects.write(dropped_candidate(orjson.loads(line), why))
    done.dropped[f"{stage}:{drop.reason}"] += 1


def _reject_template_only(record: dict, rejects: ShardWriter, done: Filtered) -> None:
    detail = "every line of the text is a template line of its source"
    why = Rejection(template_lines.TemplateLines.name, template_lines.REASON, detail, False)
    rejects.write(dropped_candidate(record, why))
    done.dropped[f"{why.stage}:{why.reason}"] += 1


def copy_rejects(paths: dict, rejects: ShardWriter) -> None:
    """The rejects the map task wrote (per-document steps), as they are."""
    with open(paths["rejects"], "rb") as fh:
        while batch := fh.readlines(_BATCH):
            rejects.write_lines(batch)
