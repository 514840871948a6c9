"""The project's own files agree: one version, the changelog, the test tiers."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

import pipeline

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_is_written_once_and_the_installed_metadata_carries_it():
    project = pyproject()
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pipeline.__version__"}
    assert importlib.metadata.version("newsclean") == pipeline.__version__


def test_changelog_has_an_unreleased_section_and_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text
    assert f"## [{pipeline.__version__}]" in text


def test_the_default_run_leaves_out_the_slow_tier_and_every_marker_is_registered():
    options = pyproject()["tool"]["pytest"]["ini_options"]
    assert options["addopts"][-2:] == ["-m", "not slow"]
    registered = {line.split(":")[0] for line in options["markers"]}
    assert registered == {"unit", "e2e", "slow"}
    from conftest import DEFAULT_MARKEXPR

    assert DEFAULT_MARKEXPR == "not slow"  # what --all lifts


def test_all_option_brings_back_the_slow_tier():
    """`pytest` leaves the slow test of test_report_browser.py out; `pytest --all` collects it."""
    import subprocess

    def collect(*extra: str) -> str:
        cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra]
        done = subprocess.run(
            [*cmd, "tests/test_report_browser.py"], cwd=ROOT, capture_output=True, text=True
        )
        return done.stdout.strip().splitlines()[-1]

    assert "1 deselected" in collect()
    assert collect("--all").startswith("1 test collected")
