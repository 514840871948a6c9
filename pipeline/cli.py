"""`newsclean` command line. Each sub-command lives in pipeline/commands/ and
registers itself through `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

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
    args = build_parser().parse_args(argv)
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
