"""The kept records keep one schema, so that Arrow and Hugging Face `datasets` infer a real type
for every column (no `Json` fallback): counts by name as [{rule, n}] lists, `quality` a fixed set
of numbers, `created` one format (issue 15)."""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

import datasets
import pytest

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from corpus_helpers import article  # noqa: E402
from test_extract_html import WIDGETS, page  # noqa: E402


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory) -> list[Path]:
    """Page dumps (the seeds), an HTML page with widgets, JSONL records with and without URLs and dates,
    PII masking on: records whose optional fields differ as much as a real corpus's."""
    tmp = tmp_path_factory.mktemp("schema")
    inputs = tmp / "in"
    inputs.mkdir()
    for seed in sorted((ROOT / "seeds").glob("*.txt")):
        (inputs / seed.name).write_bytes(seed.read_bytes())
    prose = "".join(f"<p>{p}</p>" for p in article(30).split("\n\n")[1:])
    (inputs / "page.html").write_text(
        page(f"<article><h1>Tiêu đề</h1>{prose}{WIDGETS['share_bar']}{WIDGETS['weather_widget']}</article>"),
        encoding="utf-8",
    )
    rows = []
    for i in range(20, 24):
        body = article(i).split("\n\n", 1)[1]
        row = {"id": f"rec-{i}", "text": body + f"\n\nLiên hệ: toasoan{i}@example.vn"}
        if i % 2:
            row.update(url=f"https://tin{i}.example.vn/a.html", date="2025-01-30T12:24:00+07:00")
        rows.append(row)
    (inputs / "crawl.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    config = tmp / "c.yaml"
    config.write_text(
        (ROOT / "config" / "default.yaml")
        .read_text(encoding="utf-8")
        .replace("  - step: pii_mask", "  - step: pii_mask\n    enabled: true", 1)
        .replace("    enabled: false\n    patterns: pii.yaml", "    patterns: pii.yaml", 1),
        encoding="utf-8",
    )
    for name in ("rules", "quality"):
        (tmp / name).symlink_to(ROOT / "config" / name)
    for name in ("sites.yaml", "pii.yaml"):
        (tmp / name).symlink_to(ROOT / "config" / name)
    out = tmp / "out"
    assert (
        main(
            [
                "run",
                "-c",
                str(config),
                "-i",
                str(inputs),
                "-o",
                str(out),
                "-q",
                "-w",
                "1",
                "--progress",
                "off",
            ]
        )
        == 0
    )
    (manifest_path,) = out.glob("runs/*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["counts"]["kept"] >= 9, manifest["counts"]
    # uncompressed copies: datasets reads .jsonl.gz too, but the copies let pyarrow's reader see the same bytes
    plain = []
    for shard in manifest["shards"]:
        target = tmp / shard["file"].removesuffix(".gz")
        target.write_bytes(gzip.decompress((manifest_path.parent / shard["file"]).read_bytes()))
        plain.append(target)
    return plain


def records(files: list[Path]) -> list[dict]:
    return [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines() if line]


def test_the_run_has_every_kind_of_optional_field(mixed_run):
    metas = [r["metadata"] for r in records(mixed_run)]
    assert any(m.get("html_removed") for m in metas)
    assert any(m["pii"] for m in metas) and any(not m["pii"] for m in metas)
    assert any(m["url"] for m in metas) and any(not m["url"] for m in metas)
    assert any(m["removed"] for m in metas)
    # every record has every field (a field missing from some rows is typed JSON by `datasets`)
    assert len({tuple(m) for m in metas}) == 1
    assert len({tuple(r) for r in records(mixed_run)}) == 1


def _features_without_json(features, path="") -> list[str]:
    """Paths of columns `datasets` could only type as JSON (or not at all)."""
    bad = []
    if isinstance(features, dict):
        for key, value in features.items():
            bad += _features_without_json(value, f"{path}.{key}" if path else key)
    elif isinstance(features, (list, tuple)):
        for value in features:
            bad += _features_without_json(value, f"{path}[]")
    elif hasattr(features, "feature"):  # List / Sequence
        bad += _features_without_json(features.feature, f"{path}[]")
    elif type(features).__name__ == "Json":
        bad.append(path)
    return bad


def test_datasets_infers_a_real_type_for_every_column(mixed_run):
    ds = datasets.load_dataset("json", data_files=[str(p) for p in mixed_run], split="train")
    assert _features_without_json(ds.features) == []
    removed = ds.features["metadata"]["removed"]
    assert str(removed.feature) == str({"rule": datasets.Value("string"), "n": datasets.Value("int64")})
    quality = ds.features["metadata"]["quality"]
    assert quality and all(str(v) in ("Value('int64')", "Value('float64')") for v in quality.values())
    # one format, so Arrow even reads it as a time (dates and date-times with offsets alike)
    assert ds.features["created"].dtype.startswith("timestamp") or ds.features["created"].dtype == "string"
    # a column typed null holds nothing but nulls (an optional field no record had), not a drifting type
    rows = records(mixed_run)
    for key, feature in ds.features["metadata"].items():
        if feature == datasets.Value("null"):
            assert all(r["metadata"].get(key) is None for r in rows), key


def test_every_record_has_the_fixed_shape(mixed_run):
    from pipeline.s5_filter.quality_signals import SIGNAL_NAMES

    created = re.compile(r"^\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d[+-]\d\d:\d\d)?$")
    for record in records(mixed_run):
        meta = record["metadata"]
        for name in ("removed", "html_removed", "pii"):
            for item in meta.get(name, []):
                assert set(item) == {"rule", "n"} and isinstance(item["rule"], str) and type(item["n"]) is int
        assert tuple(meta["quality"]) == SIGNAL_NAMES
        assert all(type(v) in (int, float) for v in meta["quality"].values())
        assert record["created"] is None or created.match(record["created"]), record["created"]


def test_the_declared_arrow_schema_is_the_records_shape(mixed_run):
    from pipeline.s7_write.schema import METADATA, RECORD

    for record in records(mixed_run):
        assert list(record) == [name for name, _ in RECORD]
        assert list(record["metadata"]) == [name for name, _ in METADATA]


@pytest.fixture(scope="module")
def dumps_only_run(tmp_path_factory) -> list[Path]:
    """The seeds alone: no HTML, no URL, no PII, so several columns are empty in every record."""
    tmp = tmp_path_factory.mktemp("dumps")
    out = tmp / "out"
    assert main(["run", "-i", str(ROOT / "seeds"), "-o", str(out), "-q", "-w", "1", "--progress", "off"]) == 0
    (manifest_path,) = out.glob("runs/*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    plain = []
    for shard in manifest["shards"]:
        target = tmp / shard["file"].removesuffix(".gz")
        target.write_bytes(gzip.decompress((manifest_path.parent / shard["file"]).read_bytes()))
        plain.append(target)
    return plain


def test_columns_a_corpus_never_fills_still_have_their_type_with_the_schema(dumps_only_run):
    import pyarrow as pa
    import pyarrow.json as pj

    from pipeline.s7_write.schema import arrow_schema, datasets_features

    inferred = pj.read_json(dumps_only_run[0]).schema.field("metadata").type
    assert pa.types.is_null(inferred.field("url").type)  # what inference alone makes of an always-null column
    table = pj.read_json(dumps_only_run[0], parse_options=pj.ParseOptions(explicit_schema=arrow_schema()))
    assert table.schema == arrow_schema() and table.num_rows == len(records(dumps_only_run))
    ds = datasets.load_dataset(
        "json", data_files=[str(p) for p in dumps_only_run], features=datasets_features(), split="train"
    )
    assert "null" not in str(ds.features) and len(ds) == table.num_rows
    assert ds[0]["metadata"]["removed"] and ds[0]["metadata"]["html_removed"] == []
