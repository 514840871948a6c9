"""Garbage in: every bad input gives a clear per-document error record and the run goes on.

Each test runs the whole pipeline over one good page and the bad input, and
checks: exit 0, the good page kept, the bad input's record (reason, stage,
error flag, detail naming the file), and the accounting of the run.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import pytest
from corpus_helpers import article, small_config

from pipeline.cli import main
from pipeline.commands.verify import verify
from pipeline.corpus import read_jsonl

GOOD = "good.txt"


def run_with(tmp_path: Path, files: dict[str, bytes], max_bytes: int | None = None) -> dict:
    """Run over GOOD + `files`; return the manifest, kept records and rejects by id."""
    inputs = tmp_path / "in"
    inputs.mkdir(exist_ok=True)
    (inputs / GOOD).write_text(article(1), encoding="utf-8")
    for name, data in files.items():
        path = inputs / os.fsdecode(name) if isinstance(name, bytes) else inputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    config = small_config(tmp_path)
    if max_bytes is not None:
        config.write_text(
            config.read_text(encoding="utf-8").replace("max_bytes: 52428800", f"max_bytes: {max_bytes}"),
            encoding="utf-8",
        )
    out = tmp_path / "out"
    started = time.monotonic()
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    seconds = time.monotonic() - started
    run = next((out / "runs").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    kept = [r for s in manifest["shards"] for r in read_jsonl(run / s["file"])]
    rejects = [r for s in manifest["rejects"] for r in read_jsonl(run / s["file"])]
    counts = manifest["counts"]
    assert counts["documents"] == counts["kept"] + counts["dropped"] + counts["errors"]
    assert len(kept) == counts["kept"] and len(rejects) == counts["dropped"] + counts["errors"]
    assert GOOD in {r["id"] for r in kept}, "the good page must survive its bad neighbour"
    assert verify(out).problems == []
    return {
        "manifest": manifest,
        "kept": kept,
        "rejects": rejects,
        "seconds": seconds,
        "by_path": _by_input(rejects),
    }


def _by_input(rejects: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rejects:
        path = r["metadata"]["input_path"]
        out.setdefault(
            path.split("#")[0] if "#" in path and path.rpartition("#")[2].isdigit() else path, []
        ).append(r)
    return out


def only_error(result: dict, name: str, reason: str | tuple, stage: str) -> dict:
    [record] = result["by_path"][name]
    reasons = reason if isinstance(reason, tuple) else (reason,)
    assert record["reason"] in reasons and record["stage"] == stage and record["error"] is True, record
    assert record["detail"], "an error record says what went wrong"
    return record


# --- bytes that are not text ---------------------------------------------------------------


def test_binary_file(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(32)) * 200
    result = run_with(tmp_path, {"image.txt": png})
    record = only_error(result, "image.txt", "binary", "decode")
    assert "control characters" in record["detail"]


def test_undecodable_bytes(tmp_path):
    result = run_with(tmp_path, {"broken.txt": b"words " + b"\x81\x8d\x8f\x90\x9d" * 100})
    record = only_error(result, "broken.txt", "undecodable", "decode")
    assert "utf-8" in record["detail"]


def test_nul_bytes(tmp_path):
    page = article(2).encode("utf-8")
    sprinkled = page.replace(b" ", b" \x00", 3)  # three NULs between words
    result = run_with(tmp_path, {"sprinkled.txt": sprinkled, "nul-heavy.txt": b"\x00abc" * 2000})
    kept = {r["id"]: r for r in result["kept"]}
    assert "\x00" not in kept["sprinkled.txt"]["text"]  # stray NULs removed, the page kept
    assert result["manifest"]["stages"]["decode"]["counters"]["control_chars_removed"] == 3
    only_error(result, "nul-heavy.txt", "binary", "decode")


def test_empty_file_and_unknown_format(tmp_path):
    result = run_with(tmp_path, {"empty.txt": b"", "data.bin": b"\x00\x01"})
    only_error(result, "empty.txt", "empty", "decode")
    only_error(result, "data.bin", "unsupported_format", "read")


def test_200_mb_single_line_file(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    with open(inputs / "huge.txt", "wb") as fh:  # 200 MB, one line, no newline
        chunk = b"x" * (1 << 20)
        for _ in range(200):
            fh.write(chunk)
    result = run_with(tmp_path, {})
    record = only_error(result, "huge.txt", "too_large", "read")
    assert "max_bytes" in record["detail"]
    assert result["seconds"] < 60


def test_gzip_bomb_is_capped(tmp_path):
    bomb = gzip.compress(b"\x00" * (64 << 20), compresslevel=9)  # 64 MB of zeros in ~64 KB
    assert len(bomb) < 200_000
    result = run_with(tmp_path, {"bomb.txt.gz": bomb}, max_bytes=8 << 20)
    record = only_error(result, "bomb.txt.gz", "too_large", "read")
    assert "max_bytes" in record["detail"]


def test_truncated_gzip(tmp_path):
    data = gzip.compress(article(3).encode("utf-8"))
    result = run_with(tmp_path, {"cut.txt.gz": data[: len(data) // 2]})
    record = only_error(result, "cut.txt.gz", "truncated", "read")
    assert "EOFError" in record["detail"] or "compressed" in record["detail"]


def damaged_deflate(data: bytes) -> bytes:
    """A gzip member of `data` whose deflate stream goes bad after its header: its first block
    says block type 3, which does not exist (a decompressor error, not a cut file or a bad CRC)."""
    member = gzip.compress(data, mtime=0)
    return member[:10] + b"\x07" + member[11:]


def test_damaged_gzip_is_one_unreadable_record(tmp_path):
    result = run_with(tmp_path, {"bad.txt.gz": damaged_deflate(article(3).encode("utf-8"))})
    record = only_error(result, "bad.txt.gz", "unreadable", "read")
    assert "invalid block type" in record["detail"]


def test_paths_with_odd_characters(tmp_path):
    page = article(4).encode("utf-8")
    names = [
        "with space.txt",
        "tiếng Việt.txt",
        "hash#1.txt",
        "-dash.txt",
        "new\nline.txt",
        "quote'\"*?.txt",
        b"latin1-\xe9.txt",
    ]  # the last is not valid UTF-8
    files = {name: page.replace(b"4", str(i).encode() + b"4") for i, name in enumerate(names)}
    result = run_with(tmp_path, files)
    ids = {r["id"] for r in result["kept"]} | {r["id"] for r in result["rejects"]}
    for name in names[:-1]:
        assert name in ids
    assert "latin1-\\udce9.txt" in ids  # the undecodable byte shown, not a crash
    assert result["manifest"]["counts"]["documents"] == len(names) + 1


# --- readers of other formats (HTML, JSONL, WARC) ------------------------------------------


def test_deeply_nested_html(tmp_path):
    nested = b"<html><body>" + b"<div>" * 100_000 + b"<p>deep</p>" + b"</div>" * 100_000 + b"</body></html>"
    unclosed = (
        b"<html><body><div><p>"
        + ("Một đoạn văn không đóng thẻ. " * 40).encode()
        + b"<div><span><b><i>" * 5000
    )
    result = run_with(tmp_path, {"nested.html": nested, "unclosed.html": unclosed})
    for name in ("nested.html", "unclosed.html"):
        records = result["by_path"].get(name, [])
        assert len(records) + sum(r["metadata"]["input_path"] == name for r in result["kept"]) == 1
    assert result["seconds"] < 60


def test_billion_laughs_is_not_expanded(tmp_path):
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'
        f"<html><body><p>&lol9;</p></body></html>"
    ).encode()
    started = time.monotonic()
    result = run_with(tmp_path, {"laughs.html": bomb, "laughs.xhtml": bomb})
    assert time.monotonic() - started < 60
    for name in ("laughs.html", "laughs.xhtml"):
        kept = [r for r in result["kept"] if r["metadata"]["input_path"] == name]
        assert len(kept) + len(result["by_path"].get(name, [])) == 1
        assert all(len(r["text"]) < 100_000 for r in kept)  # 10**9 "lol"s were never built


def test_jsonl_lines_that_are_not_json_or_miss_fields(tmp_path):
    good = json.dumps({"id": "j1", "text": article(5), "url": "https://example.vn/a"}, ensure_ascii=False)
    lines = [good, "{not json", json.dumps({"id": "j2"}), json.dumps([1, 2, 3]), "", json.dumps({"text": 5})]
    result = run_with(tmp_path, {"crawl.jsonl": "\n".join(lines).encode("utf-8")})
    records = result["by_path"].get("crawl.jsonl", [])
    errors = [r for r in records if r["error"]]
    assert len(errors) >= 4  # each bad line its own error record; the good line goes on
    assert all(r["stage"] == "read" and r["detail"] for r in errors)
    assert any(r["metadata"]["input_path"].startswith("crawl.jsonl") for r in result["kept"])


def test_jsonl_with_a_200_mb_line(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    with open(inputs / "huge.jsonl", "wb") as fh:
        fh.write(json.dumps({"id": "ok", "text": article(6)}, ensure_ascii=False).encode() + b"\n")
        fh.write(b'{"id": "big", "text": "')
        for _ in range(200):
            fh.write(b"y" * (1 << 20))
        fh.write(b'"}\n')
    result = run_with(tmp_path, {})
    records = result["by_path"].get("huge.jsonl", [])
    assert any(r["error"] for r in records)
    assert result["seconds"] < 120


def test_truncated_warc_archive(tmp_path):
    page = ("<html><body><p>" + article(7).replace("\n\n", "</p><p>") + "</p></body></html>").encode()
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + page
    record = (
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://example.vn/a\r\n"
        b"WARC-Record-ID: <urn:uuid:0000>\r\nContent-Length: "
        + str(len(http)).encode()
        + b"\r\n\r\n"
        + http
        + b"\r\n\r\n"
    )
    archive = gzip.compress(record) + gzip.compress(record.replace(b"0000", b"0001"))
    result = run_with(tmp_path, {"cut.warc.gz": archive[: len(archive) - 40]})
    records = result["by_path"].get("cut.warc.gz", [])
    assert any(r["error"] for r in records), "the cut record is reported"


# --- config errors before any work ---------------------------------------------------------


@pytest.mark.parametrize(
    "edit, message",
    [
        (("  - step: normalize", "  - step: normalize\n    colour: blue"), "unknown key 'colour'"),
        (("shard_size: 3", "shard_size: three"), "run.shard_size: expected int"),
        (("min_chars: 200", "min_chars: [200]"), "min_chars: expected int"),
    ],
)
def test_config_errors_stop_before_any_work(tmp_path, capsys, edit, message):
    config = small_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "-c", str(config), "-i", str(tmp_path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "config.yaml:" in err and err.count("\n") == 0
    assert not out.exists()


def test_bad_regex_in_a_rule_file_stops_before_any_work(tmp_path, capsys):
    rules = tmp_path / "bad-rules.yaml"
    rules.write_text("line_patterns:\n  widget: ['(unclosed']\n", encoding="utf-8")
    config = small_config(tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(
            "  - step: clean_lines\n    rules: [", f"  - step: clean_lines\n    rules: [{rules}, ", 1
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["run", "-c", str(config), "-i", str(tmp_path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad-rules.yaml:2" in err and "bad regex" in err and "widget" in err
    assert not out.exists()
