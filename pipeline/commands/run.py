"""`newsclean run`: run the pipeline over inputs into a corpus directory (or, with
`--dry-run`, print what it would do and write nothing)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from pipeline.commands.config import effective_yaml
from pipeline.config import load_config
from pipeline.engine.local import default_workers
from pipeline.fs import RemoteInputNotFound, StorageError
from pipeline.log import log
from pipeline.plan import list_inputs, plan_tasks, task_size_for
from pipeline.runner import (
    AccountingError,
    InputNotFound,
    StateError,
    build_steps,
    check_inputs_exist,
    dedup_mode_of,
    run_pipeline,
)
from pipeline.selection import select_inputs
from pipeline.state import InputStore, LockHeld
from pipeline.summary import plural, summary_table
from pipeline.workfile import WorkFileError

EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the corpus; try again later
EXIT_USAGE = 2  # the command itself is wrong (a config error, an input that does not exist)
EXIT_STATE = 65  # EX_DATAERR: OUTPUT/state/ is damaged and could not be rebuilt from the corpus
EXIT_CANTWRITE = 73  # EX_CANTCREAT: the output is read-only or not ours (permissions)
EXIT_IOERR = 74  # EX_IOERR: disk full or another I/O error
_CANT_WRITE = {errno.EROFS, errno.EACCES, errno.EPERM}
DRY_RUN_LISTED = 20  # inputs listed by --dry-run; the count says how many there are


def register(sub) -> None:
    p = sub.add_parser("run", help="run the pipeline (defaults: the shipped config, seeds/, corpus/)")
    p.add_argument("-c", "--config", help="pipeline config (YAML; default: the shipped config/default.yaml)")
    p.add_argument(
        "-i",
        "--input",
        nargs="+",
        default=["seeds"],
        help="input files or directories, or URLs (s3://bucket/prefix, gs://…, hf://…)",
    )
    p.add_argument("-o", "--output", default="corpus", help="output corpus directory")
    p.add_argument("--progress", choices=["auto", "on", "off"], help="progress bar (default from config)")
    p.add_argument("-w", "--workers", type=int, help="worker processes (default from config; 0 = all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary table")
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        help="where tasks run: local processes, or Ray (default from config: local)",
    )
    p.add_argument(
        "--address", help="ray: auto (this node's cluster) or ray://HOST:PORT; none starts a local Ray"
    )
    p.add_argument("--partitions", type=int, help="cut the input into about N tasks (default: run.task_size)")
    p.add_argument(
        "--dedup",
        choices=["auto", "driver", "sharded"],
        help="near-dup reduce in the run process (driver) or as tasks (sharded); default from config",
    )
    p.add_argument(
        "--reprocess",
        action="store_true",
        help="process every input again, also those an earlier run processed unchanged",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (inputs, new or unchanged, tasks, effective config) and write nothing",
    )
    p.set_defaults(func=cmd_run)


def overrides_of(args) -> dict:
    """The run options given on the command line, as config overrides (validated with the file)."""
    overrides = {}
    for key in ("progress", "workers", "engine", "address", "partitions", "dedup"):
        if getattr(args, key) is not None:
            overrides[f"run.{key}"] = (getattr(args, key), f"--{key}")
    return overrides


def cmd_run(args) -> int:
    config = load_config(args.config, overrides_of(args))
    if args.dry_run:
        try:
            print(dry_run(config, args.input, args.output, args.reprocess))
        except InputNotFound as exc:
            log.error(f"cannot run: {exc}")
            return EXIT_USAGE
        return 0
    try:
        result = run_pipeline(config, args.input, args.output, reprocess=args.reprocess)
    except _RUN_FAILURES as exc:
        return failure_status(exc, args.output)
    report_recovery(result.manifest.get("recovery", {}))
    if result.run_dir is None:
        return report_no_run(result.manifest.get("skipped_inputs", 0), args)
    report_finished(result, args.quiet)
    return 0


_RUN_FAILURES = (
    InputNotFound,
    LockHeld,
    AccountingError,
    RemoteInputNotFound,
    sqlite3.DatabaseError,
    StateError,
    WorkFileError,
    StorageError,
    OSError,
)


def failure_status(exc: BaseException, output: str) -> int:
    """Log why the run could not run or finish, in one line; its exit status."""
    if isinstance(exc, (InputNotFound, RemoteInputNotFound)):  # a typo'd URL is a usage error too
        log.error(f"cannot run: {exc}")
        return EXIT_USAGE
    if isinstance(exc, LockHeld):
        log.error(f"cannot run: {exc}")
        return EXIT_LOCKED
    if isinstance(exc, AccountingError):
        log.error(f"run failed, nothing committed: {exc}")
        return 1
    if isinstance(exc, sqlite3.OperationalError):  # read-only or unreachable state files: not damage
        if "readonly" in str(exc) or "unable to open" in str(exc):
            log.error(f"cannot write the output, nothing committed: {_one_line(exc)}")
            return EXIT_CANTWRITE
        log.error(f"damaged corpus state: {_one_line(exc)}")
        return EXIT_STATE
    if isinstance(exc, (StateError, WorkFileError)):
        log.error(f"damaged corpus state: {_one_line(exc)}")
        return EXIT_STATE
    if isinstance(exc, sqlite3.DatabaseError):  # e.g. a corrupt state/inputs.sqlite
        log.error(
            f"damaged corpus state: a state database in {output}/state is damaged ({_one_line(exc)}); "
            "restore it from a backup, or move it aside to rebuild it"
        )
        return EXIT_STATE
    if isinstance(exc, StorageError) or not isinstance(exc, OSError):
        log.error(f"cannot run: {exc}")
        return 1
    return _os_error_status(exc)


def _os_error_status(exc: OSError) -> int:
    status = EXIT_CANTWRITE if exc.errno in _CANT_WRITE else EXIT_IOERR
    what = (
        "disk full"
        if exc.errno == errno.ENOSPC
        else "cannot write the output"
        if status == EXIT_CANTWRITE
        else "I/O error"
    )
    log.error(f"{what}, nothing committed: {_one_line(exc)}")
    return status


def report_no_run(skipped: int, args) -> int:
    """Nothing to process: an empty input folder (maybe a wrong path), or nothing new."""
    if not skipped:
        log.warning(
            f"no input files in {', '.join(map(str, args.input))}: nothing to do, no run written",
            extra={"fields": {"event": "no_inputs"}},
        )
        return 0
    log.info(
        f"nothing new: {plural(skipped, 'input')} unchanged since earlier runs, no run written",
        extra={"fields": {"event": "nothing_new", "skipped_inputs": skipped}},
    )
    if not args.quiet:
        print(
            f"nothing new: {plural(skipped, 'input')} unchanged since earlier runs, no run written "
            "(--reprocess to process them again)"
        )
    return 0


def report_finished(result, quiet: bool) -> None:
    m = result.manifest
    counts, skipped = m["counts"], m.get("skipped_inputs", 0)
    log.info(
        f"run {m['run_id']} finished: {plural(counts['documents'], 'document')} in, {counts['kept']:,} kept, "
        f"{counts['dropped']:,} dropped, {plural(counts['errors'], 'error')} in {m['seconds']:.1f} s",
        extra={
            "fields": {
                "event": "run_finished",
                "run_id": m["run_id"],
                "run_dir": str(result.run_dir),
                "seconds": m["seconds"],
                **{k: counts[k] for k in ("documents", "kept", "dropped", "errors")},
                "skipped_inputs": skipped,
            }
        },
    )
    if quiet:
        return
    print(summary_table(m))
    if skipped:
        print(
            f"skipped {plural(skipped, 'input')} processed unchanged by earlier runs "
            "(--reprocess to process them again)"
        )
    print(f"output: {result.run_dir}")


def report_recovery(recovery: dict) -> None:
    if recovery.get("stale_lock"):
        lock = recovery["stale_lock"]
        log.warning(
            f"took over a stale lock (pid {lock.get('pid')} on {lock.get('host')}, "
            f"started {lock.get('started')}, is gone)"
        )
    for problem in recovery.get("rebuilt", []):
        log.warning(f"rebuilt from the corpus: {problem}")
    for key, what in (
        ("rolled_forward", "completed the commit of"),
        ("discarded", "discarded unfinished"),
        ("resumed", "resumed unfinished"),
    ):
        if recovery.get(key):
            runs = recovery[key] if isinstance(recovery[key], list) else [recovery[key]]
            log.warning(f"{what} run {', '.join(runs)}")


def dry_run(config, inputs: list[str], output: str, reprocess: bool) -> str:
    """What `run` would do, read without writing anything (not even the output folder)."""
    check_inputs_exist(inputs)
    steps = build_steps(config)  # rule files and regexes checked, as a real run would
    files = list_inputs(inputs)
    store = InputStore.read_only(Path(output) / "state")
    try:
        todo, supersedes = select_inputs(files, store or _EmptyStore(), reprocess)
    finally:
        if store is not None:
            store.close()
    task_size = (
        task_size_for(todo, config.run["partitions"], config.read)
        if config.run["partitions"]
        else config.run["task_size"]
    )
    split_tail = dedup_mode_of(config, steps, Path(output) / "state") == "driver"  # as plan_run cuts
    tasks = plan_tasks(todo, task_size, config.read, split_tail=split_tail)
    new = {f.path for f in todo}
    replaced = {entry["path"] for entry in supersedes}
    size = sum(f.size or 0 for f in todo)
    lines = [
        "dry run: nothing is written",
        f"config: {config.path}",
        f"output: {output}",
        f"inputs: {plural(len(files), 'file')}; to process: {len(todo):,} ({size / 1e6:,.1f} MB), "
        f"of which {len(replaced):,} changed since an earlier run; "
        f"unchanged (skipped): {len(files) - len(todo):,}",
    ]
    for f in files[:DRY_RUN_LISTED]:
        state = "changed" if f.path in replaced else "new" if f.path in new else "unchanged"
        lines.append(f"  {state:<9} {f.path}" + (f"  ({f.error})" if f.error else ""))
    if len(files) > DRY_RUN_LISTED:
        lines.append(f"  ... and {len(files) - DRY_RUN_LISTED:,} more")
    workers = config.run["workers"] or default_workers()
    lines += [
        f"tasks: {len(tasks):,} (task_size {task_size:,}); engine {config.run['engine']}, "
        f"{plural(workers, 'worker')}",
        "",
        "effective config:",
        effective_yaml(config).rstrip(),
    ]
    return "\n".join(lines)


class _EmptyStore:
    """A corpus without a store yet: every input is new."""

    def get(self, _key: str) -> None:
        return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if isinstance(exc, sqlite3.DatabaseError) else text
