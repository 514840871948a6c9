"""The manifest of a run (and of a refilter run): one builder, one accounting check, one writer.

The manifest is written last and atomically: a run directory without `manifest.json` is
not part of the corpus (CONVENTIONS.md). Its figures always add up: documents read =
kept + dropped + errors, by the counters and by the records written, or the run fails
with AccountingError and nothing is committed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline import __version__, report
from pipeline.corpus import MANIFEST
from pipeline.log import log
from pipeline.s7_write import safe_json
from pipeline.s7_write.atomic import write_atomic
from pipeline.step import StepStats

MANIFEST_VERSION = 1


class AccountingError(RuntimeError):
    pass


@dataclass
class Written:
    """What a run counted and wrote: the figures of its manifest."""

    outcome: Counter = field(default_factory=Counter)  # documents, kept, dropped, errors
    reasons: Counter = field(default_factory=Counter)  # "stage:reason" -> dropped or failed documents
    shards: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    stages: list[StepStats] = field(default_factory=list)

    def count_drop(self, key: str, n: int, error: bool) -> None:
        self.outcome["errors" if error else "dropped"] += n
        self.reasons[key] += n


def check_accounting(run_id: str, written: Written) -> dict:
    """Documents read = kept + dropped + errors, by the counters and by the records written;
    raise AccountingError (the run is not committed) when they do not add up."""
    outcome, reasons = written.outcome, written.reasons
    total, kept, dropped, errors = (outcome[k] for k in ("documents", "kept", "dropped", "errors"))
    written_kept = sum(s["records"] for s in written.shards)
    written_rejects = sum(s["records"] for s in written.rejects)
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


def build_manifest(about: dict, written: Written, accounting: dict) -> dict:
    """The manifest: version, what the run was (`about`: id, times, config, inputs, ...), its figures."""
    outcome = written.outcome
    return {
        "manifest_version": MANIFEST_VERSION,
        "pipeline": "newsclean",
        "pipeline_version": __version__,
        **about,
        "counts": {
            "documents": outcome["documents"],
            "kept": outcome["kept"],
            "dropped": outcome["dropped"],
            "errors": outcome["errors"],
            "by_reason": dict(sorted(written.reasons.items())),
        },
        "accounting": accounting,
        "stages": {s.name: s.as_dict() for s in written.stages},
        "shards": written.shards,
        "rejects": written.rejects,
    }


def write_manifest(run_dir: Path, manifest: dict, pending: report.PendingFigures | None = None) -> None:
    """report.html, then the manifest (the commit point of the run's directory). `pending`: the
    figures of the shards, collected while the run went on (report.start_feed, start_collect)."""
    try:  # written before the manifest, so that a finished run always has one
        report.write_report(
            run_dir, manifest, pending=pending
        )  # looked up here: tests replace it to save time
    except Exception as exc:  # the report must never fail a run
        log.warning(f"report not written: {type(exc).__name__}: {exc}")
    write_atomic(run_dir / MANIFEST, safe_json.dumps(manifest, option=orjson.OPT_INDENT_2))
