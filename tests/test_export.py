"""`newsclean export OUTPUT DEST`: the corpus view (superseded records left out) as fresh shards
with a manifest; a killed export leaves no manifest; DEST is refused when it holds other files."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys

import orjson
import pytest
from corpus_helpers import ROOT, article, corpus_view, small_config, write_articles

from pipeline.cli import main
from pipeline.commands.export import ExportError, export_corpus

pytestmark = pytest.mark.usefixtures("fixed_epoch")  # tests/conftest.py


def superseded_corpus(tmp_path):
    """A corpus whose runs hold 5 records of which 4 count: one input changed and was read again."""
    config = small_config(tmp_path)
    inputs = tmp_path / "in"
    write_articles(inputs, range(4))
    out = tmp_path / "out"
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    changed = inputs / "page-002.txt"
    changed.write_text(
        changed.read_text(encoding="utf-8").replace("Mã tin", "Mã tin đã sửa"), encoding="utf-8"
    )
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    in_files = [
        line for shard in out.glob("runs/*/part-*.jsonl.gz") for line in gzip.open(shard).read().splitlines()
    ]
    assert len(in_files) == 5  # what `runs/*/part-*` globbing reads
    return out


def read_export(dest) -> tuple[dict, list[dict]]:
    manifest = orjson.loads((dest / "manifest.json").read_bytes())
    records = []
    for shard in manifest["shards"]:
        data = (dest / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"] and len(data) == shard["bytes"]
        lines = gzip.decompress(data).splitlines()
        assert len(lines) == shard["records"]
        records += [orjson.loads(line) for line in lines]
    return manifest, records


def test_export_writes_the_corpus_view_not_the_files(tmp_path, capsys):
    out = superseded_corpus(tmp_path)
    dest = tmp_path / "export"
    assert main(["export", str(out), str(dest), "--shard-size", "3"]) == 0
    assert "exported 4 documents from 2 run(s) in 2 shard(s)" in capsys.readouterr().out
    manifest, records = read_export(dest)
    assert sorted(records, key=lambda r: r["id"]) == corpus_view(out) and len({r["id"] for r in records}) == 4
    assert "Mã tin đã sửa" in next(r["text"] for r in records if r["id"] == "page-002.txt")
    assert manifest["records"] == 4 and manifest["source"]["left_out"] == 1
    assert manifest["source"]["corpus"] == str(out.resolve())
    assert manifest["source"]["runs"] == sorted(p.name for p in (out / "runs").iterdir())
    assert sorted(p.name for p in dest.iterdir()) == [
        "manifest.json",
        "part-00000.jsonl.gz",
        "part-00001.jsonl.gz",
    ]


def test_a_killed_export_leaves_no_manifest_and_a_rerun_completes_it(tmp_path):
    out = superseded_corpus(tmp_path)
    dest = tmp_path / "export"
    export_corpus(out, dest, shard_size=4)  # a previous export: one shard of 4
    assert (dest / "manifest.json").exists()
    killed = subprocess.run(
        [sys.executable, "-m", "pipeline", "export", str(out), str(dest), "--shard-size", "1"],
        cwd=ROOT,
        env={**__import__("os").environ, "NEWSCLEAN_TEST_KILL_AT": "export_shard:2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9
    assert not (dest / "manifest.json").exists()  # neither the old one (stale) nor a half-written new one
    assert not any(p.name.startswith(".manifest") for p in dest.iterdir())

    manifest = export_corpus(out, dest, shard_size=1)
    assert [s["file"] for s in manifest["shards"]] == [f"part-{i:05d}.jsonl.gz" for i in range(4)]
    _manifest, records = read_export(dest)
    assert sorted(records, key=lambda r: r["id"]) == corpus_view(out)
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.json"] + [
        s["file"] for s in manifest["shards"]
    ]


def test_a_smaller_export_removes_the_shards_it_does_not_rewrite(tmp_path):
    out = superseded_corpus(tmp_path)
    dest = tmp_path / "export"
    export_corpus(out, dest, shard_size=1, compression="none")
    manifest = export_corpus(out, dest, shard_size=10, compression="zstd")
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.json", "part-00000.jsonl.zst"]
    assert manifest["compression"] == "zstd" and manifest["records"] == 4


def test_export_refuses_a_folder_with_other_files_and_a_missing_corpus(tmp_path, capsys):
    out = superseded_corpus(tmp_path)
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    assert main(["export", str(out), str(dest)]) == 1
    err = capsys.readouterr().err
    assert "not empty and not a newsclean export" in err and "notes.txt" in err and err.count("\n") == 1
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]
    with pytest.raises(ExportError, match="no finished run"):
        export_corpus(tmp_path / "nothing", tmp_path / "e2")


def test_records_a_refilter_dropped_are_not_exported(tmp_path, monkeypatch):
    from pipeline.commands.refilter import refilter
    from pipeline.config import load_config

    inputs = tmp_path / "in"
    write_articles(inputs, range(3))
    longer = inputs / "page-000.txt"  # twice the words of the others: the only one over the new limit
    text = longer.read_text(encoding="utf-8")
    longer.write_text(text + "\n" + article(10).split("\n\n", 1)[1], encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    strict = tmp_path / "strict"
    strict.mkdir()
    (strict / "vi.yaml").write_text(
        f"stop_words: [và]\ncommon_bigrams: {ROOT}/config/quality/vi-bigrams.txt\n"
        "thresholds:\n  n_words: {min: 250}\n",
        encoding="utf-8",
    )
    (strict / "config.yaml").write_text(
        "steps:\n  - step: quality_filter\n    profiles: {vi: vi.yaml}\n", encoding="utf-8"
    )
    monkeypatch.delenv("SOURCE_DATE_EPOCH")  # refilter would take the first run's id (a run id of that epoch)
    assert refilter(load_config(strict / "config.yaml"), out)["counts"]["kept"] == 1

    manifest = export_corpus(out, tmp_path / "export")
    _manifest, records = read_export(tmp_path / "export")
    assert [r["id"] for r in records] == ["page-000.txt"] and manifest["records"] == 1
    assert manifest["source"]["left_out"] == 3  # the first run's 3 records, replaced by the refilter run's 1


def test_verify_checks_an_export_against_its_manifest(tmp_path, capsys):
    out = superseded_corpus(tmp_path)
    dest = tmp_path / "export"
    export_corpus(out, dest, shard_size=2)
    capsys.readouterr()
    assert main(["verify", str(dest)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{dest}: ok (export, 4 documents)")

    shard = dest / "part-00001.jsonl.gz"
    shard.write_bytes(shard.read_bytes()[:-8])  # cut: its gzip trailer gone
    manifest = orjson.loads((dest / "manifest.json").read_bytes())
    manifest["records"] = 5
    (dest / "manifest.json").write_bytes(orjson.dumps(manifest))
    assert main(["verify", str(dest)]) == 1
    out_text = capsys.readouterr().out
    assert "part-00001.jsonl.gz: unreadable: EOFError" in out_text
    assert "2 records in the shards, manifest says 5" in out_text


def test_datasets_loads_an_export(tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets not installed (a test extra)")
    out = superseded_corpus(tmp_path)
    manifest = export_corpus(out, tmp_path / "export", shard_size=3, compression="zstd")
    files = [str(tmp_path / "export" / shard["file"]) for shard in manifest["shards"]]
    ds = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert ds.num_rows == 4 and sorted(ds["id"]) == [r["id"] for r in corpus_view(out)]


def test_any_fsspec_filesystem_works_for_inputs_and_exports(tmp_path):
    """The generic path (no ETag: objects are always fetched), on fsspec's in-process memory:// store."""
    import fsspec

    from pipeline import read_corpus

    memory = fsspec.filesystem("memory")
    local = tmp_path / "crawl"
    write_articles(local, range(3))
    for page in sorted(local.iterdir()):
        memory.pipe(f"/nc-test/crawl/{page.name}", page.read_bytes())
    try:
        out = tmp_path / "out"
        assert (
            main(
                [
                    "run",
                    "-c",
                    str(small_config(tmp_path)),
                    "-i",
                    "memory://nc-test/crawl",
                    "-o",
                    str(out),
                    "-q",
                ]
            )
            == 0
        )
        assert [r["id"] for r in corpus_view(out)] == ["page-000.txt", "page-001.txt", "page-002.txt"]
        manifest = export_corpus(out, "memory://nc-test/export")
        assert memory.exists("/nc-test/export/manifest.json") and manifest["records"] == 3
        assert list(read_corpus("memory://nc-test/export")) == corpus_view(out)
    finally:
        memory.rm("/nc-test", recursive=True)
