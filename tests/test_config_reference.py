"""One source of truth for defaults (code == config/default.yaml), the generated reference
(docs/config.md), `newsclean config`, `run --dry-run`, command-line overrides, logging."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main
from pipeline.config import DEFAULT_CONFIG, READ_DEFAULTS, RUN_DEFAULTS, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from corpus_helpers import write_articles  # noqa: E402


def shipped() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def test_code_defaults_equal_the_shipped_config_key_for_key():
    from pipeline.registry import STEPS, step_class

    raw = shipped()
    assert raw["run"] == RUN_DEFAULTS
    assert raw["read"] == READ_DEFAULTS
    steps = {
        item["step"]: {k: v for k, v in item.items() if k not in ("step", "enabled")} for item in raw["steps"]
    }
    assert sorted(steps) == sorted(STEPS)  # every step listed
    for name in STEPS:
        assert steps[name] == step_class(name).defaults, name


def test_every_built_in_step_declares_a_typed_schema_its_defaults_fit():
    from pipeline.config import ReadOptions, RunOptions, check_options
    from pipeline.options import Schema, defaults_of
    from pipeline.registry import STEPS, step_class

    assert defaults_of(RunOptions) == RUN_DEFAULTS and defaults_of(ReadOptions) == READ_DEFAULTS
    for name in STEPS:
        cls = step_class(name)
        if cls.defaults:
            assert issubclass(cls.Options, Schema), name
            assert cls.defaults == defaults_of(cls.Options), name
            # each default has its declared type and lies in its declared range
            assert check_options(cls.defaults, cls.Options, name) == cls.defaults


@pytest.mark.parametrize(
    "step, given, message",
    [
        ("clean_lines", "disabled_rules: [1, 2]", "clean_lines.disabled_rules: expected list of str"),
        ("normalize", "tone_marks: neww", "normalize.tone_marks must be keep, new or old, not 'neww'"),
        ("near_dedup", "verify: fuzzy", "near_dedup.verify must be exact or signature, not 'fuzzy'"),
        ("article_region", "threshold: 1.5", "article_region.threshold: must be in [0, 1], got 1.5"),
        (
            "quality_filter",
            "profiles: {vi: 3}",
            "quality_filter.profiles: expected dict of str to str, got dict ({'vi': 3})",
        ),
    ],
)
def test_schema_types_choices_and_ranges_are_checked_when_loading(tmp_path, step, given, message):
    config = tmp_path / "c.yaml"
    config.write_text(f"steps:\n  - step: {step}\n    {given}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert "c.yaml:3: " in str(err.value)  # the file and line of the key
    assert message in str(err.value)


def test_a_step_of_ones_own_may_declare_a_schema_or_a_plain_dict(tmp_path, monkeypatch):
    (tmp_path / "own_steps.py").write_text(
        "from pipeline.options import Schema, option\n"
        "from pipeline.step import Step\n\n\n"
        "class Typed(Step):\n"
        "    name = 'typed'\n\n"
        "    class Options(Schema):\n"
        "        share: float = option(0.5, high=0.9, low=0.1)\n"
        "        words: list[str] = option(['a'])\n\n"
        "    def process(self, doc):\n"
        "        pass\n\n\n"
        "class Plain(Step):\n"
        "    name = 'plain'\n"
        "    defaults = {'limit': 3}\n\n"
        "    def process(self, doc):\n"
        "        pass\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "c.yaml"

    def load(text: str):
        config.write_text(f"steps:\n{text}", encoding="utf-8")
        return load_config(config)

    loaded = load("  - step: own_steps:Typed\n    share: 0.2\n  - step: own_steps:Plain\n")
    assert loaded.steps == [
        ("own_steps:Typed", {"share": 0.2, "words": ["a"]}),
        ("own_steps:Plain", {"limit": 3}),
    ]
    for text, message in [
        ("  - step: own_steps:Typed\n    share: 0.95\n", "own_steps:Typed.share: must be in [0.1, 0.9]"),
        ("  - step: own_steps:Typed\n    words: [1]\n", "own_steps:Typed.words: expected list of str"),
        ("  - step: own_steps:Plain\n    limit: many\n", "own_steps:Plain.limit: expected int"),
        ("  - step: own_steps:Plain\n    limt: 2\n", "own_steps:Plain: unknown key 'limt' (known: limit)"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            load(text)


def test_a_config_with_only_steps_names_equals_the_shipped_one(tmp_path):
    """A step listed without options runs with the shipped options (no silent difference)."""
    names = "".join(
        f"  - step: {item['step']}\n" + ("    enabled: false\n" if item.get("enabled") is False else "")
        for item in shipped()["steps"]
    )
    bare = tmp_path / "bare.yaml"
    bare.write_text(f"steps:\n{names}", encoding="utf-8")
    assert load_config(bare).as_dict() == load_config().as_dict()


def test_docs_config_md_is_current():
    from pipeline.reference import reference_markdown

    current = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert current == reference_markdown(), (
        "docs/config.md is out of date: newsclean config --reference > docs/config.md"
    )


def test_reference_names_every_key_with_type_default_and_meaning():
    from pipeline.reference import reference_markdown
    from pipeline.registry import STEPS, step_class

    text = reference_markdown()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    keys = (
        len(RUN_DEFAULTS)
        + len(READ_DEFAULTS)
        - 1
        + len(READ_DEFAULTS["jsonl_fields"])
        + sum(len(step_class(name).defaults) for name in STEPS)
    )
    assert len(rows) == keys
    assert all(not row.endswith("|  |") for row in rows), [r for r in rows if r.endswith("|  |")]
    assert (
        "| `compresslevel` | int ≥ 0 | `2` |" in text and "| `languages` | list of strings | `[]` |" in text
    )
    assert "| `threshold` | number in (0, 1] | `0.8` |" in text  # near_dedup's range, from its schema
    assert "| `compression` | `gzip` \\| `zstd` \\| `none` |" in text


def test_config_command_prints_the_effective_config_that_loads_back(tmp_path, capsys):
    user = tmp_path / "user.yaml"
    user.write_text(
        "run: {workers: 3}\nsteps:\n  - step: length_filter\n    min_chars: 10\n"
        "  - step: pii_mask\n    enabled: false\n",
        encoding="utf-8",
    )
    assert main(["config", "-c", str(user)]) == 0
    printed = capsys.readouterr().out
    data = yaml.safe_load(printed)
    assert data["run"]["workers"] == 3 and data["run"]["compresslevel"] == 2  # given, and default
    assert data["steps"] == [
        {"step": "length_filter", "min_chars": 10, "min_words": 30, "max_chars": 1_000_000},
        {"step": "pii_mask", "enabled": False, "patterns": "pii.yaml"},
    ]
    again = tmp_path / "again.yaml"
    again.write_text(printed, encoding="utf-8")
    assert load_config(again).as_dict() == load_config(user).as_dict()


def test_a_section_that_is_not_a_mapping_is_a_config_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("run: 4\nsteps: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert "c.yaml:1" in str(err.value) and "'run' must be a mapping" in str(err.value)


def test_command_line_overrides_are_validated_with_the_config(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(None, {"run.workers": ("many", "--workers")})
    assert "command line --workers: run.workers: expected int" in str(err.value)
    assert load_config(None, {"run.workers": (3, "--workers")}).run["workers"] == 3


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    inputs = tmp_path / "in"
    write_articles(inputs, range(3))
    out = tmp_path / "out"
    assert main(["run", "-i", str(inputs), "-o", str(out), "--dry-run", "-w", "1"]) == 0
    plan = capsys.readouterr().out
    assert not out.exists()
    assert "inputs: 3 files; to process: 3" in plan and "tasks: 1 (task_size 2,000)" in plan
    assert plan.count("  new       ") == 3
    assert "effective config:" in plan and "near_dedup" in plan
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    (inputs / "page-001.txt").write_text("changed\n" * 50, encoding="utf-8")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert main(["run", "-i", str(inputs), "-o", str(out), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "to process: 1" in plan and plan.count("  unchanged ") == 2 and plan.count("  changed   ") == 1
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


# --- logging -------------------------------------------------------------------------------


def test_log_json_lines_with_level_and_run_fields(tmp_path, capsys):
    inputs = tmp_path / "in"
    write_articles(inputs, range(2))
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "-i",
                str(inputs),
                "-o",
                str(out),
                "-q",
                "-w",
                "1",
                "--progress",
                "off",
                "--log-level",
                "info",
                "--log-json",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().err.strip().splitlines()
    events = [json.loads(line) for line in lines]  # every stderr line is one JSON object
    started = next(e for e in events if e.get("event") == "run_started")
    assert started["inputs"] == 2 and started["tasks"] == 1
    finished = next(e for e in events if e.get("event") == "run_finished")
    assert finished["level"] == "info" and finished["logger"] == "newsclean"
    assert finished["documents"] == 2 and finished["kept"] == 2 and finished["errors"] == 0
    assert finished["time"].endswith("Z")
    # a second run finds nothing new: one info line; errors are JSON too
    assert main(["--log-json", "--log-level", "info", "run", "-i", str(inputs), "-o", str(out), "-q"]) == 0
    (event,) = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert event["event"] == "nothing_new" and event["skipped_inputs"] == 2
    assert main(["run", "-i", str(tmp_path / "typo"), "-o", str(out), "--log-json"]) == 2
    (error,) = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert error["level"] == "error" and "typo" in error["message"]


def test_an_unexpected_error_is_one_json_line_with_its_traceback(tmp_path, capsys, monkeypatch):
    import pipeline.commands.stats as stats

    def broken(args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(stats, "cmd_stats", broken)
    assert main(["--log-json", "stats", str(tmp_path)]) == 70
    (event,) = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert event["level"] == "error" and "disk on fire" in event["message"]
    assert "Traceback" in event["exception"] and "RuntimeError" in event["exception"]


def test_default_log_level_is_quiet_on_success_and_warning_shows_errors(tmp_path, capsys):
    inputs = tmp_path / "in"
    write_articles(inputs, range(1))
    out = tmp_path / "out"
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["stats", str(tmp_path / "nothing"), "--log-level", "error"]) == 1
    assert "no finished run" in capsys.readouterr().err


def test_stats_into_a_closed_pipe_ends_without_a_traceback(tmp_path):
    inputs = tmp_path / "in"
    write_articles(inputs, range(2))
    out = tmp_path / "out"
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    reader, writer = __import__("os").pipe()
    __import__("os").close(reader)  # `| head` that has already exited
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "stats", str(out)],
        stdout=writer,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    __import__("os").close(writer)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 141
