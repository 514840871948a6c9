"""`newsclean explain`: every original line, kept or removed, with the rule and where it is defined."""

from __future__ import annotations

import json
import re
from pathlib import Path

import html5lib
import pytest
from clean_helpers import SHARED

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.report.explain import explain, render_text

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_f110bbab04b0d966.txt"
GOLD = SHARED / "gold" / "000_f110bbab04b0d966.gold.json"
CONFIG = ROOT / "config" / "default.yaml"


@pytest.fixture(scope="module")
def seed():
    return explain(load_config(CONFIG), SEED)


def rule_lines(source: str) -> tuple[list[str], int]:
    """The rule file a removal points at ("config/rules/vi.yaml:100") as lines, and the 0-based index."""
    m = re.match(r"(.+\.yaml):(\d+)$", source)
    assert m, f"not a file:line: {source!r}"
    path = Path(m.group(1))
    path = path if path.is_absolute() else ROOT / path
    return path.read_text(encoding="utf-8").splitlines(), int(m.group(2)) - 1


def rule_file_line(source: str) -> str:
    lines, index = rule_lines(source)
    return lines[index]


def rule_family(source: str) -> str:
    """The rule name the pointed-at list item sits under (the nearest `  name:` key above it)."""
    lines, index = rule_lines(source)
    assert lines[index].lstrip().startswith("- "), lines[index]
    for line in reversed(lines[:index]):
        m = re.match(r"^  (\w+):\s*$", line)
        if m:
            return m.group(1)
    raise AssertionError(f"no rule name above {source}")


def test_lines_are_those_of_the_decoded_input(seed):
    original = SEED.read_text(encoding="utf-8").split("\n")
    assert [line.text for line in seed.lines] == original
    assert [line.no for line in seed.lines] == list(range(1, len(original) + 1))
    assert seed.drop is None and seed.final_chars > 0
    assert seed.metadata["title"].startswith("Thành tựu đối ngoại") and seed.metadata["author"] == "Hoàng Thư"
    assert "exact_dedup" in seed.steps_skipped


def test_weather_widget_removed_with_its_rule_and_pattern_line(seed):
    weather = [line for line in seed.lines if "°C" in line.text]
    assert len(weather) == 10
    for line in weather:
        assert line.rule == "weather_widget" and line.step == "clean_lines"
        assert rule_family(line.source) == "weather_widget"  # file:line is the pattern, under its rule name


def test_related_lists_removed_after_their_marker(seed):
    start = next(line.no for line in seed.lines if line.text.strip().casefold() == "bài liên quan")
    tail = [line for line in seed.lines[start - 1 :] if line.text.strip()]
    assert len(tail) > 50 and all(line.rule == "related_list" for line in tail)
    marker = seed.lines[start - 1]
    assert rule_file_line(marker.source).strip() == "- bài liên quan"
    assert rule_family(marker.source) == "related_list"


def test_article_paragraphs_kept(seed):
    prose = [line for line in seed.lines if len(line.text) > 200 and line.no < 69]
    assert len(prose) >= 15 and not any(line.removed for line in prose)


def test_gold_body_kept_and_boilerplate_removed(seed):
    if not GOLD.exists():
        pytest.skip(f"gold annotations not found at {GOLD} (shared data absent)")
    gold = json.loads(GOLD.read_text(encoding="utf-8"))
    by_no = {line.no: line for line in seed.lines}
    assert [n for n in gold["body_lines"] if by_no[n].removed] == []
    for span in gold["why_removed"]:
        for part in span.split(","):
            lo, _, hi = part.partition("-")
            for n in range(int(lo), int(hi or lo) + 1):
                assert by_no[n].removed or not by_no[n].text.strip(), (n, by_no[n].text)


def test_removals_made_by_steps_point_at_the_config(seed):
    title = next(line for line in seed.lines if line.rule == "title")
    m = re.match(r"(.+):(\d+) \(step dump_metadata\)", title.source)
    assert m, title.source
    assert "dump_metadata" in (ROOT / m.group(1)).read_text().splitlines()[int(m.group(2)) - 1]


