"""The terminal path (issue 15, defect 1): `newsclean run` in a pseudo-terminal, with the
progress bar on, from the repository and from another working directory with `-c` omitted."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_in_pty(
    argv: list[str], cwd: Path, size: tuple[int, int] | None = (30, 100), timeout: float = 120
) -> tuple[int, str]:
    """Run `argv` with stdin/stdout/stderr on a pseudo-terminal of `size` (rows, columns; None: the
    0x0 of a bare pty, as under `script` from cron); (exit status, everything it printed)."""
    leader, follower = pty.openpty()
    if size:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.Popen(
        argv, cwd=cwd, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True
    )
    os.close(follower)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], timeout)
            if not ready:
                proc.kill()
                raise AssertionError(f"no output for {timeout} s: {b''.join(chunks)[-2000:]!r}")
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
    return proc.wait(timeout=timeout), b"".join(chunks).decode("utf-8", "replace")


def newsclean() -> list[str]:
    return [sys.executable, "-m", "pipeline"]


def test_run_in_a_terminal_shows_a_progress_bar_and_exits_0(tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(ROOT / "seeds", seeds)
    status, out = run_in_pty(
        newsclean() + ["run", "-i", str(seeds), "-o", str(tmp_path / "corpus"), "-w", "1"], cwd=ROOT
    )
    assert status == 0, out[-3000:]
    assert "Traceback" not in out
    assert "newsclean: " in out and " doc" in out, out[-3000:]  # tqdm's "newsclean: 5doc [...]" line
    assert f"{len(list(seeds.iterdir()))}doc" in out.replace(" ", "")
    assert "documents in" in out  # the summary table follows the bar


def test_progress_bar_on_a_terminal_with_columns_but_no_rows(tmp_path):
    """`script -qec "stty cols 100; newsclean run"`: 100 columns, 0 rows; tqdm would hide the bar."""
    status, out = run_in_pty(
        newsclean() + ["run", "-i", str(ROOT / "seeds"), "-o", str(tmp_path / "c"), "-w", "1"],
        cwd=ROOT,
        size=(0, 100),
    )
    assert status == 0, out[-3000:]
    assert "newsclean:5doc" in out.replace(" ", ""), out[:500]


def test_run_from_another_directory_without_config(tmp_path):
    """The README's first command, `newsclean run` (no options: the shipped config, seeds/, corpus/), in a
    directory that is not the repository (cron runs in $HOME), on a bare pty as `script` gives under cron."""
    elsewhere = tmp_path / "home"
    shutil.copytree(ROOT / "seeds", elsewhere / "seeds")
    status, out = run_in_pty(newsclean() + ["run", "--progress", "on"], cwd=elsewhere, size=None)
    assert status == 0, out[-3000:]
    assert "Traceback" not in out and "not found" not in out
    assert "newsclean: " in out and "doc" in out
    manifests = list((elsewhere / "corpus" / "runs").glob("*/manifest.json"))
    assert len(manifests) == 1
