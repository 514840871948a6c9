"""`newsclean run`: run the pipeline over inputs into a corpus directory."""

from __future__ import annotations

import errno
import sqlite3
import sys

from pipeline.config import check_range, load_config
from pipeline.fs import RemoteInputNotFound, StorageError
from pipeline.runner import AccountingError, run_pipeline
from pipeline.state import LockHeld, StateError
from pipeline.workfile import WorkFileError
from pipeline.summary import summary_table

# Exit statuses (README, "Scheduled runs"); after any of them nothing is committed and the next run
# recovers on its own once the cause is fixed.
EXIT_FAILED = 1  # the run's documents did not add up (accounting), or another unexpected error
EXIT_CONFIG = 2  # bad config or option (pipeline/cli.py)
EXIT_STATE = 65  # EX_DATAERR: damaged corpus state (corrupt sqlite, lost manifest, symlinked lock)
EXIT_CANTWRITE = 73  # EX_CANTCREAT: the output is read-only or not ours (permissions)
EXIT_IOERR = 74  # EX_IOERR: disk full or another I/O error
EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the corpus; try again later
_CANT_WRITE = {errno.EROFS, errno.EACCES, errno.EPERM}


def register(sub) -> None:
    p = sub.add_parser("run", help="run the pipeline (defaults: config/default.yaml, seeds/, corpus/)")
    p.add_argument("-c", "--config", default="config/default.yaml", help="pipeline config (YAML)")
    p.add_argument("-i", "--input", nargs="+", default=["seeds"],
                   help="input files or directories, or URLs (s3://bucket/prefix, gs://…, hf://…)")
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
    if args.workers is not None:
        check_range(args.workers, "run", "workers", "command line (-w)")
    config = load_config(args.config, overrides)
    try:
        result = run_pipeline(config, args.input, args.output, workers=args.workers, reprocess=args.reprocess)
    except LockHeld as exc:
        print(f"newsclean: cannot run: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except AccountingError as exc:
        print(f"newsclean: run failed, nothing committed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except RemoteInputNotFound as exc:  # a typo'd URL is a usage error, not a silent empty run
        print(f"newsclean: cannot run: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except sqlite3.OperationalError as exc:  # read-only or unreachable state files: not damage
        if "readonly" not in str(exc) and "unable to open" not in str(exc):
            print(f"newsclean: damaged corpus state: {_one_line(exc)}", file=sys.stderr)
            return EXIT_STATE
        print(f"newsclean: cannot write the output, nothing committed: {_one_line(exc)}", file=sys.stderr)
        return EXIT_CANTWRITE
    except (StateError, WorkFileError) as exc:
        print(f"newsclean: damaged corpus state: {_one_line(exc)}", file=sys.stderr)
        return EXIT_STATE
    except sqlite3.DatabaseError as exc:  # e.g. a corrupt dedup index that could not be set aside
        print(f"newsclean: damaged corpus state: a state database in {args.output}/state is damaged "
              f"({_one_line(exc)}); restore it from a backup, or move it aside to rebuild it", file=sys.stderr)
        return EXIT_STATE
    except StorageError as exc:  # a storage URL that cannot be used (backend, bad URL, access refused)
        print(f"newsclean: cannot run: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        status = EXIT_CANTWRITE if exc.errno in _CANT_WRITE else EXIT_IOERR
        what = "disk full" if exc.errno == errno.ENOSPC else "cannot write the output" \
            if status == EXIT_CANTWRITE else "I/O error"
        print(f"newsclean: {what}, nothing committed: {_one_line(exc)}", file=sys.stderr)
        return status
    recovery = result.manifest.get("recovery", {})
    if recovery.get("stale_lock"):
        lock = recovery["stale_lock"]
        print(f"newsclean: took over a stale lock (pid {lock.get('pid')} on {lock.get('host')}, "
              f"started {lock.get('started')}, is gone)", file=sys.stderr)
    for problem in recovery.get("rebuilt", []):
        print(f"newsclean: rebuilt from the corpus: {problem}", file=sys.stderr)
    for key, what in (("rolled_forward", "completed the commit of"), ("discarded", "discarded unfinished"),
                      ("resumed", "resumed unfinished")):
        if recovery.get(key):
            runs = recovery[key] if isinstance(recovery[key], list) else [recovery[key]]
            print(f"newsclean: {what} run {', '.join(runs)}", file=sys.stderr)
    if not args.quiet:
        print(summary_table(result.manifest))
        if result.manifest.get("skipped_inputs"):
            print(f"skipped {result.manifest['skipped_inputs']} inputs processed unchanged by earlier runs "
                  "(--reprocess to process them again)")
        print(f"output: {result.run_dir}")
    return 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if isinstance(exc, sqlite3.DatabaseError) else text
