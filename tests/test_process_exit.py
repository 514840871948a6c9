"""How the `newsclean` process ends (pipeline.cli.entry): a run that succeeded skips the interpreter's
teardown (~0.3 s once numba is loaded) after the exit callbacks and the flush of stdout and stderr;
any other outcome, or a non-daemon thread still running, ends the usual way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

# the CLI's entry in a process that also registers an exit callback, holds an object whose __del__
# only the interpreter's teardown calls, and may leave a non-daemon thread running
SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
flags = Path(sys.argv[1])
atexit.register(lambda: (flags / "exit-callback").write_text("ran"))

class Torn:
    def __del__(self):
        (flags / "teardown").write_text("ran")

held = Torn()
sys.argv, mode = ["newsclean", *sys.argv[3:]], sys.argv[2]
import pipeline.cli as cli

def command_then_thread(args, run=cli._run_command):
    status = run(args)
    if mode == "thread":  # still running when the command has returned
        threading.Thread(target=lambda: (time.sleep(0.5), (flags / "thread").write_text("done"))).start()
    return status

cli._run_command = command_then_thread
cli.entry()
"""


def _run(tmp_path: Path, mode: str, *args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    flags = tmp_path / "flags"
    flags.mkdir()
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(flags), mode, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return done, {p.name for p in flags.iterdir()}


def test_a_finished_run_ends_after_its_exit_callbacks_and_output_without_the_teardown(tmp_path):
    out = tmp_path / "out"
    done, flags = _run(tmp_path, "plain", "run", "-i", str(SEEDS), "-o", str(out), "--progress", "off")
    assert done.returncode == 0, done.stderr
    assert "5 documents in, 5 kept" in done.stdout and "template_lines" in done.stdout  # the summary, whole
    assert flags == {"exit-callback"}  # the callbacks ran; the teardown (which calls __del__) did not
    assert len(list((out / "runs").iterdir())) == 1
    assert not list((out / "runs").glob("*/_work"))  # the work files went with the commit


def test_other_outcomes_end_the_usual_way(tmp_path):
    done, flags = _run(tmp_path, "plain", "run", "-i", str(tmp_path / "missing"), "-o", str(tmp_path / "o"))
    assert done.returncode == 2 and "input not found" in done.stderr
    assert flags == {"exit-callback", "teardown"}


def test_a_non_daemon_thread_still_running_is_waited_for(tmp_path):
    out = tmp_path / "out"
    done, flags = _run(tmp_path, "thread", "run", "-q", "-i", str(SEEDS), "-o", str(out), "--progress", "off")
    assert done.returncode == 0, done.stderr
    assert {"exit-callback", "thread"} <= flags  # the usual exit: the thread finished its work
