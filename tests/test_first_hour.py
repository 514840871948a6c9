"""Issue 15 ("the first hour of a real user"): a typo'd input, packaged config, empty and
unreadable runs, and the smaller things a new user trips over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from corpus_helpers import article, write_articles  # noqa: E402


def manifests(output: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((output / "runs").glob("*/manifest.json"))]


# --- defect 4: a typo'd input ----------------------------------------------------------------


def test_nonexistent_input_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["run", "-i", str(tmp_path / "nonexistent"), "-o", str(out), "-q", "-w", "1"])
    err = capsys.readouterr().err
    assert status != 0
    assert err.strip().count("\n") == 0 and "nonexistent" in err and "not found" in err, err
    assert not out.exists()  # no state, no empty run committed


def test_unreadable_input_run_has_a_report_and_report_command_works(tmp_path, capsys):
    """An input that cannot be read (here a dangling link) has no size: the report is still written."""
    inputs = tmp_path / "in"
    write_articles(inputs, range(2))
    (inputs / "gone.txt").symlink_to(tmp_path / "deleted-target.txt")
    out = tmp_path / "out"
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    captured = capsys.readouterr()
    assert "report not written" not in captured.err, captured.err
    (run,) = manifests(out)
    assert run["counts"]["errors"] == 1 and run["counts"]["kept"] == 2
    report = out / "runs" / run["run_id"] / "report.html"
    assert report.is_file() and "3 input files" in report.read_text(encoding="utf-8")
    report.unlink()
    assert main(["report", str(out)]) == 0
    assert report.is_file()


# --- defect 5: from any working directory ----------------------------------------------------


def test_installed_package_carries_its_config(tmp_path):
    """Build the package as an installer would (build_py) and run it from another directory
    with -c omitted: the shipped config and rule files come from inside the package."""
    build = tmp_path / "build"
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
                    "--build-lib", str(build)], cwd=ROOT, check=True, capture_output=True)
    shipped = build / "pipeline" / "defaults"
    assert (shipped / "default.yaml").is_file() and (shipped / "rules" / "vi.yaml").is_file()
    assert (shipped / "quality" / "vi-bigrams.txt").is_file()
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": str(build)}
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "-i", str(ROOT / "seeds"), "-o", "corpus", "-q",
                           "-w", "1", "--progress", "off"], cwd=home, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    (run,) = manifests(home / "corpus")
    assert run["config_file"].startswith(str(build)), run["config_file"]  # the built copy, not the checkout
    assert run["counts"]["kept"] == 5


def test_user_config_uses_its_own_rule_file_and_shipped_ones(tmp_path):
    """A user's config elsewhere: a rule file next to it wins; names it does not have come from the package."""
    conf = tmp_path / "mine"
    (conf / "rules").mkdir(parents=True)
    (conf / "rules" / "mine.yaml").write_text("line_phrases:\n  my_widget: [Đọc thêm ở chỗ khác]\n",
                                              encoding="utf-8")
    (conf / "my.yaml").write_text(
        "steps:\n  - step: decode\n  - step: clean_lines\n    rules: [rules/mine.yaml, rules/vi.yaml]\n", encoding="utf-8")
    page = tmp_path / "page.txt"
    page.write_text(article(1).replace("\n\n", "\n\nĐọc thêm ở chỗ khác\n\n", 1), encoding="utf-8")
    from pipeline.config import load_config
    from pipeline.report.explain import explain

    explanation = explain(load_config(conf / "my.yaml"), str(page), 1)
    rules = {line.rule for line in explanation.lines if line.rule}
    assert "my_widget" in rules


# --- defect 2: stats and verify count the corpus, not the files -----------------------------


def test_stats_and_verify_count_the_corpus_not_superseded_records(tmp_path, capsys):
    inputs = tmp_path / "in"
    write_articles(inputs, range(3))
    out = tmp_path / "out"
    for extra in ([], ["--reprocess"]):  # the second run supersedes every record of the first
        assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off", *extra]) == 0
    assert sum(m["counts"]["kept"] for m in manifests(out)) == 6
    capsys.readouterr()
    assert main(["stats", str(out)]) == 0
    text = capsys.readouterr().out
    corpus_row = next(line for line in text.splitlines() if line.startswith("corpus "))
    assert corpus_row.split() == ["corpus", "3"]
    assert "3 records the runs kept were superseded" in text
    assert main(["verify", str(out)]) == 0
    said = capsys.readouterr().out
    assert "ok (3 documents in the corpus, 3 superseded records left out, 0 rejects)" in said, said


# --- defect 6: config mistakes that passed silently -------------------------------------------


def test_unknown_language_code_is_refused_with_file_line_key_and_valid_codes(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("steps:\n  - step: decode\n  - step: language_filter\n    languages: [vn]\n", encoding="utf-8")
    assert main(["run", "-c", str(config), "-i", str(ROOT / "seeds"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "c.yaml:4" in err and "language_filter.languages" in err and "'vn'" in err
    assert " vi " in err and " en " in err  # the valid codes are listed
    assert not (tmp_path / "o").exists()


def test_known_languages_are_the_models_codes():
    from pipeline.s5_filter.language import KNOWN_LANGUAGES, _identifier

    assert KNOWN_LANGUAGES == set(_identifier().nb_classes)


@pytest.mark.parametrize("content", ["", "# all rules moved elsewhere\n", "line_phrases: {}\nend_markers: {}\n"])
def test_empty_rule_file_is_refused(tmp_path, content):
    from pipeline.config import ConfigError, load_config
    from pipeline.runner import build_steps

    (tmp_path / "empty.yaml").write_text(content, encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text("steps:\n  - step: clean_lines\n    rules: [empty.yaml]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        build_steps(load_config(config))
    assert "empty.yaml" in str(err.value) and ("empty rule file" in str(err.value) or "no rule" in str(err.value))


@pytest.mark.parametrize("phrase, line", [("toà soạn", "Tòa soạn"), ("tòa soạn", "TOÀ SOẠN"),
                                          ("Thuỷ lợi", "thủy lợi")])
def test_rule_phrases_match_whatever_the_tone_mark_placement(tmp_path, phrase, line):
    from pipeline.s3_clean.rules import load_rules

    (tmp_path / "r.yaml").write_text(f"line_phrases:\n  office: ['{phrase}']\n", encoding="utf-8")
    rules = load_rules([tmp_path / "r.yaml"])
    hit = rules.line_rule(line)
    assert hit is not None and hit.name == "office"
