"""The run report: `report.html` beside a run's manifest, built from the run's files alone.

`collect` streams the shards into bounded figures, `plots` draws them (plain SVG),
`html` lays them out in one self-contained page.

The run collects its report's figures in a forked child process (`pipeline/forked.py`), so that
the driver does not read its shards again at its serial end: `start_feed` before the driver's
filter (the child parses the shard lines as the filter writes them: `report/feed.py`), or
`start_collect` once the shards are written (the filter ran in tasks: the child reads them).
`write_report` then takes those figures. Where the run cannot fork, or the child fails, the
report reads the shards itself: the report must never fail a run.
"""

from __future__ import annotations

from pathlib import Path

from pipeline import forked

REPORT_NAME = "report.html"


class PendingFigures:
    """The figures of a run's shards, being collected by a forked child process."""

    def __init__(self, child: forked.Forked, files: tuple | None, feed=None):
        self._child = child
        self.files = files  # (kept shard names, reject shard names) the figures are of; None: not yet known
        self.feed = feed  # report.feed.Feed: the pipes the shard writers copy their lines to

    def written(self, shards: list[dict], rejects: list[dict]) -> None:
        """The shards are written (these): the end of the lines fed to the child."""
        self.files = _names(shards, rejects)
        if self.feed is not None:
            self.feed.end()

    def figures(self, manifest: dict):
        """The figures, for the shards `manifest` lists; None when the child had none to give."""
        if self.files is None or _names(manifest["shards"], manifest["rejects"]) != self.files:
            return None
        try:
            figures = self._child.result()
        except Exception:  # the child failed or died: the report reads the shards itself
            return None
        if self.feed is not None:
            self.feed.close()  # its threads are through: the child read the lines to their end
            if self.feed.broken:  # (some did not reach it)
                return None
        return figures

    def close(self) -> None:
        """Stop and reap the child (taken or not); then the feed's pipes end at once."""
        self._child.close()
        if self.feed is not None:
            self.feed.close()


def _names(shards: list[dict], rejects: list[dict]) -> tuple[list[str], list[str]]:
    return [s["file"] for s in shards], [s["file"] for s in rejects]


def _collect_files(run_dir: Path, kept: list[Path], rejected: list[Path]):
    from pipeline.report import collect  # looked up in the child: tests replace collect_records

    return collect.collect_records(run_dir, kept, rejected)


def start_collect(run_dir: Path, shards: list[dict], rejects: list[dict]) -> PendingFigures | None:
    """Start collecting the figures of written shards in a forked process (None where the run
    cannot fork: the report then reads the shards itself)."""
    run_dir = Path(run_dir)
    files = _names(shards, rejects)
    kept, rejected = ([run_dir / name for name in names] for names in files)
    child = forked.start("report", _collect_files, run_dir, kept, rejected)
    return None if child is None else PendingFigures(child, files)


def start_feed(run_dir: Path, spool_dir: Path) -> PendingFigures | None:
    """Start collecting the figures of the shards about to be written from their lines, which the
    shard writers copy to `feed.kept` and `feed.rejects` (`PendingFigures.written` when done);
    None where the run cannot fork. The rejects' lines wait in a temporary file in `spool_dir`."""
    from pipeline.report.feed import Feed, collect_fed

    try:
        feed = Feed()
    except OSError:  # no file descriptors left: the report reads the shards
        return None
    child = forked.start("report", collect_fed, Path(run_dir), feed, Path(spool_dir))
    if child is None:
        feed.close()
        return None
    feed.close_read_ends()
    return PendingFigures(child, None, feed)


def write_report(run_dir: str | Path, manifest: dict, pending: PendingFigures | None = None) -> Path:
    """Write `run_dir/report.html` for a run whose shards are written; returns its path. `pending`:
    the figures of its shards, collected already (`start_collect`)."""
    from pipeline.report.collect import collect, with_manifest
    from pipeline.report.html import render
    from pipeline.s7_write.atomic import write_atomic

    run_dir = Path(run_dir)
    path = run_dir / REPORT_NAME
    figures = pending.figures(manifest) if pending is not None else None
    figures = collect(run_dir, manifest) if figures is None else with_manifest(figures, manifest)
    write_atomic(path, render(figures).encode("utf-8"))
    return path