def test_cli_colours_only_when_asked(capsys):
    assert main(["explain", str(SEED), "-c", str(CONFIG), "--color", "never"]) == 0
    plain = capsys.readouterr().out
    assert "\033[" not in plain
    assert re.search(r"^ *1 - weather_widget +Hà Nội 24 °C  ← \S*config/rules/vi\.yaml:\d+$", plain, re.M)
    assert main(["explain", str(SEED), "-c", str(CONFIG)]) == 0  # auto: stdout is not a terminal here
    assert "\033[" not in capsys.readouterr().out
    assert main(["explain", str(SEED), "-c", str(CONFIG), "--color", "always"]) == 0
    coloured = capsys.readouterr().out
    assert "\033[31m" in coloured and "\033[32m" in coloured


def test_html_output_is_valid_and_holds_every_line(tmp_path, seed, capsys):
    out = tmp_path / "explain.html"
    assert main(["explain", str(SEED), "-c", str(CONFIG), "--html", str(out), "--color", "never"]) == 0
    capsys.readouterr()
    doc = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(out.read_text(encoding="utf-8"))
    rows = doc.findall(".//table[@id='lines']/tbody/tr")
    assert len(rows) == len(seed.lines)
    removed = [r for r in rows if r.get("class") == "removed"]
    assert len(removed) == seed.n_removed
    assert {r.find("td[@class='rule']").text for r in removed} >= {"weather_widget", "related_list"}


def test_dropped_document_shows_step_and_reason(tmp_path):
    page = tmp_path / "short.txt"
    page.write_text("Tiêu đề ngắn gọn\n\nMột câu rất ngắn.\n", encoding="utf-8")
    e = explain(load_config(CONFIG), page)
    assert e.drop and e.drop["stage"] == "length_filter" and e.drop["reason"] == "too_short"
    assert "DROPPED by length_filter: too_short" in render_text(e)


def test_config_is_honoured(tmp_path):
    config = tmp_path / "no-weather.yaml"
    rules = ROOT / "config" / "rules"
    config.write_text(
        "steps:\n  - step: decode\n  - step: clean_lines\n"
        f"    rules: [{rules / 'vi.yaml'}, {rules / 'en.yaml'}]\n    disabled_rules: [weather_widget]\n",
        encoding="utf-8",
    )
    e = explain(load_config(config), SEED)
    assert e.steps_run == ["decode", "clean_lines"]
    assert not any(line.rule == "weather_widget" for line in e.lines)
    assert not e.lines[0].removed  # "Hà Nội 24 °C" now kept


def test_errors(tmp_path, capsys):
    assert main(["explain", str(tmp_path / "missing.txt"), "-c", str(CONFIG)]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["explain", str(tmp_path), "-c", str(CONFIG)]) == 1
    assert "is a directory" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert main(["explain", str(empty), "-c", str(CONFIG), "--color", "never"]) == 0
    assert "FAILED by decode: empty" in capsys.readouterr().out


def test_a_step_of_ones_own_in_the_extract_stage_gives_the_explained_text(tmp_path, monkeypatch):
    """Stage identity is the step's `pipeline_stage`, not the folder of its module: a custom extractor's
    output is the text whose lines are explained."""
    (tmp_path / "my_extract.py").write_text(
        "from pipeline.step import Step\n\n\n"
        "class Shout(Step):\n"
        "    name = 'shout'\n"
        "    pipeline_stage = 'extract'\n\n"
        "    def process(self, doc):\n"
        "        doc.text = doc.text.upper()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "c.yaml"
    config.write_text("steps:\n  - step: decode\n  - step: my_extract:Shout\n", encoding="utf-8")
    page = tmp_path / "page.txt"
    page.write_text("first line\nsecond line\n", encoding="utf-8")
    e = explain(load_config(config), page)
    assert [line.text for line in e.lines if line.text] == ["FIRST LINE", "SECOND LINE"]


def test_every_built_in_step_names_its_stage():
    from pipeline.registry import STEPS, step_class

    stages = {name: step_class(name).pipeline_stage for name in STEPS}
    assert set(stages.values()) <= {"read", "extract", "clean", "normalize", "filter", "dedup"}, stages
    assert [name for name, stage in stages.items() if stage in ("read", "extract")] == [
        "decode",
        "extract_html",
    ]
