"""`newsclean run`: run the pipeline over inputs into a corpus directory."""

from __future__ import annotations

import sys

from pipeline.config import load_config
from pipeline.runner import AccountingError, InputNotFound, run_pipeline
from pipeline.state import LockHeld
from pipeline.summary import plural, summary_table

EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the corpus; try again later


def register(sub) -> None:
    p = sub.add_parser("run", help="run the pipeline (defaults: config/default.yaml, seeds/, corpus/)")
    p.add_argument("-c", "--config", help="pipeline config (YAML; default: the shipped config/default.yaml)")
    p.add_argument("-i", "--input", nargs="+", default=["seeds"], help="input files or directories")
    p.add_argument("-o", "--output", default="corpus", help="output corpus directory")
    p.add_argument("--progress", choices=["auto", "on", "off"], help="progress bar (default from config)")
    p.add_argument("-w", "--workers", type=int, help="worker processes (default from config; 0 = all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary table")
    p.add_argument("--engine", choices=["local", "ray"],
                   help="where tasks run: local processes, or Ray (default from config: local)")
    p.add_argument("--address", help="ray: auto (this node's cluster) or ray://HOST:PORT; none starts a local Ray")
    p.add_argument("--partitions", type=int, help="cut the input into about N tasks (default: run.task_size)")
    p.add_argument("--dedup", choices=["auto", "driver", "sharded"],
                   help="near-dup reduce in the run process (driver) or as tasks (sharded); default from config")
    p.add_argument("--reprocess", action="store_true",
                   help="process every input again, also those an earlier run processed unchanged")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    overrides = {"run.progress": args.progress} if args.progress else {}
    for key in ("engine", "address", "partitions", "dedup"):
        if getattr(args, key) is not None:
            overrides[f"run.{key}"] = getattr(args, key)
    config = load_config(args.config, overrides)
    try:
        result = run_pipeline(config, args.input, args.output, workers=args.workers, reprocess=args.reprocess)
    except InputNotFound as exc:
        print(f"newsclean: cannot run: {exc}", file=sys.stderr)
        return 2
    except LockHeld as exc:
        print(f"newsclean: cannot run: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except AccountingError as exc:
        print(f"newsclean: run failed, nothing committed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"newsclean: cannot run: {exc}", file=sys.stderr)
        return 1
    recovery = result.manifest.get("recovery", {})
    if recovery.get("stale_lock"):
        lock = recovery["stale_lock"]
        print(f"newsclean: took over a stale lock (pid {lock.get('pid')} on {lock.get('host')}, "
              f"started {lock.get('started')}, is gone)", file=sys.stderr)
    for key, what in (("rolled_forward", "completed the commit of"), ("discarded", "discarded unfinished"),
                      ("resumed", "resumed unfinished")):
        if recovery.get(key):
            runs = recovery[key] if isinstance(recovery[key], list) else [recovery[key]]
            print(f"newsclean: {what} run {', '.join(runs)}", file=sys.stderr)
    skipped = result.manifest.get("skipped_inputs", 0)
    if result.run_dir is None:
        if not args.quiet:
            print(f"nothing new: {plural(skipped, 'input')} unchanged since earlier runs, no run written "
                  "(--reprocess to process them again)")
        return 0
    if not args.quiet:
        print(summary_table(result.manifest))
        if skipped:
            print(f"skipped {plural(skipped, 'input')} processed unchanged by earlier runs "
                  "(--reprocess to process them again)")
        print(f"output: {result.run_dir}")
    return 0
