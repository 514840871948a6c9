"""Engines: the local engine never imports Ray; engine and dedup settings are validated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.engine import make_engine

ROOT = Path(__file__).resolve().parents[1]


def test_a_local_run_never_imports_ray(tmp_path: Path):
    code = (
        "import sys\n"
        "from pipeline.cli import main\n"
        f"assert main(['run', '-i', {str(ROOT / 'seeds')!r}, '-o', {str(tmp_path / 'out')!r}, '-q']) == 0\n"
        "assert 'ray' not in sys.modules, 'the local engine imported ray'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("key, value", [("engine", "spark"), ("dedup", "sometimes")])
def test_unknown_engine_or_dedup_mode_is_a_config_error(tmp_path: Path, key: str, value: str):
    path = tmp_path / "c.yaml"
    path.write_text(f"run:\n  {key}: {value}\nsteps: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"run.{key}"):
        load_config(path)


def test_local_engine_keeps_submission_order():
    with make_engine("local", 2) as engine:
        assert list(engine.map_ordered(abs, iter(range(-20, 0)))) == list(range(20, 0, -1))


_DEAD_WORKER = """
import json, os, signal, time
from pipeline.engine import local

def die_on_three(n):  # a task whose worker dies on 3, as one the kernel's OOM killer ends would
    if n == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return n

results = []
try:
    for n in local.map_ordered(die_on_three, range(8), workers=2):
        results.append(n)
except Exception as exc:
    print(json.dumps([type(exc).__name__, results]))
"""


def test_a_dead_worker_stops_the_map_with_an_error_not_a_hang():
    """multiprocessing.Pool waited forever for the task of a worker that died; now it is an error.
    In a child process with a time limit, so that a hang fails the test instead of stopping it."""
    import json

    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("the script's task is found in __main__ by forked workers only")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _DEAD_WORKER], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    error, results = json.loads(done.stdout.strip().splitlines()[-1])
    assert error == "BrokenProcessPool"
    assert results == list(range(len(results))) and len(results) <= 3  # in order, none past the dead one


def test_local_engine_does_not_fork_a_process_running_ray(monkeypatch: pytest.MonkeyPatch):
    """A child forked while one of Ray's threads holds a lock waits on it forever: with Ray running
    in this process the workers come from a fork server, and the results are the same."""
    import types

    from pipeline.engine import local

    assert local.forks_workers() == ("fork" in local.mp.get_all_start_methods())
    fake_ray = types.SimpleNamespace(is_initialized=lambda: True)
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    assert not local.forks_workers()
    assert local.start_method() in ("forkserver", "spawn")
    assert list(local.map_ordered(abs, [-3, -1, -2, 5], workers=2)) == [3, 1, 2, 5]
    fake_ray.is_initialized = lambda: False  # Ray imported but not started: forking is safe
    assert local.forks_workers() == ("fork" in local.mp.get_all_start_methods())
