"""Logging of the `newsclean` commands: levels, and one JSON object per line for cron.

Everything the commands say on stderr goes through the `newsclean` logger, so
`--log-level` and `--log-json` apply to all of it. Plain lines read
`newsclean: <message>`; JSON lines are `{"time", "level", "logger", "message", ...}`
plus the fields a call passes as `extra={"fields": {...}}` (run id, counts, ...).
Figures meant for a person (summary tables, `stats`) stay on stdout.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys

import orjson

LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LEVEL = (
    "warning"  # a terminal shows warnings and errors; `--log-level info` adds the run's milestones
)

log = logging.getLogger("newsclean")


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr (tests and callers may replace it after setup)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode("utf-8")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "newsclean: " if record.levelno != logging.DEBUG else "newsclean: debug: "
        text = prefix + record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(level: str = DEFAULT_LEVEL, json_lines: bool = False) -> None:
    """Route the `newsclean` logger to stderr at `level`, as text or JSON lines (idempotent)."""
    for handler in list(log.handlers):
        log.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    log.addHandler(handler)
    log.setLevel(level.upper())
    log.propagate = False
