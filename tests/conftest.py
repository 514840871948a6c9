"""Shared fixtures and the test tiers.

Tiers (markers registered in pyproject.toml):
- `unit`: one function or step on made-up input; `e2e`: whole runs writing a corpus. Every test
  gets one of them from its module (E2E_MODULES below) unless it is marked itself.
- `slow`: tests taking more than ~3 s on an idle 2-core machine, marked where they are defined.

`python -m pytest` runs everything but the slow tier (pyproject's addopts: `-m "not slow"`);
`python -m pytest --all` runs every tier (CI, the README's command).
The helper modules (clean_helpers, corpus_helpers, …) stay importable by name: tests/ is on
sys.path (pytest's rootdir-relative import of test modules).
"""

from __future__ import annotations

import pytest

# modules whose tests mostly run the pipeline end to end, over files into a corpus
E2E_MODULES = {
    "test_api",
    "test_bad_inputs",
    "test_corpus_state",
    "test_crawl_inputs",
    "test_engines",
    "test_export",
    "test_first_hour",
    "test_incremental_property",
    "test_object_store",
    "test_ray_engine",
    "test_record_schema",
    "test_report",
    "test_report_browser",
    "test_robust_runs",
    "test_runner",
    "test_scheduled_runs",
    "test_seeds_gold",
    "test_sharded_dedup",
    "test_stats",
    "test_tail_overlap",
    "test_terminal",
    "test_verify",
    "test_zstd_dolma",
}
DEFAULT_MARKEXPR = "not slow"  # pyproject's addopts


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--all", action="store_true", help="run every tier, the slow tests too (CI)")


def pytest_configure(config: pytest.Config) -> None:
    # --all lifts the default `-m "not slow"`; a -m given on the command line is left alone
    if config.getoption("--all") and config.option.markexpr == DEFAULT_MARKEXPR:
        config.option.markexpr = ""


@pytest.hookimpl(tryfirst=True)  # before -m selects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # the Ray tests last: Ray leaves threads in this process; the local engine then starts its
    # workers from a fork server (pipeline/engine/local.py), but the tests of fork-only behaviour
    # (models shared with forked workers, monkeypatched functions seen by workers) need a plain process
    items.sort(key=lambda item: item.module is not None and item.module.__name__.endswith("test_ray_engine"))
    for item in items:
        if item.get_closest_marker("unit") or item.get_closest_marker("e2e"):
            continue
        module = item.module.__name__.rpartition(".")[2] if item.module else ""
        item.add_marker(pytest.mark.e2e if module in E2E_MODULES else pytest.mark.unit)


@pytest.fixture
def no_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """report.html is not what a test looks at."""
    import pipeline.report

    monkeypatch.setattr(pipeline.report, "write_report", lambda *args, **kwargs: None)


@pytest.fixture
def fixed_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """SOURCE_DATE_EPOCH set, so exported files carry a fixed time and compare byte for byte."""
    from corpus_helpers import EPOCH

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
