"""zstd: shards written with `run.compression: zstd`, `.zst` inputs read like their plain twins,
a cut `.zst` reported as truncated; dolma documents (`.json.gz`, `.json.zst`, `.jsonl.zst`) as input."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import orjson
import zstandard
from corpus_helpers import EPOCH, article, corpus_view, run_cli, small_config, write_articles

from pipeline.cli import main
from pipeline.commands.verify import verify
from pipeline.s1_read.inputs import read_file

OPTIONS = {
    "max_bytes": 1 << 20,
    "jsonl_fields": {
        "id": "id",
        "url": "url",
        "html": "html",
        "text": "text",
        "title": "title",
        "created": "date",
    },
}


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


def read_all(path: Path) -> list:
    return [doc for _n, doc in read_file(path, path.parent, OPTIONS)]


def test_zstd_shards_hold_the_same_records_as_gzip_shards(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    inputs = tmp_path / "in"
    write_articles(inputs, range(7), dup_of={6: 1})
    corpora = {
        name: run_into(tmp_path, inputs, name, compression, capsys)
        for name, compression in (("gzip", "gzip"), ("zstd", "zstd"))
    }
    [run_dir] = list((corpora["zstd"] / "runs").iterdir())
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    assert [s["file"] for s in manifest["shards"]] == ["part-00000.jsonl.zst", "part-00001.jsonl.zst"]
    for shard in manifest["shards"]:
        data = (run_dir / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
        lines = zstandard.ZstdDecompressor().stream_reader(data).read().splitlines()
        assert len(lines) == shard["records"]
    assert corpus_view(corpora["zstd"]) == corpus_view(corpora["gzip"])
    assert len(corpus_view(corpora["zstd"])) == 6  # one exact duplicate dropped, in both
    assert (run_dir / "report.html").stat().st_size > 0
    assert verify(corpora["zstd"]).problems == []


def test_zstd_shards_of_the_sharded_dedup_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    inputs = tmp_path / "in"
    write_articles(inputs, range(7), dup_of={6: 1})
    out = run_into(tmp_path, inputs, "sharded", "zstd", capsys, "--dedup", "sharded")
    manifest = orjson.loads(next((out / "runs").glob("*/manifest.json")).read_bytes())
    assert manifest["dedup"] == "sharded" and manifest["shards"]
    assert all(s["file"].endswith(".jsonl.zst") for s in manifest["shards"] + manifest["rejects"])
    assert [r["id"] for r in corpus_view(out)] == [f"page-00{i}.txt" for i in range(6)]
    assert verify(out).problems == []


def run_into(tmp_path, inputs, name: str, compression: str, capsys, *extra: str):
    out = tmp_path / name
    config = small_config(tmp_path / f"cfg-{name}", compression=compression)
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q", *extra]) == 0
    assert "report not written" not in capsys.readouterr().err
    return out


def test_zst_inputs_read_like_their_plain_twins(tmp_path):
    page = article(3).encode()
    html = b"<html><head><title>T</title></head><body><article><p>" + page + b"</p></article></body></html>"
    crawl = b'{"id": "a", "text": "Bai mot."}\n\n{"id": "b", "html": "<p>Hai</p>"}\n'
    for name, data in (("page.txt", page), ("site/page.html", html), ("crawl.jsonl", crawl)):
        plain = tmp_path / "plain" / name
        packed = tmp_path / "zst" / (name + ".zst")
        for path, content in ((plain, data), (packed, zst(data))):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        want = [(d.id, d.raw, d.text, d.media_type, d.dropped) for d in read_all(plain)]
        got = [(d.id.replace(".zst", ""), d.raw, d.text, d.media_type, d.dropped) for d in read_all(packed)]
        assert got == want and not any(d[-1] for d in got)
    assert [d.id for d in read_all(tmp_path / "zst" / "site/page.html.zst")] == [
        "page"
    ]  # id without .html.zst


def test_a_cut_zst_input_is_a_truncated_error_record(tmp_path):
    data = zst(article(1).encode() * 50)
    page = tmp_path / "page.txt.zst"
    page.write_bytes(data[: len(data) // 2])
    [doc] = read_all(page)
    assert doc.drop_reason == "truncated" and "zstd" in doc.drop_detail

    lines = [json.dumps({"id": f"r{i}", "text": article(i)}).encode() + b"\n" for i in range(40)]
    crawl = tmp_path / "crawl.jsonl.zst"  # two frames, the second cut short
    crawl.write_bytes(zst(b"".join(lines[:25])) + zst(b"".join(lines[25:]))[:-40])
    docs = read_all(crawl)
    assert docs[-1].drop_reason == "truncated" and docs[-1].is_error
    assert [d.id for d in docs[:-1]] == [f"r{i}" for i in range(25)]
    assert not any(d.dropped for d in docs[:-1])


def test_garbage_zst_and_warc_zst_are_error_records_not_crashes(tmp_path):
    bad = tmp_path / "bad.txt.zst"
    bad.write_bytes(b"this is not zstd at all" * 3)
    [doc] = read_all(bad)
    assert doc.drop_reason == "unreadable" and "ZstdError" in doc.drop_detail
    warc = tmp_path / "crawl.warc.zst"
    warc.write_bytes(zst(b"WARC/1.0\r\n"))
    [doc] = read_all(warc)
    assert doc.drop_reason == "unsupported_format"


def dolma_record(i: int, **extra) -> dict:
    text = article(i).split("\n\n", 1)[1]  # body only
    return {
        "id": f"cc-{i}",
        "text": text + "\nnam miền bắc\n",
        "source": "common-crawl",
        "added": "2024-05-01T00:00:00.000Z",
        "created": "2019-04-18T11:40:22.000Z",
        "metadata": {"warc_id": f"<urn:uuid:{i}>", "lang": "vi"},
        **extra,
    }


def test_dolma_documents_as_input(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    lines = lambda records: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()  # noqa: E731
    (inputs / "part-0.json.gz").write_bytes(gzip.compress(lines([dolma_record(0), dolma_record(1)])))
    with_url = dolma_record(2)
    with_url["metadata"]["url"] = "https://www.example.vn/tin/2.html"
    (inputs / "part-1.json.zst").write_bytes(zst(lines([with_url])))
    (inputs / "part-2.jsonl.zst").write_bytes(zst(lines([dolma_record(3)])))
    out = tmp_path / "out"
    done = run_cli(small_config(tmp_path), inputs, out)
    assert done.returncode == 0, done.stderr
    records = {r["id"]: r for r in corpus_view(out)}
    assert sorted(records) == ["cc-0", "cc-1", "cc-2", "cc-3"]
    first = records["cc-0"]
    assert json.loads(first["metadata"]["input_metadata"]) == {"warc_id": "<urn:uuid:0>", "lang": "vi"}
    assert first["metadata"]["input_added"] == "2024-05-01T00:00:00.000Z"
    assert first["metadata"]["input_path"] == "part-0.json.gz#1"
    assert first["source"] == "common-crawl"  # no url: the dolma source names the collection
    assert first["created"].startswith("2019-04-18T11:40:22")
    assert "nam miền bắc" not in first["text"]  # cleaned like a page dump: the voice-picker line is gone
    assert first["metadata"]["removed"]
    assert records["cc-2"]["source"] == "example.vn"  # url from the dolma metadata
    assert records["cc-2"]["metadata"]["url"] == "https://www.example.vn/tin/2.html"
    assert verify(out).problems == []
