"""Reading bytes from disk with a size cap, transparently decompressing (.gz, .zst)."""

from __future__ import annotations

from pathlib import Path

from pipeline.fs import INFLATE_ERRORS, open_decompressed


class InputTooLarge(Exception):
    pass


def read_capped(path: Path, max_bytes: int) -> bytes:
    """Whole file (decompressed when .gz or .zst), refusing more than `max_bytes` (bombs included)."""
    with open_decompressed(path) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputTooLarge(f"larger than read.max_bytes={max_bytes}")
    return data


def _zstd_error() -> tuple:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - a dependency
        return ()
    return (zstandard.ZstdError,)


ZSTD_ERRORS = _zstd_error()
READ_ERRORS = (OSError, EOFError, *INFLATE_ERRORS, InputTooLarge, *ZSTD_ERRORS)


def read_error_reason(exc: BaseException) -> str:
    """The error record's reason for a failed read: too_large, truncated (a cut gzip) or unreadable."""
    if isinstance(exc, InputTooLarge):
        return "too_large"
    if isinstance(exc, FileNotFoundError):  # gone between the listing and the read (rotated, moved)
        return "missing_input"
    return "truncated" if isinstance(exc, EOFError) else "unreadable"
