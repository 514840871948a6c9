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
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from setuptools import setup; setup()",
            "-q",
            "build_py",
            "--build-lib",
            str(build),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    shipped = build / "pipeline" / "defaults"
    assert (shipped / "default.yaml").is_file() and (shipped / "rules" / "vi.yaml").is_file()
    assert (shipped / "quality" / "vi-bigrams.txt").is_file()
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": str(build)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "-i",
            str(ROOT / "seeds"),
            "-o",
            "corpus",
            "-q",
            "-w",
            "1",
            "--progress",
            "off",
        ],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (run,) = manifests(home / "corpus")
    assert run["config_file"].startswith(str(build)), run["config_file"]  # the built copy, not the checkout
    assert run["counts"]["kept"] == 5


def test_the_repository_config_folder_is_the_shipped_one():
    """config/ (what the README and users edit) and pipeline/defaults/ (what the package ships) are one folder."""
    assert (ROOT / "config").resolve() == (ROOT / "pipeline" / "defaults").resolve()
    from pipeline.config import DEFAULT_CONFIG

    assert DEFAULT_CONFIG.read_bytes() == (ROOT / "config" / "default.yaml").read_bytes()


def test_user_config_uses_its_own_rule_file_and_shipped_ones(tmp_path):
    """A user's config elsewhere: a rule file next to it wins; names it does not have come from the package."""
    conf = tmp_path / "mine"
    (conf / "rules").mkdir(parents=True)
    (conf / "rules" / "mine.yaml").write_text(
        "line_phrases:\n  my_widget: [Đọc thêm ở chỗ khác]\n", encoding="utf-8"
    )
    (conf / "my.yaml").write_text(
        "steps:\n  - step: decode\n  - step: clean_lines\n    rules: [rules/mine.yaml, rules/vi.yaml]\n",
        encoding="utf-8",
    )
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
        assert (
            main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off", *extra])
            == 0
        )
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
    config.write_text(
        "steps:\n  - step: decode\n  - step: language_filter\n    languages: [vn]\n", encoding="utf-8"
    )
    assert main(["run", "-c", str(config), "-i", str(ROOT / "seeds"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "c.yaml:4" in err and "language_filter.languages" in err and "'vn'" in err
    assert " vi " in err and " en " in err  # the valid codes are listed
    assert not (tmp_path / "o").exists()


def test_known_languages_are_the_models_codes():
    from pipeline.s5_filter.language import KNOWN_LANGUAGES, _identifier

    assert KNOWN_LANGUAGES == set(_identifier().nb_classes)


@pytest.mark.parametrize(
    "content", ["", "# all rules moved elsewhere\n", "line_phrases: {}\nend_markers: {}\n"]
)
def test_empty_rule_file_is_refused(tmp_path, content):
    from pipeline.config import ConfigError, load_config
    from pipeline.runner import build_steps

    (tmp_path / "empty.yaml").write_text(content, encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text("steps:\n  - step: clean_lines\n    rules: [empty.yaml]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        build_steps(load_config(config))
    assert "empty.yaml" in str(err.value) and (
        "empty rule file" in str(err.value) or "no rule" in str(err.value)
    )


@pytest.mark.parametrize(
    "phrase, line", [("toà soạn", "Tòa soạn"), ("tòa soạn", "TOÀ SOẠN"), ("Thuỷ lợi", "thủy lợi")]
)
def test_rule_phrases_match_whatever_the_tone_mark_placement(tmp_path, phrase, line):
    from pipeline.s3_clean.rules import load_rules

    (tmp_path / "r.yaml").write_text(f"line_phrases:\n  office: ['{phrase}']\n", encoding="utf-8")
    rules = load_rules([tmp_path / "r.yaml"])
    hit = rules.classify(line)
    assert hit is not None and hit.kind == "line" and hit.name == "office"


# --- defect 7: the smaller ones ---------------------------------------------------------------


@pytest.mark.slow
def test_resumed_run_reports_the_time_of_its_killed_attempt_too(tmp_path):
    import threading
    import time

    from corpus_helpers import run_cli, small_config

    config = small_config(tmp_path)  # task_size 2: several map tasks
    inputs = tmp_path / "in"
    write_articles(inputs, range(6))
    out = tmp_path / "out"
    flag = tmp_path / "waiting"
    held = 4.0

    def release():  # the first attempt is held at its first task for `held` seconds, then killed at the second
        deadline = time.monotonic() + 60
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(held)
        flag.unlink()

    releaser = threading.Thread(target=release)
    releaser.start()
    killed = run_cli(
        config,
        inputs,
        out,
        env={
            "NEWSCLEAN_TEST_WAIT_AT": "task",
            "NEWSCLEAN_TEST_WAIT_FILE": str(flag),
            "NEWSCLEAN_TEST_KILL_AT": "task:2",
        },
    )
    releaser.join()
    assert killed.returncode != 0 and not manifests(out)
    resumed = run_cli(config, inputs, out)
    assert resumed.returncode == 0, resumed.stderr
    (manifest,) = manifests(out)
    assert manifest["recovery"]["resumed"] == manifest["run_id"]
    assert manifest["recovery"]["earlier_attempts_seconds"] >= held
    assert manifest["seconds"] >= held + 0.0


def test_refilter_writes_its_report(tmp_path, capsys):
    inputs = tmp_path / "in"
    write_articles(inputs, range(3))
    out = tmp_path / "out"
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    assert main(["refilter", str(out), "-c", str(ROOT / "config" / "default.yaml"), "-q"]) == 0
    assert "report not written" not in capsys.readouterr().err
    refiltered = manifests(out)[-1]
    assert refiltered["kind"] == "refilter"
    report = out / "runs" / refiltered["run_id"] / "report.html"
    assert report.is_file() and refiltered["run_id"] in report.read_text(encoding="utf-8")


def test_html_block_removals_show_in_records_stats_report_and_explain(tmp_path, capsys):
    from test_extract_html import WIDGETS, page, paragraphs

    inputs = tmp_path / "in"
    inputs.mkdir()
    widgets = WIDGETS["share_bar"] + WIDGETS["weather_widget"]
    html = page(f"<article><h1>Tiêu đề</h1>{paragraphs()}{widgets}</article>")
    (inputs / "page.html").write_text(html, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    (run,) = manifests(out)
    run_dir = out / "runs" / run["run_id"]
    import gzip

    files = [s["file"] for s in run["shards"] + run["rejects"]]  # kept or dropped, the page has its record
    (record,) = [json.loads(line) for f in files for line in gzip.open(run_dir / f, "rt", encoding="utf-8")]
    assert sorted(record["metadata"]["html_removed"], key=lambda x: x["rule"]) == [
        {"rule": "share_bar", "n": 1},
        {"rule": "weather_widget", "n": 1},
    ]
    capsys.readouterr()
    assert main(["stats", str(out)]) == 0
    stats = capsys.readouterr().out
    assert "HTML blocks removed before extraction" in stats and "share_bar" in stats
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="html-blocks"' in report and "weather_widget" in report
    assert main(["explain", str(inputs / "page.html"), "--color", "never"]) == 0
    explained = capsys.readouterr().out
    assert "HTML blocks removed before extraction (sites.yaml): " in explained and "share_bar 1" in explained


def test_report_sample_text_is_in_a_proportional_font(tmp_path):
    inputs = tmp_path / "in"
    write_articles(inputs, range(1))
    out = tmp_path / "out"
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    (run,) = manifests(out)
    html = (out / "runs" / run["run_id"] / "report.html").read_text(encoding="utf-8")
    assert "<pre>" in html  # the samples
    import re

    (pre_rule,) = re.findall(r"(?m)^pre\{([^}]*)\}", html)
    assert "sans-serif" in pre_rule and "monospace" not in pre_rule and "font:" in pre_rule


# --- the record schema: created, source ---------------------------------------------------------


def _jsonl_corpus(tmp_path, config_text: str = "") -> list[dict]:
    import gzip

    inputs = tmp_path / "in"
    inputs.mkdir()

    def body(i):  # distinct articles (no near-duplicates among them)
        return article(i).split("\n\n", 1)[1]

    rows = [
        {"id": "naive", "text": body(1), "date": "2025-01-30T12:24:00"},
        {"id": "offset", "text": body(2), "date": "2025-01-30T05:24:00Z"},
        {"id": "date", "text": body(3), "date": "30/01/2025"},
    ]
    (inputs / "crawl-2025-01.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    args = ["run", "-i", str(inputs), "-o", str(tmp_path / "out"), "-q", "-w", "1", "--progress", "off"]
    if config_text:
        (tmp_path / "c.yaml").write_text(
            config_text
            + (ROOT / "config" / "default.yaml")
            .read_text(encoding="utf-8")
            .split("\nsteps:", 1)[1]
            .join(["steps:", ""]),
            encoding="utf-8",
        )
        args += ["-c", str(tmp_path / "c.yaml")]
    assert main(args) == 0
    (run,) = manifests(tmp_path / "out")
    run_dir = tmp_path / "out" / "runs" / run["run_id"]
    return [
        json.loads(line)
        for s in run["shards"]
        for line in gzip.open(run_dir / s["file"], "rt", encoding="utf-8")
    ]


def test_created_has_one_form_and_source_is_the_file_name(tmp_path):
    records = {r["id"]: r for r in _jsonl_corpus(tmp_path)}
    assert records["offset"]["created"] == "2025-01-30T05:24:00+00:00"  # the offset the record states
    assert records["naive"]["created"] == "2025-01-30"  # no offset known: the date alone
    assert records["date"]["created"] == "2025-01-30"
    assert {r["source"] for r in records.values()} == {
        "crawl-2025-01"
    }  # no URL: the file, not the folder "in"


def test_timezone_option_gives_naive_times_their_offset(tmp_path):
    records = {r["id"]: r for r in _jsonl_corpus(tmp_path, "read:\n  timezone: '+07:00'\n")}
    assert records["naive"]["created"] == "2025-01-30T12:24:00+07:00"
    assert records["offset"]["created"] == "2025-01-30T05:24:00+00:00"


def test_empty_input_folder_says_so_and_a_run_of_errors_only_has_its_report(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    assert main(["run", "-i", str(empty), "-o", str(out), "-w", "1", "--progress", "off"]) == 0
    assert "no input files in" in capsys.readouterr().err
    assert not list(out.glob("runs/*"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    assert main(["run", "-i", str(broken), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    (run,) = manifests(out)
    assert run["counts"] == {**run["counts"], "documents": 1, "kept": 0, "errors": 1}
    assert main(["report", str(out)]) == 0 and main(["stats", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_one_problem_is_said_in_the_singular(tmp_path, capsys):
    inputs = tmp_path / "in"
    write_articles(inputs, range(1))
    out = tmp_path / "out"
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    (run,) = manifests(out)
    (out / "runs" / run["run_id"] / "part-00099.jsonl").write_text("")  # a shard the manifest does not list
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip().endswith(": 1 problem"), err
