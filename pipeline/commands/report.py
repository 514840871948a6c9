"""`newsclean report RUN_DIR`: (re)build a finished run's report.html from its files."""

from __future__ import annotations

from pathlib import Path

import orjson

from pipeline.log import log


def register(sub) -> None:
    p = sub.add_parser("report", help="write report.html for a finished run (or the latest run of a corpus)")
    p.add_argument("run_dir", help="a run directory (with manifest.json) or a corpus directory")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from pipeline.corpus import MANIFEST, finished_runs, latest_run
    from pipeline.report import write_report

    run_dir = Path(args.run_dir)
    if not (run_dir / MANIFEST).is_file():
        runs = finished_runs(run_dir)
        if not runs:
            log.error(f"{run_dir}: not a finished run (no {MANIFEST}) nor a corpus with finished runs")
            return 1
        run_dir = latest_run(runs).dir
    manifest = orjson.loads((run_dir / MANIFEST).read_bytes())
    print(f"report: {write_report(run_dir, manifest)}")
    return 0
