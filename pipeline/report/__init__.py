"""The run report: `report.html` beside a run's manifest, built from the run's files alone.

`collect` streams the shards into bounded figures, `plots` draws them (plain SVG),
`html` lays them out in one self-contained page.
"""

from __future__ import annotations

from pathlib import Path

REPORT_NAME = "report.html"


def write_report(run_dir: str | Path, manifest: dict) -> Path:
    """Write `run_dir/report.html` for a run whose shards are written; returns its path."""
    from pipeline.report.collect import collect
    from pipeline.report.html import render
    from pipeline.s7_write.atomic import write_atomic

    run_dir = Path(run_dir)
    path = run_dir / REPORT_NAME
    write_atomic(path, render(collect(run_dir, manifest)).encode("utf-8"))
    return path
