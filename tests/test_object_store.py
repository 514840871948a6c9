"""Inputs from and exports to object storage, against a real S3 server started by the test
(moto's server mode on 127.0.0.1, a free port), through s3fs as a user would use it."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest
from corpus_helpers import EPOCH, ROOT, corpus_view, small_config, write_articles

moto_server = pytest.importorskip(
    "moto.server", reason="moto[server] not installed (pip install -e '.[test]')"
)
pytest.importorskip("s3fs", reason="s3fs not installed (pip install -e '.[test]')")


pytestmark = pytest.mark.usefixtures("fixed_epoch")  # tests/conftest.py


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3(monkeypatch):
    """A local S3 endpoint; yields (s3fs filesystem, environment for the CLI subprocesses)."""
    import fsspec.config
    import s3fs

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its buckets in this process across servers: start from an empty store
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": endpoint})
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")
    fs.mkdir("crawl")
    fs.mkdir("exports")
    try:
        yield fs, env
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def newsclean(*args: str) -> int:
    """The CLI in this process (fast; the S3 server runs in a thread of it)."""
    from pipeline.cli import main

    return main([str(a) for a in args])


def cli(*args: str, env: dict, kill_at: str | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "SOURCE_DATE_EPOCH": EPOCH}
    full.pop("NEWSCLEAN_TEST_KILL_AT", None)
    if kill_at:
        full["NEWSCLEAN_TEST_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def put_crawl(fs, tmp_path):
    local = tmp_path / "news"  # the collection name (`source`) is the folder's, as the prefix's last part
    write_articles(local / "2025", range(5), dup_of={4: 0})
    fs.put(str(local) + "/", "crawl/news/", recursive=True)
    return local


def test_run_reads_inputs_from_s3_like_a_local_folder(s3, tmp_path):
    fs, _env = s3
    local = put_crawl(fs, tmp_path)
    config = small_config(tmp_path)
    from_s3, from_disk = tmp_path / "from-s3", tmp_path / "from-disk"
    assert newsclean("run", "-c", config, "-i", "s3://crawl/news", "-o", from_s3, "-q") == 0
    assert newsclean("run", "-c", config, "-i", local, "-o", from_disk, "-q") == 0
    view = corpus_view(from_s3)
    assert [r["id"] for r in view] == [
        "2025/page-000.txt",
        "2025/page-001.txt",
        "2025/page-002.txt",
        "2025/page-003.txt",
    ]  # ids relative to the prefix, the copy dropped
    assert view == corpus_view(from_disk)


def test_s3_inputs_are_incremental_and_a_changed_object_is_read_again(s3, tmp_path):
    fs, _env = s3
    local = put_crawl(fs, tmp_path)
    out = tmp_path / "out"
    run = ("run", "-c", small_config(tmp_path), "-i", "s3://crawl/news", "-o", out, "-q")
    assert newsclean(*run) == 0
    before = sorted((out / "runs").glob("*/manifest.json"))
    assert newsclean(*run) == 0  # through the local copies: nothing new (no run, or one of no documents)
    new_runs = sorted((out / "runs").glob("*/manifest.json"))[len(before) :]
    assert all(orjson.loads(m.read_bytes())["counts"]["documents"] == 0 for m in new_runs)

    fs.pipe(
        "crawl/news/2025/page-001.txt",
        (local / "2025" / "page-001.txt").read_bytes().replace("Mã tin".encode(), "Mã tin đã sửa".encode()),
    )
    assert newsclean(*run) == 0
    last = orjson.loads(sorted((out / "runs").glob("*/manifest.json"))[-1].read_bytes())
    assert [(e["input_path"], e["url"]) for e in last["inputs"]] == [
        ("2025/page-001.txt", "s3://crawl/news/2025/page-001.txt")
    ]
    view = corpus_view(out)
    assert len(view) == 4 and "Mã tin đã sửa" in next(
        r["text"] for r in view if r["id"] == "2025/page-001.txt"
    )

    fs.rm_file("crawl/news/2025/page-003.txt")  # gone from the bucket: no longer an input
    assert newsclean(*run, "--reprocess") == 0
    last = orjson.loads(sorted((out / "runs").glob("*/manifest.json"))[-1].read_bytes())
    assert [e["input_path"] for e in last["inputs"]] == [f"2025/page-00{i}.txt" for i in (0, 1, 2, 4)]
    assert not list((out / "state" / "remote-inputs").rglob("*page-003*"))


def test_one_object_as_input(s3, tmp_path):
    fs, _env = s3
    put_crawl(fs, tmp_path)
    out = tmp_path / "out"
    assert (
        newsclean(
            "run", "-c", small_config(tmp_path), "-i", "s3://crawl/news/2025/page-003.txt", "-o", out, "-q"
        )
        == 0
    )
    assert [r["id"] for r in corpus_view(out)] == ["page-003.txt"]


def test_explain_reads_one_object(s3, tmp_path, capsys):
    fs, _env = s3
    local = put_crawl(fs, tmp_path)
    assert (
        newsclean(
            "explain", "s3://crawl/news/2025/page-001.txt", "-c", small_config(tmp_path), "--color", "never"
        )
        == 0
    )
    first_line = (local / "2025" / "page-001.txt").read_text(encoding="utf-8").splitlines()[0]
    assert first_line in capsys.readouterr().out
    assert newsclean("explain", "s3://crawl/news", "-c", small_config(tmp_path)) == 1
    assert "names a prefix, not one object" in capsys.readouterr().err


def test_a_url_naming_nothing_is_a_one_line_error_before_anything_is_written(s3, tmp_path, capsys):
    fs, _env = s3
    put_crawl(fs, tmp_path)
    out = tmp_path / "out"
    assert newsclean("run", "-c", small_config(tmp_path), "-i", "s3://crawl/newz", "-o", out) == 2
    err = capsys.readouterr().err
    assert err == "newsclean: cannot run: input not found: s3://crawl/newz\n"
    assert not out.exists()


def test_a_run_refuses_an_s3_output_in_one_line(s3, tmp_path, capsys):
    fs, _env = s3
    write_articles(tmp_path / "in", range(1))
    assert (
        newsclean("run", "-c", small_config(tmp_path), "-i", tmp_path / "in", "-o", "s3://exports/corpus")
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "local folder" in err and "export" in err
    assert (
        newsclean("refilter", tmp_path / "in", "-c", small_config(tmp_path), "-o", "s3://exports/corpus") == 1
    )
    assert "local folder" in capsys.readouterr().err
    assert fs.ls("exports") == [] and not (ROOT / "s3:").exists() and not Path("s3:").exists()


def test_export_to_s3_and_a_killed_export_leaves_no_manifest(s3, tmp_path):
    fs, env = s3
    inputs = tmp_path / "in"
    write_articles(inputs, range(5))
    out = tmp_path / "out"
    assert newsclean("run", "-c", small_config(tmp_path), "-i", inputs, "-o", out, "-q") == 0

    assert newsclean("export", out, "s3://exports/v1", "--shard-size", "2", "--compression", "zstd") == 0
    manifest = orjson.loads(fs.cat("exports/v1/manifest.json"))
    assert manifest["records"] == 5 and [s["file"] for s in manifest["shards"]] == [
        "part-00000.jsonl.zst",
        "part-00001.jsonl.zst",
        "part-00002.jsonl.zst",
    ]
    import zstandard

    records = []
    for shard in manifest["shards"]:
        data = fs.cat(f"exports/v1/{shard['file']}")
        assert hashlib.sha256(data).hexdigest() == shard["sha256"] and len(data) == shard["bytes"]
        records += [
            orjson.loads(line)
            for line in zstandard.ZstdDecompressor().stream_reader(data).read().splitlines()
        ]
    assert sorted(records, key=lambda r: r["id"]) == corpus_view(out)
    assert manifest["source"]["runs"] == [p.name for p in sorted((out / "runs").iterdir())]
    from pipeline import read_corpus

    assert list(read_corpus("s3://exports/v1")) == records  # the Python API reads an export from the bucket
    assert newsclean("verify", "s3://exports/v1") == 0

    assert newsclean("export", out, "s3://no-such-bucket/v1") == 1  # one line, no traceback

    killed = cli(
        "export", str(out), "s3://exports/v1", "--shard-size", "1", env=env, kill_at="export_shard:2"
    )
    assert killed.returncode == -9
    fs.invalidate_cache()
    assert not fs.exists("exports/v1/manifest.json")  # the old one is gone, no new one half-written

    assert newsclean("export", out, "s3://exports/v1", "--shard-size", "1") == 0
    fs.invalidate_cache()
    manifest = orjson.loads(fs.cat("exports/v1/manifest.json"))
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls("exports/v1", detail=False))
    assert names == ["manifest.json"] + [
        f"part-{i:05d}.jsonl.gz" for i in range(5)
    ]  # old .zst shards removed
    assert [s["records"] for s in manifest["shards"]] == [1] * 5


def test_a_missing_backend_is_one_line_naming_the_extra():
    import importlib.util

    from pipeline.fs import StorageError, filesystem

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here: no missing backend to report")
    with pytest.raises(StorageError) as err:
        filesystem("gs://bucket/prefix")
    assert (
        str(err.value) == "gs://bucket/prefix: no backend for gs:// installed (pip install 'newsclean[gcs]')"
    )
