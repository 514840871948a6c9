"""`newsclean` command line. Each sub-command lives in pipeline/commands/ and
registers itself through `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from pipeline import __version__
from pipeline.config import ConfigError

COMMANDS = [
    "pipeline.commands.run",
    "pipeline.commands.report",
    "pipeline.commands.explain",
    "pipeline.commands.stats",
    "pipeline.commands.verify",
    "pipeline.commands.refilter",
    "pipeline.commands.export",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsclean", description="Clean scraped news into training-ready JSONL.")
    parser.add_argument("--version", action="version", version=f"newsclean {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM (e.g. `kill`, a scheduler's timeout): raised so that the run unwinds like on Ctrl-C,
    releasing the lock and removing its temporary files; nothing is committed."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"newsclean: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("newsclean: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("newsclean: terminated (SIGTERM); the next run resumes or completes this one", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
