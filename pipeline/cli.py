"""`newsclean` command line. Each sub-command lives in pipeline/commands/ and
registers itself through `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"newsclean: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("newsclean: interrupted", file=sys.stderr)
        return 130
