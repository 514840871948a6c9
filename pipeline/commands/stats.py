"""`newsclean stats OUTPUT`: a run's figures (or every finished run of a corpus) as a table."""

from __future__ import annotations

from pathlib import Path

import orjson

from pipeline.log import log


def register(sub) -> None:
    p = sub.add_parser("stats", help="print the figures of a run, or of every finished run of a corpus")
    p.add_argument(
        "output", nargs="?", default="corpus", help="a run directory or a corpus directory (default: corpus)"
    )
    p.set_defaults(func=cmd_stats)


def cmd_stats(args) -> int:
    from pipeline.corpus import MANIFEST, corpus_counts, finished_runs, unfinished_run_dirs
    from pipeline.summary import plural, removed_lines_table, runs_table, summary_table

    output = Path(args.output)
    if (output / MANIFEST).is_file():  # one run
        manifest = orjson.loads((output / MANIFEST).read_bytes())
        print("\n".join([summary_table(manifest)] + removed_lines_table([manifest])))
        return 0
    runs = finished_runs(output)
    if not runs:
        log.error(f"{output}: no finished run (no runs/*/{MANIFEST})")
        return 1
    print(runs_table([run.manifest for run in runs], corpus_counts(output, runs)))
    unfinished = unfinished_run_dirs(output)
    if unfinished:
        print(
            f"\n{plural(len(unfinished), 'unfinished run')} ignored: {', '.join(d.name for d in unfinished)}"
        )
    return 0
