"""`newsclean explain INPUT`: every line of one input page, kept or removed, and by which rule."""

from __future__ import annotations

import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from pipeline.config import load_config
from pipeline.fs import StorageError, check_remote_inputs, is_url, stage_inputs
from pipeline.log import log


def register(sub) -> None:
    p = sub.add_parser("explain", help="show why each line of one input page was kept or removed")
    p.add_argument("input", help="one input file (a page dump, HTML page, WARC or JSONL file), or its URL")
    p.add_argument("-c", "--config", help="pipeline config (YAML; default: the shipped config/default.yaml)")
    p.add_argument("--record", type=int, default=1, help="which record of a multi-record file (1-based)")
    p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="ANSI colours (auto: only on a terminal)",
    )
    p.add_argument("--html", metavar="OUT.html", help="also write the explanation as an HTML page")
    p.set_defaults(func=cmd_explain)


def cmd_explain(args) -> int:
    from pipeline.report.explain import ExplainError, explain, render_html, render_text, use_color
    from pipeline.s7_write.atomic import write_atomic

    if args.record < 1:
        log.error("--record counts from 1")
        return 2
    config = load_config(args.config)
    try:
        with _local_copy(args.input) as path:
            explanation = explain(config, path, args.record)
    except (ExplainError, StorageError) as exc:
        log.error(str(exc))
        return 1
    sys.stdout.write(render_text(explanation, use_color(args.color, sys.stdout)))
    if args.html:
        out = Path(args.html)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, render_html(explanation).encode("utf-8"))
        print(f"html: {out}")
    return 0


@contextmanager
def _local_copy(given: str):
    """The input itself, or for a URL a temporary local copy of the one object it names."""
    if not is_url(given):
        yield given
        return
    check_remote_inputs([given])
    with tempfile.TemporaryDirectory(prefix="newsclean-explain-") as tmp:
        [copy] = stage_inputs([given], Path(tmp))
        if not Path(copy).is_file():
            raise StorageError(f"{given}: names a prefix, not one object (explain takes one input file)")
        yield copy
