"""`newsclean` command line. Each sub-command lives in pipeline/commands/ and
registers itself through `register(subparsers)`."""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import signal
import sys
import threading
from typing import NoReturn

from pipeline import __version__
from pipeline.config import ConfigError
from pipeline.log import DEFAULT_LEVEL, LEVELS, log, setup_logging

COMMANDS = [
    "pipeline.commands.run",
    "pipeline.commands.report",
    "pipeline.commands.explain",
    "pipeline.commands.stats",
    "pipeline.commands.verify",
    "pipeline.commands.refilter",
    "pipeline.commands.export",
    "pipeline.commands.config",
]
EXIT_CONFIG = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `yes | head` reports
EXIT_BUG = 70  # EX_SOFTWARE: an unexpected exception (its traceback is logged, as JSON with --log-json)


def _add_log_options(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        default=default,
        help=f"messages on stderr from this level up (default: {DEFAULT_LEVEL})",
    )
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=default,
        help="messages on stderr as JSON lines (time, level, logger, message, fields)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsclean", description="Clean scraped news into training-ready JSONL."
    )
    parser.add_argument("--version", action="version", version=f"newsclean {__version__}")
    _add_log_options(parser, None)  # before the command (`newsclean --log-json run`) ...
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
    for command in sub.choices.values():  # ... or after it (`newsclean run --log-json`)
        _add_log_options(command, argparse.SUPPRESS)
    return parser


class Terminated(BaseException):
    """SIGTERM (e.g. `kill`, a scheduler's timeout): raised so that the run unwinds like on Ctrl-C,
    releasing the lock and removing its temporary files; nothing is committed."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """The command's exit status (the process goes on: tests and the Python API call this)."""
    return _run_command(build_parser().parse_args(argv))


# commands whose success leaves nothing for the interpreter's teardown to finish (see `entry`)
QUICK_EXIT = frozenset({"run"})


def entry() -> NoReturn:
    """`newsclean` and `python -m pipeline`: main(), then the process ends.

    A finished run has written, fsynced and committed everything, and released its lock; what the
    interpreter would still do is free every object and module one by one, ~0.3 s once numba and
    its compiled kernels are loaded (its ~700 modules), in every run. So a run that succeeded ends
    through `exit_without_teardown`; any other command or status ends as usual."""
    args = build_parser().parse_args()
    status = _run_command(args)
    if status == 0 and args.command in QUICK_EXIT:
        exit_without_teardown(status)
    sys.exit(status)


def exit_without_teardown(status: int) -> NoReturn:
    """End the process with `status` as `sys.exit` would, less the interpreter's teardown (freeing
    objects, modules, the compiled code): what must still happen is done first — the exit callbacks
    (`atexit`: logging's flush, multiprocessing's and weakref finalizers) and the flush of stdout and
    stderr. Where that cannot be done the same way (a non-daemon thread still running, which the
    usual exit waits for; no `atexit._run_exitfuncs`; a flush that fails) the usual exit is taken."""
    run_exit_callbacks = getattr(atexit, "_run_exitfuncs", None)
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if run_exit_callbacks is None or others:
        sys.exit(status)
    run_exit_callbacks()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # the usual exit reports it (and sets its status) as before
        sys.exit(status)
    os._exit(status)


def _run_command(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    setup_logging(args.log_level or DEFAULT_LEVEL, bool(args.log_json))
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away (`stats | head`) shows up here, inside this try
        return status
    except ConfigError as exc:
        log.error(f"config error: {exc}")
        return EXIT_CONFIG
    except BrokenPipeError:
        # stdout's reader is gone: stop quietly, and keep the interpreter's final flush from complaining
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Terminated:
        log.error("terminated (SIGTERM); the next run resumes or completes this one")
        return 143
    except Exception as exc:  # a bug: logged with its traceback, so a JSON log stays one object a line
        log.exception(f"unexpected error: {type(exc).__name__}: {exc}")
        return EXIT_BUG
    finally:
        signal.signal(signal.SIGTERM, previous)
