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
