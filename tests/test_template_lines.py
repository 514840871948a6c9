"""template_lines: lines one source repeats across different documents are removed as template,
decided by the run's reduce (input order) and kept across runs in OUTPUT/state/template_lines/:
the same output for any number of workers and partitions, near-copies of one article never make
its paragraphs template, and a killed run leaves the counts as they were."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

from clean_helpers import P1, P2, P4, ROOT
from test_article_region import ARTICLES as SHORT
from test_article_region import LEAD, NOTE, P5, TITLE, _write_site, full_page

from pipeline.config import DEFAULT_CONFIG, load_config
from pipeline.runner import run_pipeline
from pipeline.s3_clean import template_lines as tl

COUNTS = Path("state") / tl.STATE_DIR / tl.TABLE_FILE
EXTRA = (
    "Các chuyên gia cho rằng cần có thêm chính sách hỗ trợ lâu dài để người dân yên tâm ổn định cuộc "
    "sống và sản xuất."
)
# four articles of one site, each long enough for article_region to take the page around it away
ARTICLES = [SHORT[0]] + [(title, (*body, more)) for (title, body), more in zip(SHORT[1:], (P4, P5, EXTRA))]
SITE_LINE = "Theo dõi Báo Biển Xanh trên mạng xã hội để cập nhật tin tức mới nhất mỗi ngày."


def _config(tmp: Path, **run) -> Path:
    """The shipped config (template_lines is on by default; rule files are found in the shipped config)."""
    on = DEFAULT_CONFIG.read_text(encoding="utf-8")
    assert "  - step: template_lines\n    min_docs:" in on
    for key, value in run.items():
        on = on.replace(f"\n  {key}: ", f"\n  {key}: {value}  # ", 1)
    path = tmp / f"config-{len(list(tmp.glob('config-*')))}.yaml"
    path.write_text(on, encoding="utf-8")
    return path


def _run(inputs: Path, out: Path, config: Path, workers: int = 1) -> list[dict]:
    run_pipeline(load_config(config), [inputs], out, workers=workers)
    return _kept(out)


def _kept(out: Path) -> list[dict]:
    records = []
    for shard in sorted(out.glob("runs/*/part-*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as fh:
            records += [json.loads(line) for line in fh]
    return sorted(records, key=lambda r: r["id"])


def _manifest(out: Path) -> dict:
    return json.loads(next(out.glob("runs/*/manifest.json")).read_text())


def _rules(record: dict) -> dict:
    return {x["rule"]: x["n"] for x in record["metadata"]["removed"]}


def _site(folder: Path, articles) -> Path:
    _write_site(folder, articles, NOTE)
    return folder


def test_template_line_found_across_pages_of_one_source(tmp_path):
    records = _run(_site(tmp_path / "site", ARTICLES), tmp_path / "out", _config(tmp_path))
    assert len(records) == len(ARTICLES)
    for record, (_title, body) in zip(records, ARTICLES):
        assert NOTE not in record["text"]
        assert _rules(record)["template_line"] >= 1
        assert all(p in record["text"] for p in body)  # every paragraph of the article stays
        assert record["metadata"]["n_chars"] == len(record["text"])
    assert (tmp_path / "out" / COUNTS).exists()


def test_near_copies_of_one_article_do_not_make_its_paragraphs_template():
    caption = "Ảnh: Minh Hoàng"
    base = full_page(TITLE, (LEAD, P1, caption, P2))
    copies = [base.replace("08:30", f"08:3{n}") + f"\nMã bài {n}\n" for n in range(4)]
    table = tl.Table()
    for text in copies:
        tl.count(table, "site", tl.text_key(text, 200), copy_bits=8)
    template = tl.template_of(table, min_docs=2, min_share=0.0).get("site", set())
    assert tl.line_key(caption) not in template and tl.line_key(LEAD) not in template
    # two different articles of the site do share their template lines
    other_title, other_body = ARTICLES[1]
    tl.count(table, "site", tl.text_key(full_page(other_title, other_body), 200), 8)
    template = tl.template_of(table, 2, 0.0)["site"]
    assert tl.line_key("© Bản quyền thuộc về Báo Biển Xanh") in template
    assert tl.line_key(caption) not in template


def test_same_output_for_workers_partitions_and_dedup_paths(tmp_path):
    site = _site(tmp_path / "site", ARTICLES * 2)
    one = _run(site, tmp_path / "w1", _config(tmp_path), workers=1)
    two = _run(site, tmp_path / "w2", _config(tmp_path), workers=2)
    three_parts = _run(site, tmp_path / "p3", _config(tmp_path, partitions=3), workers=1)
    sharded = _run(site, tmp_path / "sh", _config(tmp_path, partitions=3, dedup="sharded"), workers=2)
    tasks = _manifest(tmp_path / "p3")["tasks"]
    assert tasks == 3  # the input really was cut in three: each task alone holds too few pages
    assert _manifest(tmp_path / "sh")["dedup"] == "sharded"  # filter tasks edit the records there

    def strip(records):
        return [{k: v for k, v in r.items() if k != "added"} for r in records]

    assert strip(one) == strip(two) == strip(three_parts) == strip(sharded)
    assert all(NOTE not in r["text"] for r in one)


def test_a_later_run_removes_the_template_lines_learned_before(tmp_path):
    first = tmp_path / "site"
    _write_site(first, ARTICLES[:3], SITE_LINE)
    config, out = _config(tmp_path), tmp_path / "out"
    _run(first, out, config)
    # one new page of the same site (same input folder name): alone it could teach nothing
    new_title, new_body = ARTICLES[3]
    (first / "page3.txt").write_text(full_page(new_title, new_body, SITE_LINE), encoding="utf-8")
    records = _run(first, out, config)
    new = [r for r in records if r["metadata"]["input_path"] == "page3.txt"]
    assert len(new) == 1 and SITE_LINE not in new[0]["text"]
    assert _rules(new[0])["template_line"] >= 1
    assert all(p in new[0]["text"] for p in new_body)


def test_kill_before_commit_leaves_the_counts_unchanged(tmp_path):
    site, out, config = tmp_path / "site", tmp_path / "out", _config(tmp_path)
    _write_site(site, ARTICLES[:2], SITE_LINE)
    _run(site, out, config)
    before = (out / COUNTS).read_bytes()
    new_title, new_body = ARTICLES[2]
    (site / "page2.txt").write_text(full_page(new_title, new_body, SITE_LINE), encoding="utf-8")
    env = {**os.environ, "NEWSCLEAN_TEST_KILL_AT": "staged"}
    cmd = [sys.executable, "-m", "pipeline", "run", "-c", str(config), "-i", str(site), "-o", str(out), "-q"]
    killed = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True)
    assert killed.returncode != 0
    assert (out / COUNTS).read_bytes() == before
    _run(site, out, config)  # the rerun counts the new page once
    assert (out / COUNTS).read_bytes() != before
    after = tl.load_table(out / COUNTS)
    assert tl.line_key(new_body[0]) in after.lines["site"] and after.docs["site"] == 3


def test_counts_are_bounded_per_source_keeping_template_lines_first():
    table = tl.Table({"s": 100}, {"s": {k: [2, 0, 1, 2] if k % 10 == 0 else [1, 0, 1] for k in range(100)}})
    kept = tl.bounded(table, 10)
    assert sorted(kept.lines["s"]) == list(range(0, 100, 10)) and kept.docs == {"s": 100}
    assert tl.load_table_bytes(tl.dump_table(table)) == table


def test_a_large_source_needs_its_share_of_documents_not_two():
    """A signature or a stock caption in 2 of 1,000 articles is not the site's template; a widget
    label on a tenth of its pages is."""
    table = tl.Table()
    for n in range(1000):
        lines = [f"Bài số {n} có nội dung riêng của nó", "Tin cùng chuyên mục" if n % 10 == 0 else ""]
        if n in (3, 500):
            lines.append("Hiện trường vụ tai nạn.")
        tl.count(table, "big", tl.text_key("\n".join(lines), 200), copy_bits=8)
    template = tl.template_of(table, min_docs=2, min_share=0.05)["big"]
    assert template == {tl.line_key("Tin cùng chuyên mục")}
    assert tl.line_key("Hiện trường vụ tai nạn.") in tl.template_of(table, 2, 0.0)["big"]


def test_lossy_counting_bounds_a_large_source_and_keeps_its_template():
    """20,000 documents with five lines of their own each: the table keeps a few thousand lines, not
    100,000, and still finds the label on 6% of the pages (min_share 5%: buckets of 100 documents)."""
    table = tl.Table()
    for n in range(20000):
        own = [f"Dòng riêng số {k} của bài {n}" for k in range(5)]
        label = ["Tin cùng chuyên mục"] if n % 50 in (0, 7, 21) else []
        tl.count(table, "big", tl.text_key("\n".join(own + label), 200), copy_bits=8, width=100)
    assert len(table.lines["big"]) < 2000
    assert tl.template_of(table, 2, 0.05)["big"] == {tl.line_key("Tin cùng chuyên mục")}


def test_kill_after_the_manifest_is_rolled_forward_by_the_next_run(tmp_path):
    site, config = tmp_path / "site", _config(tmp_path)
    _write_site(site, ARTICLES[:3], SITE_LINE)
    _run(site, tmp_path / "whole", config)
    out = tmp_path / "out"
    env = {**os.environ, "NEWSCLEAN_TEST_KILL_AT": "commit"}  # manifest written, state not yet applied
    cmd = [sys.executable, "-m", "pipeline", "run", "-c", str(config), "-i", str(site), "-o", str(out), "-q"]
    assert subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True).returncode != 0
    assert not (out / COUNTS).exists()
    _run(site, out, config)  # nothing new to process: the finished run is applied first
    assert (out / COUNTS).read_bytes() == (tmp_path / "whole" / COUNTS).read_bytes()
