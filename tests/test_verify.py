"""`newsclean verify OUTPUT`: a sound corpus passes; each kind of damage is named."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from corpus_helpers import small_config, write_articles

from pipeline.cli import main


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("verify")
    write_articles(base / "in", range(7), dup_of={6: 2})
    out = base / "corpus"
    assert main(["run", "-c", str(small_config(base)), "-i", str(base / "in"), "-o", str(out), "-q"]) == 0
    return out


@pytest.fixture
def corpus(pristine, tmp_path) -> Path:
    out = tmp_path / "corpus"
    shutil.copytree(pristine, out)
    return out


def the_run(corpus: Path) -> Path:
    [run] = [d for d in (corpus / "runs").iterdir() if (d / "manifest.json").exists()]
    return run


def verify_output(corpus: Path, capsys) -> tuple[int, str]:
    status = main(["verify", str(corpus)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def rewrite_shard(run: Path, name: str, edit) -> None:
    """Replace a shard's records by edit(records) and fix its hash in the manifest (schema damage only)."""
    path = run / name
    records = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    data = gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in edit(records)).encode())
    path.write_bytes(data)
    manifest = json.loads((run / "manifest.json").read_text())
    for shard in manifest["shards"]:
        if shard["file"] == name:
            shard.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (run / "manifest.json").write_text(json.dumps(manifest))


def test_sound_corpus_passes(corpus, capsys):
    status, out = verify_output(corpus, capsys)
    assert status == 0, out
    assert "ok (6 documents in the corpus, 1 reject)" in out


def test_corrupted_shard_is_found(corpus, capsys):
    shard = the_run(corpus) / "part-00000.jsonl.gz"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    status, out = verify_output(corpus, capsys)
    assert status == 1 and "part-00000.jsonl.gz: sha256 differs from the manifest" in out


def test_missing_and_unlisted_shards_are_found(corpus, capsys):
    run = the_run(corpus)
    (run / "part-00001.jsonl.gz").rename(run / "part-00009.jsonl.gz")
    status, out = verify_output(corpus, capsys)
    assert status == 1
    assert "part-00001.jsonl.gz: listed in the manifest but missing" in out
    assert "part-00009.jsonl.gz: shard not listed in the manifest" in out


def test_record_count_mismatch_is_found(corpus, capsys):
    run = the_run(corpus)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["shards"][0]["records"] += 1
    (run / "manifest.json").write_text(json.dumps(manifest))
    status, out = verify_output(corpus, capsys)
    assert status == 1 and "records, manifest says" in out


def test_schema_violations_are_found(corpus, capsys):
    def damage(records):
        del records[0]["source"]
        records[1]["metadata"]["n_chars"] += 5
        records[2]["added"] = "yesterday"
        return records

    rewrite_shard(the_run(corpus), "part-00000.jsonl.gz", damage)
    status, out = verify_output(corpus, capsys)
    assert status == 1
    assert "part-00000.jsonl.gz:1: source: expected str" in out
    assert "part-00000.jsonl.gz:2: metadata.n_chars" in out
    assert "part-00000.jsonl.gz:3: added: not an ISO 8601 UTC time" in out


def test_record_schema_drift_is_found(corpus, capsys):
    """The fixed shape Arrow needs: counts as [{rule, n}] lists, every field in every record, one `created` form."""

    def damage(records):
        records[0]["metadata"]["removed"] = {"weather_widget": 3}  # the old dict form
        del records[1]["metadata"]["sitename"]
        records[2]["created"] = "2025-01-30T12:24:00"  # a time without its offset
        return records

    rewrite_shard(the_run(corpus), "part-00000.jsonl.gz", damage)
    status, out = verify_output(corpus, capsys)
    assert status == 1
    assert "part-00000.jsonl.gz:1: metadata.removed: expected list" in out
    assert "part-00000.jsonl.gz:2: metadata: missing sitename" in out
    assert "part-00000.jsonl.gz:3: created: not an ISO 8601 date-time with offset nor a date" in out


def test_duplicate_ids_and_texts_across_runs_are_found(corpus, capsys):
    run = the_run(corpus)
    copy = run.with_name(run.name + ".copy")  # sorts after: a second finished run with the same records
    shutil.copytree(run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["run_id"] = copy.name
    (copy / "manifest.json").write_text(json.dumps(manifest))
    status, out = verify_output(corpus, capsys)
    assert status == 1
    assert "duplicate id 'page-000.txt'" in out
    assert "exact duplicate of the text at" in out


def test_unfinished_run_is_noted_not_counted(corpus, capsys):
    run = the_run(corpus)
    unfinished = run.with_name(run.name + ".partial")
    shutil.copytree(run, unfinished)
    (unfinished / "manifest.json").unlink()
    status, out = verify_output(corpus, capsys)
    assert status == 0, out
    assert "unfinished run (no manifest.json): not part of the corpus" in out
    assert "ok (6 documents" in out


def test_not_a_corpus(tmp_path, capsys):
    status, out = verify_output(tmp_path, capsys)
    assert status == 1 and "not a corpus" in out
