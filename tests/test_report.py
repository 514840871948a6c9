"""The run report: valid self-contained HTML holding the manifest's figures, bounded and deterministic."""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import html5lib
import orjson
import pytest
from report_helpers import finished_run, make_inputs, read_records

from pipeline.cli import main
from pipeline.report import collect as collect_module
from pipeline.report import write_report
from pipeline.report.collect import Reservoir, collect

XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    run_dir = finished_run(tmp_path_factory.mktemp("report"))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    path = write_report(run_dir, manifest)
    return {"dir": run_dir, "manifest": manifest, "path": path, "html": path.read_text(encoding="utf-8")}


def parse(html: str):
    """Parse with the WHATWG algorithm in strict mode: any parse error fails."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(html)


def table(doc, table_id: str) -> list[list[str]]:
    node = doc.find(f".//{XHTML}table[@id='{table_id}']")
    assert node is not None, f"no table #{table_id}"
    rows = node.findall(f"./{XHTML}tbody/{XHTML}tr")
    return [["".join(td.itertext()).strip() for td in tr.findall(f"{XHTML}td")] for tr in rows]


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_report_is_written_next_to_the_manifest_and_is_valid_html(run):
    assert run["path"] == run["dir"] / "report.html"
    doc = parse(run["html"])
    assert run["manifest"]["run_id"] in "".join(doc.find(f".//{XHTML}title").itertext())


def test_report_is_self_contained(run):
    doc = parse(run["html"])
    assert doc.findall(f".//{XHTML}script") == [] and doc.findall(f".//{XHTML}link") == []
    images = doc.findall(f".//{XHTML}img")
    assert len(images) >= 6  # funnel, removals, lengths, languages, duplicates, sources, throughput
    for img in images:
        src = img.get("src")
        assert src.startswith("data:image/svg+xml;base64,"), src[:60]
        svg = base64.b64decode(src.split(",", 1)[1])
        root = ET.fromstring(svg)  # a well-formed SVG document
        assert root.tag.endswith("svg")
        for node in root.iter():  # every reference is internal (#id): nothing to fetch
            for name, value in node.attrib.items():
                if name.endswith("href") or name == "src":
                    assert value.startswith("#"), (name, value)
        assert b"url(http" not in svg and b"@import" not in svg
        assert img.get("alt")


def test_funnel_holds_the_manifest_figures(run):
    manifest, doc = run["manifest"], parse(run["html"])
    rows = table(doc, "stages")
    assert [r[0] for r in rows[:-1]] == list(manifest["stages"])
    for row, stage in zip(rows, manifest["stages"].values()):
        assert number(row[1]) == stage["in"] and number(row[2]) == stage["kept"]
        assert number(row[3]) + number(row[4]) == sum(stage["dropped"].values())
        assert number(row[4]) == stage["errors"]
    counts = manifest["counts"]
    written = rows[-1]
    assert written[0] == "written"
    assert [number(c) for c in written[1:5]] == [
        counts["documents"],
        counts["kept"],
        counts["dropped"],
        counts["errors"],
    ]
    reasons = {r[0]: number(r[1]) for r in table(doc, "reasons")}
    assert reasons == counts["by_reason"]
    # the run has a duplicate, a length/language drop and two errors: all must show
    assert any(k.endswith("exact_duplicate") for k in reasons) and counts["errors"] == 2


def test_lines_removed_by_rule_match_the_stage_counters(run):
    manifest, doc = run["manifest"], parse(run["html"])
    expected = Counter()
    for stage in manifest["stages"].values():
        for key, n in stage.get("counters", {}).items():
            if key.startswith("lines_removed."):
                expected[key.split(".", 1)[1]] += n
    rows = table(doc, "removed-rules")
    assert rows[-1][0] == "all rules" and number(rows[-1][1]) == sum(expected.values())
    assert {r[0]: number(r[1]) for r in rows[:-1]} == dict(expected)
    assert "weather_widget" in expected and "related_list" in expected


def test_lengths_before_and_after_cleaning_come_from_the_records(run):
    kept = read_records(run["dir"], run["manifest"], "shards")
    rows = {r[0]: r for r in table(parse(run["html"]), "length-stats")}
    before, after = rows["kept, before cleaning"], rows["kept, after cleaning"]
    assert number(before[1]) == number(after[1]) == len(kept)
    assert number(before[2]) == sum(r["metadata"]["n_chars_raw"] for r in kept)
    assert number(after[2]) == sum(r["metadata"]["n_chars"] for r in kept)
    assert number(after[2]) < number(before[2])  # the seeds lose their widgets and related lists


def test_duplicate_clusters_and_sources(run):
    rejects = read_records(run["dir"], run["manifest"], "rejects")
    dups = Counter(r["dup_of"] for r in rejects if r.get("dup_of"))
    doc = parse(run["html"])
    assert {number(r[0]): number(r[1]) for r in table(doc, "cluster-sizes")} == dict(
        Counter(n + 1 for n in dups.values())
    )
    largest = table(doc, "largest-clusters")
    assert (
        largest[0][0] == dups.most_common(1)[0][0] and number(largest[0][1]) == dups.most_common(1)[0][1] + 1
    )
    sources = {r[0]: (number(r[1]), number(r[2])) for r in table(doc, "source-table")}
    assert sum(k + d for k, d in sources.values()) == run["manifest"]["counts"]["documents"]
    langs = {r[0]: number(r[1]) for r in table(doc, "language-table")}
    assert langs == {"vi": run["manifest"]["counts"]["kept"]}


def test_samples_show_kept_and_dropped_documents_with_reasons(run):
    html = run["html"]
    kept = read_records(run["dir"], run["manifest"], "shards")
    rejects = read_records(run["dir"], run["manifest"], "rejects")
    for record in kept:  # fewer than the sample size: all shown
        assert record["id"] in html
    for record in rejects:  # at most 3 per reason and fewer here: all shown, with their reason
        assert record["id"] in html and f"{record['stage']}:{record['reason']}" in html


def test_report_command_rebuilds_the_same_report_from_run_or_corpus_dir(run, capsys):
    path = run["path"]
    path.unlink()
    assert main(["report", str(run["dir"].parent.parent)]) == 0  # the corpus: its latest finished run
    assert path.read_text(encoding="utf-8") == run["html"]  # deterministic: byte for byte
    assert main(["report", str(run["dir"] / "nowhere")]) == 1
    assert "not a finished run" in capsys.readouterr().err


def _write_shard(path: Path, records: list[dict]) -> dict:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    return {"file": path.name, "records": len(records)}


def test_samples_stay_bounded_and_seeded_on_a_large_run(tmp_path, monkeypatch):
    monkeypatch.setattr(collect_module, "LENGTH_SAMPLE", 100)
    rng = random.Random(1)
    records = [
        {
            "id": f"doc-{i}",
            "text": "x" * 50,
            "source": f"site{i % 40}.vn",
            "metadata": {
                "language": "vi",
                "n_chars": 50 + i,
                "n_chars_raw": 80 + i + rng.randrange(100),
                "removed": {"related_list": 2},
            },
        }
        for i in range(3000)
    ]
    rejects = [
        {
            "id": f"dup-{i}",
            "reason": "exact_duplicate",
            "stage": "exact_dedup",
            "error": False,
            "dup_of": f"doc-{i % 7}",
            "source": "site0.vn",
            "metadata": {"removed": {}},
            "text": "x",
        }
        for i in range(500)
    ]
    manifest = {
        "run_id": "big",
        "counts": {
            "documents": 3500,
            "kept": 3000,
            "dropped": 500,
            "errors": 0,
            "by_reason": {"exact_dedup:exact_duplicate": 500},
        },
        "stages": {},
        "shards": [_write_shard(tmp_path / "part-00000.jsonl.gz", records)],
        "rejects": [_write_shard(tmp_path / "rejects-00000.jsonl.gz", rejects)],
    }
    figures = collect(tmp_path, manifest)
    assert figures.records_kept == 3000 and figures.records_rejected == 500
    assert len(figures.clean_kept.sample) == 100 and figures.clean_kept.count == 3000
    assert figures.clean_kept.total == sum(r["metadata"]["n_chars"] for r in records)  # totals stay exact
    assert len(figures.kept_examples) == collect_module.KEPT_EXAMPLES
    assert (
        len(figures.dropped_examples["exact_dedup:exact_duplicate"])
        == collect_module.DROPPED_EXAMPLES_PER_REASON
    )
    assert figures.removed_by_rule == {"related_list": 6000}  # no stage counters: summed from the records
    assert sum(figures.cluster_sizes.values()) == 7 and max(figures.cluster_sizes) == 73  # 500 = 7*71 + 3
    again = collect(tmp_path, manifest)
    assert (
        again.clean_kept.sample == figures.clean_kept.sample and again.kept_examples == figures.kept_examples
    )
    write_report(tmp_path, manifest)
    parse((tmp_path / "report.html").read_text(encoding="utf-8"))


def test_kept_figures_come_from_their_fields_and_the_examples_from_whole_lines(tmp_path):
    """A kept line is decoded into the few fields the figures count, its text skipped: quotes and
    backslashes in the text, a nested key of the same name, metadata that is null or not an object
    (the line is then read whole), a record without n_chars (its text's length) give the figures of
    the whole records, and the sampled examples carry their text. The filter's compact lines and
    lines with spaces give the same figures."""
    records = [
        {
            "id": "a",
            "text": 'quotes "x","source":"z" and \\ a backslash',
            "source": "s1.vn",
            "metadata": {
                "language": "vi",
                "n_chars": 40,
                "n_chars_raw": 50,
                "removed": [{"rule": "title", "n": 1}],
                "html_removed": [{"rule": "share_bar", "n": 2}],
            },
        },
        {
            "id": "b",
            "text": "no count: its length",
            "source": "s1.vn",
            "metadata": {"language": "en", "removed": {"related_list": 3}},
        },
        {"id": "c", "text": "null metadata", "metadata": None},
        {"id": "d", "text": "a list for metadata", "source": "", "metadata": []},
        {
            "id": "e",
            "text": "é ü 中文",
            "metadata": {"n_chars": 7, "quality": {"n_chars": 99, "language": "xx"}},
        },
    ]
    compact = tmp_path / "part-00000.jsonl.gz"
    with gzip.open(compact, "wb") as fh:
        fh.write(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"\n")  # and a blank line
    spaced = _write_shard(tmp_path / "part-00001.jsonl.gz", records)
    figures = collect_module.collect_records(tmp_path, [compact], [])
    assert figures.records_kept == 5
    assert figures.languages == {"vi": 1, "en": 1, "unknown": 3}
    assert figures.sources_kept == {"s1.vn": 2, "unknown": 3}
    no_count = sum(len(r["text"]) for r in records[1:4])
    assert (figures.clean_kept.count, figures.clean_kept.total) == (5, 40 + no_count + 7)
    assert (figures.raw_kept.count, figures.raw_kept.total) == (1, 50)
    assert figures.removed_in_records == {"title": 1, "related_list": 3}
    assert figures.docs_with_rule == {"title": 1, "related_list": 1}
    assert figures.docs_with_html_rule == {"share_bar": 1}
    assert {e["id"]: e["excerpt"] for e in figures.kept_examples} == {r["id"]: r["text"] for r in records}
    assert repr(collect_module.collect_records(tmp_path, [tmp_path / spaced["file"]], [])) == repr(figures)


def test_a_kept_shard_line_of_bad_utf8_fails_as_a_full_parse_does(tmp_path):
    """The figures decode a few fields of a kept line and skip its text; a shard on disk whose text holds
    bytes that are not UTF-8 (damage) must still fail the report as parsing the line whole does, not
    give figures that count it (or fail only when the line happens to be sampled as an example)."""
    good = [orjson.dumps({"id": f"k{i}", "text": "é ok", "metadata": {"n_chars": 4}}) for i in range(30)]
    bad = b'{"id": "bad", "text": "caf\xe9 \xff", "metadata": {"n_chars": 5}}'
    shard = tmp_path / "part-00000.jsonl"
    shard.write_bytes(b"\n".join([*good, bad, *good]) + b"\n")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(bad)
    with pytest.raises(orjson.JSONDecodeError):
        collect_module.collect_records(tmp_path, [shard], [])


def test_empty_run_renders(tmp_path):
    manifest = {
        "run_id": "empty",
        "counts": {"documents": 0, "kept": 0, "dropped": 0, "errors": 0, "by_reason": {}},
        "stages": {"read": {"in": 0, "kept": 0, "dropped": {}, "errors": 0, "seconds": 0.0}},
        "shards": [],
        "rejects": [],
    }
    doc = parse(write_report(tmp_path, manifest).read_text(encoding="utf-8"))
    assert table(doc, "stages")[-1][:2] == ["written", "0"]


def test_reservoir_keeps_a_fixed_size_sample_of_the_stream():
    reservoir = Reservoir(10, random.Random(7))
    for i in range(1000):
        reservoir.offer(lambda i=i: i)
    assert len(reservoir.items) == 10 and len(set(reservoir.items)) == 10
    assert reservoir.seen == 1000 and max(reservoir.items) >= 100  # later items get in, not just the first 10
    other = Reservoir(10, random.Random(7))
    for i in range(1000):
        other.offer(lambda i=i: i)
    assert other.items == reservoir.items


def test_length_histogram_bins_are_half_open_but_the_last():
    """Each bin counts bins[i] <= v < bins[i+1]; the last one also counts v == its right edge; values
    outside the edges are left out (the input's order does not matter)."""
    from pipeline.report.plots import _histogram

    assert _histogram([101, 10, 0, 100, 5, 99, 1], [1.0, 10.0, 100.0]) == [2, 3]
    assert _histogram([], [1.0, 10.0, 100.0]) == [0, 0]
    assert _histogram([3, 3, 7], [0.5, 3.0, 7.0]) == [0, 3]


def test_report_draws_its_charts_without_any_plotting_library(run, tmp_path):
    """The charts are written as SVG directly: with matplotlib unimportable the report is the same."""
    import shutil
    import subprocess
    import sys

    run_dir = shutil.copytree(run["dir"], tmp_path / "run")
    code = (
        "import json, sys\n"
        "sys.modules['matplotlib'] = None  # as if not installed: importing it raises ImportError\n"
        "from pipeline.report import write_report\n"
        f"run_dir = {str(run_dir)!r}\n"
        "manifest = json.load(open(run_dir + '/manifest.json'))\n"
        "write_report(run_dir, manifest)\n"
        "assert 'matplotlib' not in sys.modules or sys.modules['matplotlib'] is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    doc = parse(html)
    assert html.count('class="chart"') == run["html"].count('class="chart"') > 0
    assert table(doc, "stages") == table(parse(run["html"]), "stages")  # the same figures


def test_figures_collected_in_a_child_give_the_report_read_from_the_shards(run, tmp_path):
    """The run starts reading its shards in a forked process (report.start_collect) while it stages:
    the same report.html as reading them at the end; a pending collection of other shards is not used."""
    from pipeline.report import start_collect

    manifest, run_dir = run["manifest"], run["dir"]
    pending = start_collect(run_dir, manifest["shards"], manifest["rejects"])
    assert pending is not None  # the test process can fork
    try:
        written = write_report(run_dir, manifest, pending=pending).read_text(encoding="utf-8")
    finally:
        pending.close()
    assert written == run["html"]
    assert not pending._child._process.is_alive()

    other = start_collect(run_dir, manifest["shards"], [])  # not the manifest's shards: not taken
    try:
        assert other.figures(manifest) is None
    finally:
        other.close()
    assert not other._child._process.is_alive()


def test_a_child_that_dies_leaves_the_report_to_the_shards(run, monkeypatch):
    from pipeline.report import collect as collect_mod
    from pipeline.report import start_collect

    def dies(*args, **kwargs):
        import os

        os._exit(3)

    monkeypatch.setattr(collect_mod, "collect_records", dies)  # in the child (forked after this)
    manifest, run_dir = run["manifest"], run["dir"]
    pending = start_collect(run_dir, manifest["shards"], manifest["rejects"])
    monkeypatch.undo()  # the parent reads the shards itself, with the real function
    try:
        assert pending.figures(manifest) is None
        written = write_report(run_dir, manifest, pending=pending).read_text(encoding="utf-8")
    finally:
        pending.close()
    assert written == run["html"]


def test_a_fork_that_fails_leaves_the_report_to_the_shards(run, monkeypatch):
    """The report must never fail a run: where the child cannot be started (fork refused: no
    memory, too many processes), start_collect gives None and the report reads the shards."""
    import multiprocessing.process

    from pipeline.report import start_collect

    def refused(self):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refused)
    manifest, run_dir = run["manifest"], run["dir"]
    assert start_collect(run_dir, manifest["shards"], manifest["rejects"]) is None
    monkeypatch.undo()
    assert write_report(run_dir, manifest, pending=None).read_text(encoding="utf-8") == run["html"]


def _fed_run(tmp_path: Path, monkeypatch) -> tuple[Path, dict, list]:
    """A run of the report inputs with two records a shard, its lines handed to the shard writers'
    threads (and fed to the report's child) a few at a time; (run dir, manifest, what the pending
    figures gave: (fed from the lines, figures given))."""
    from pipeline import report
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline
    from pipeline.s7_write.jsonl import BackgroundShardWriter

    monkeypatch.setattr(BackgroundShardWriter, "CHUNK", 300)  # chunks cut inside shards and across them
    given: list = []
    real = report.PendingFigures.figures

    def figures(self, manifest):
        result = real(self, manifest)
        given.append((self.feed is not None, result is not None))
        return result

    monkeypatch.setattr(report.PendingFigures, "figures", figures)
    overrides = {
        "run.workers": (1, "-w"),
        "run.shard_size": (2, "--shard-size"),
        "run.progress": ("off", "-"),
    }
    result = run_pipeline(load_config(None, overrides), [make_inputs(tmp_path / "in")], tmp_path / "out")
    return result.run_dir, result.manifest, given


def test_the_report_fed_the_lines_the_filter_writes_is_the_report_of_the_shards(tmp_path, monkeypatch):
    """The run's report child parses the shard lines as the filter writes them (report.start_feed):
    the report is the one read from the shards afterwards, byte for byte."""
    run_dir, manifest, given = _fed_run(tmp_path, monkeypatch)
    assert len(manifest["shards"]) >= 2 and len(manifest["rejects"]) >= 2
    assert given == [(True, True)]  # the figures came from the fed lines
    fed = (run_dir / "report.html").read_text(encoding="utf-8")
    assert write_report(run_dir, manifest).read_text(encoding="utf-8") == fed


def test_a_fed_report_child_that_dies_leaves_the_report_to_the_shards(tmp_path, monkeypatch):
    """The child dies after a few records: the filter's copies stop (the pipe is broken), the run
    goes on, and the report reads the shards."""

    from pipeline.report import feed as feed_module

    def dies(run_dir, feed, spool_dir):  # the child's work: a few lines read, then gone
        feed.end()
        os.read(feed.read_ends[0], 100)
        os._exit(3)

    monkeypatch.setattr(feed_module, "collect_fed", dies)
    run_dir, manifest, given = _fed_run(tmp_path, monkeypatch)
    assert given == [(True, False)]
    assert (run_dir / "manifest.json").exists()
    monkeypatch.undo()
    fed = (run_dir / "report.html").read_text(encoding="utf-8")
    assert write_report(run_dir, manifest).read_text(encoding="utf-8") == fed
