"""The run report: `report.html` beside a run's manifest, built from the run's files alone.

`collect` streams the shards into bounded figures, `plots` draws them (plain SVG),
`html` lays them out in one self-contained page.

A run starts reading its shards (`start_collect`) as soon as they are written, in a forked
process, while it stages its state changes and builds its manifest; `write_report` then takes
those figures instead of reading the shards again (about 1 s per 30k documents off the run's
serial end). Where the run cannot fork, or the child fails, the report reads the shards itself.
"""

from __future__ import annotations

from pathlib import Path

REPORT_NAME = "report.html"


class PendingFigures:
    """The figures of a run's shards, collected by a forked child process (`start_collect`)."""

    def __init__(self, run_dir: Path, shards: list[dict], rejects: list[dict]):
        import multiprocessing as mp

        self.files = ([s["file"] for s in shards], [s["file"] for s in rejects])
        self._receive, send = mp.get_context("fork").Pipe(duplex=False)
        kept, rejected = ([run_dir / name for name in names] for names in self.files)
        self._process = mp.get_context("fork").Process(
            target=_collect_in_child, args=(send, run_dir, kept, rejected), daemon=True
        )
        try:
            self._process.start()
        except BaseException:  # no child: no pipe left open either
            self._receive.close()
            raise
        finally:
            send.close()

    def figures(self, manifest: dict):
        """The figures, for the shards `manifest` lists; None when the child had none to give."""
        listed = ([s["file"] for s in manifest["shards"]], [s["file"] for s in manifest["rejects"]])
        if listed != self.files:
            return None
        try:
            result = self._receive.recv()
        except (EOFError, OSError):  # the child died: the report reads the shards itself
            return None
        return None if isinstance(result, BaseException) else result

    def close(self) -> None:
        """Stop and reap the child (taken or not)."""
        self._receive.close()
        if self._process.is_alive():
            self._process.kill()
        self._process.join()


def _collect_in_child(send, run_dir: Path, kept: list[Path], rejected: list[Path]) -> None:
    import signal

    from pipeline.engine.local import _init_child
    from pipeline.report.collect import collect_records

    _init_child(None)  # dies with the run (even by SIGKILL), and on SIGTERM without a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the run stops it (PendingFigures.close)
    try:
        send.send(collect_records(run_dir, kept, rejected))
    except Exception as exc:  # the parent falls back to reading the shards
        send.send(exc)
    finally:
        send.close()


def start_collect(run_dir: Path, shards: list[dict], rejects: list[dict]) -> PendingFigures | None:
    """Start collecting the figures of written shards in a forked process (None where the run's
    workers are not forked: no fork, or Ray's threads in this process)."""
    from pipeline.engine.local import forks_workers

    if not forks_workers():
        return None
    try:
        return PendingFigures(Path(run_dir), shards, rejects)
    except OSError:  # fork refused (memory, process limit): the report must never fail a run
        return None


def write_report(run_dir: str | Path, manifest: dict, pending: PendingFigures | None = None) -> Path:
    """Write `run_dir/report.html` for a run whose shards are written; returns its path. `pending`:
    the figures of its shards, collected already (`start_collect`)."""
    from pipeline.report.collect import collect, with_manifest
    from pipeline.report.html import render
    from pipeline.s7_write.atomic import write_atomic

    run_dir = Path(run_dir)
    path = run_dir / REPORT_NAME
    figures = pending.figures(manifest) if pending is not None else None
    figures = collect(run_dir, manifest) if figures is None else with_manifest(figures, manifest)
    write_atomic(path, render(figures).encode("utf-8"))
    return path
