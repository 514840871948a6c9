"""Reading bytes from disk with a size cap, transparently un-gzipping."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path


class InputTooLarge(Exception):
    pass


def read_capped(path: Path, max_bytes: int) -> bytes:
    """Whole file (decompressed when .gz), refusing more than `max_bytes` (gzip bombs included)."""
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    else:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputTooLarge(f"larger than read.max_bytes={max_bytes}")
    return data


READ_ERRORS = (OSError, EOFError, zlib.error, InputTooLarge)


def read_error_reason(exc: BaseException) -> str:
    """The error record's reason for a failed read: too_large, truncated (a cut gzip) or unreadable."""
    if isinstance(exc, InputTooLarge):
        return "too_large"
    if isinstance(exc, FileNotFoundError):  # gone between the listing and the read (rotated, moved)
        return "missing_input"
    return "truncated" if isinstance(exc, EOFError) else "unreadable"
