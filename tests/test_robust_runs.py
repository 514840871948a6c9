"""Inputs that move or break, ids that cannot collide, bounded work, clean failure (issue 18, part B).

Each test reproduces one row of the issue's table on a few generated pages and checks
the behaviour the README promises: an error record with a reason, a one-line message
and a documented exit status, or the input tried again by the next run.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from corpus_helpers import EPOCH, article, corpus_view, run_cli, small_config, write_articles

from pipeline.cli import main


def set_option(config: Path, key: str, value: str, step: str | None = None) -> None:
    """Replace `  key: ...` in a small_config copy (the first occurrence, or the first in `step`'s entry)."""
    text = config.read_text(encoding="utf-8")
    start = text.index(f"- step: {step}\n") if step else 0
    head, tail = text[:start], text[start:]
    tail, n = re.subn(rf"(?m)^(\s+{key}:)[^\n#]*", rf"\g<1> {value}  ", tail, count=1)
    assert n == 1, key
    config.write_text(head + tail, encoding="utf-8")


def rejects_of(output: Path) -> list[dict]:
    from pipeline.corpus import finished_runs, read_jsonl

    return [
        record
        for run in finished_runs(output)
        for shard in run.manifest["rejects"]
        for record in read_jsonl(run.dir / shard["file"])
    ]


# --- D4 / K3: numeric options validated with their range before any work -----------------


@pytest.mark.parametrize(
    "key,value,shown",
    [
        ("task_size", "-5", "run.task_size: must be >= 1"),
        ("compresslevel", "10", "run.compresslevel must be 0-9 for gzip"),
        ("shard_size", "0", "run.shard_size: must be >= 1"),
        ("workers", "-1", "run.workers: must be >= 0"),
        ("max_bytes", "-1", "read.max_bytes: must be >= 1"),
        ("threshold", "2.0", "near_dedup.threshold: must be in (0, 1]"),
        ("threshold", "0", "near_dedup.threshold: must be in (0, 1]"),
    ],
)
def test_numeric_option_out_of_range_is_refused_before_any_work(tmp_path, capsys, key, value, shown):
    config = small_config(tmp_path)
    set_option(config, key, value, step="near_dedup" if key == "threshold" else None)
    write_articles(tmp_path / "in", [1, 2])
    out = tmp_path / "out"
    assert main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert shown in err and re.search(r"config\.yaml:\d+: ", err), err
    assert len(err.splitlines()) == 1
    assert not out.exists()  # refused before anything was touched


def test_workers_option_on_the_command_line_is_checked(tmp_path, capsys):
    write_articles(tmp_path / "in", [1])
    assert (
        main(
            [
                "run",
                "-c",
                str(small_config(tmp_path)),
                "-i",
                str(tmp_path / "in"),
                "-o",
                str(tmp_path / "out"),
                "-w",
                "-3",
                "-q",
            ]
        )
        == 2
    )
    assert "run.workers: must be >= 0" in capsys.readouterr().err


# --- S1: the lock is never followed through a symlink -----------------------------------


def test_symlinked_lock_is_refused_and_its_target_untouched(tmp_path, capsys):
    write_articles(tmp_path / "in", [1])
    out = tmp_path / "out"
    (out / "state").mkdir(parents=True)
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (out / "state" / "run.lock").symlink_to(target)
    assert (
        main(["run", "-c", str(small_config(tmp_path)), "-i", str(tmp_path / "in"), "-o", str(out), "-q"])
        == 65
    )
    err = capsys.readouterr().err
    assert "run.lock is a symbolic link" in err and len(err.strip().splitlines()) == 1
    assert target.read_text() == "keep me\n"
    assert not (out / "runs").exists()


# --- K3: operating errors are one line and a documented exit status; the next run recovers --


def test_corrupt_id_registry_is_rebuilt_and_collisions_are_still_found(tmp_path, capsys):
    inputs, out = tmp_path / "in", tmp_path / "out"
    jsonl_file(inputs / "a.jsonl", [("r1", 1), ("r2", 2)])
    config = small_config(tmp_path)
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    (out / "state" / "ids.sqlite").write_bytes(b"this is not a database" * 100)
    jsonl_file(inputs / "b.jsonl", [("r2", 3), ("r3", 4)])  # r2 is a.jsonl's
    capsys.readouterr()
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert "newsclean: rebuilt from the corpus: ids: " in err and "is unreadable" in err
    assert [r["id"] for r in corpus_view(out)] == ["r1", "r2", "r3"]
    assert [(r["metadata"]["input_path"], r["reason"]) for r in rejects_of(out)] == [
        ("b.jsonl#1", "duplicate_id")
    ]
    assert "a.jsonl (an earlier run)" in rejects_of(out)[0]["detail"]


def test_id_registry_that_cannot_be_rebuilt_is_one_line_and_exit_65(tmp_path, capsys):
    inputs, out = tmp_path / "in", tmp_path / "out"
    jsonl_file(inputs / "a.jsonl", [("r1", 1)])
    config = small_config(tmp_path)
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    (out / "state" / "ids.sqlite").unlink()
    for shard in out.glob("runs/*/part-*"):  # the corpus it would be rebuilt from is damaged too
        shard.unlink()
    jsonl_file(inputs / "b.jsonl", [("r2", 2)])
    capsys.readouterr()
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 65
    err = capsys.readouterr().err
    assert err.startswith("newsclean: damaged corpus state: ") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_disk_full_is_one_line_exit_74_and_the_next_run_recovers(tmp_path, capsys, monkeypatch):
    import errno

    from pipeline.s7_write import jsonl

    write_articles(tmp_path / "in", range(1, 6))
    config, out = small_config(tmp_path), tmp_path / "out"
    real_open = jsonl.ShardWriter._open

    def full(self):  # opening a shard: every writer's (the driver's compresses in a thread)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jsonl.ShardWriter, "_open", full)
    assert main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(out), "-q"]) == 74
    err = capsys.readouterr().err
    assert err.startswith("newsclean: disk full, nothing committed: ") and len(err.strip().splitlines()) == 1
    monkeypatch.setattr(jsonl.ShardWriter, "_open", real_open)
    assert main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(out), "-q"]) == 0
    assert len(corpus_view(out)) == 5


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_is_one_line_and_exit_73(tmp_path, capsys):
    write_articles(tmp_path / "in", [1])
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert (
            main(["run", "-c", str(small_config(tmp_path)), "-i", str(tmp_path / "in"), "-o", str(out), "-q"])
            == 73
        )
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert err.startswith("newsclean: cannot write the output") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("code,text", [("EROFS", "Read-only file system"), ("EACCES", "Permission denied")])
def test_output_not_writable_is_one_line_exit_73_and_the_next_run_recovers(
    tmp_path, capsys, monkeypatch, code, text
):
    import errno

    from pipeline import runner

    def not_writable(path, data):
        raise OSError(getattr(errno, code), text, str(path))

    write_articles(tmp_path / "in", [1])
    args = [
        "run",
        "-c",
        str(small_config(tmp_path)),
        "-i",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "-q",
    ]
    with monkeypatch.context() as patch:
        patch.setattr(runner, "write_atomic", not_writable)
        assert main(args) == 73
    err = capsys.readouterr().err
    assert err.startswith("newsclean: cannot write the output, nothing committed: ") and text in err
    assert len(err.strip().splitlines()) == 1
    assert main(args) == 0
    assert [r["id"] for r in corpus_view(tmp_path / "out")] == ["page-001.txt"]


# --- H1 / C4: special files, symlinked and unreadable directories, loops, over-long paths ---


def run_in_process(tmp_path: Path, inputs: Path, *extra: str, config: Path | None = None) -> Path:
    out = tmp_path / "out"
    config = config or small_config(tmp_path)
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q", *extra]) == 0
    return out


def reasons_by_path(output: Path) -> dict[str, str]:
    return {r["metadata"]["input_path"]: r["reason"] for r in rejects_of(output) if r.get("error")}


def test_fifo_device_and_socket_become_error_records_without_being_opened(tmp_path):
    import socket

    inputs = tmp_path / "in"
    write_articles(inputs, [1])
    os.mkfifo(inputs / "b.txt")  # opening it would block the run forever, holding run.lock
    (inputs / "zero.txt").symlink_to("/dev/zero")  # hashing it would never end
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(inputs / "s.txt"))
    try:
        out = run_with_timeout(tmp_path, inputs)
    finally:
        sock.close()
    reasons = reasons_by_path(out)
    assert reasons == {"b.txt": "not_a_file", "zero.txt": "not_a_file", "s.txt": "not_a_file"}
    details = {r["metadata"]["input_path"]: r["detail"] for r in rejects_of(out)}
    assert (
        "FIFO" in details["b.txt"]
        and "character device" in details["zero.txt"]
        and "socket" in details["s.txt"]
    )
    assert [r["id"] for r in corpus_view(out)] == ["page-001.txt"]
    assert not (out / "state" / "run.lock").exists()


def run_with_timeout(tmp_path: Path, inputs: Path) -> Path:
    """A subprocess run, so that a hang fails the test instead of blocking the suite."""
    out = tmp_path / "out"
    done = run_cli(small_config(tmp_path), inputs, out, timeout=60)
    assert done.returncode == 0, done.stderr
    return out


def test_symlinked_directory_followed_by_default_and_reported_when_not(tmp_path):
    inputs = tmp_path / "in"
    write_articles(inputs / "real", [1])
    write_articles(tmp_path / "elsewhere", [2])
    (inputs / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    out = run_in_process(tmp_path, inputs)
    assert [r["id"] for r in corpus_view(out)] == ["linked/page-002.txt", "real/page-001.txt"]

    config = small_config(tmp_path)
    set_option(config, "follow_symlinks", "false")
    out2 = tmp_path / "out2"
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out2), "-q"]) == 0
    assert [r["id"] for r in corpus_view(out2)] == ["real/page-001.txt"]
    assert reasons_by_path(out2) == {"linked": "symlinked_directory"}


def test_symlink_loop_is_reported_as_a_loop(tmp_path):
    inputs = tmp_path / "in"
    write_articles(inputs / "a", [1])
    (inputs / "a" / "back").symlink_to(inputs, target_is_directory=True)  # in/a/back -> in
    (inputs / "self.txt").symlink_to(inputs / "self.txt")  # a link to itself: ELOOP
    out = run_in_process(tmp_path, inputs)
    assert reasons_by_path(out) == {"a/back": "symlink_loop", "self.txt": "symlink_loop"}
    assert [r["id"] for r in corpus_view(out)] == ["a/page-001.txt"]


def test_unreadable_directory_is_an_error_record(tmp_path, monkeypatch):
    from pipeline.s1_read import inputs as inputs_module

    inputs = tmp_path / "in"
    write_articles(inputs / "ok", [1])
    write_articles(inputs / "locked", [2])
    real_listdir = os.listdir

    def listdir(path):  # as for a non-root user with chmod 000 (root reads every directory)
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)

    monkeypatch.setattr(inputs_module.os, "listdir", listdir)
    out = run_in_process(tmp_path, inputs)
    assert reasons_by_path(out) == {"locked": "unreadable_directory"}
    assert [r["id"] for r in corpus_view(out)] == ["ok/page-001.txt"]


def test_over_long_path_is_reported(tmp_path):
    inputs = tmp_path / "in"
    write_articles(inputs, [1])
    fd = os.open(inputs, os.O_RDONLY)
    try:
        for _ in range(22):  # 22 * 201 characters: past PATH_MAX (4096) from the input folder on
            os.mkdir("d" * 200, dir_fd=fd)
            new = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
        with open(os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as fh:
            fh.write(article(2))
    finally:
        os.close(fd)
    out = run_in_process(tmp_path, inputs)
    assert list(reasons_by_path(out).values()) == ["path_too_long"]
    assert [r["id"] for r in corpus_view(out)] == ["page-001.txt"]


# --- D2: an input that vanishes or changes during the run is tried again next run ----------


def test_input_gone_or_changed_during_the_run_is_read_again_by_the_next_run(tmp_path, monkeypatch):
    from pipeline import runner

    inputs = tmp_path / "in"
    write_articles(inputs, [1, 2, 3])
    aside = tmp_path / "aside.txt"
    real_list, real_checkpoint = runner.list_inputs, runner.checkpoint

    def list_then_disturb(*args, **kwargs):  # after the listing (and hashing), before the read
        files = real_list(*args, **kwargs)
        os.replace(inputs / "page-002.txt", aside)  # rotated away ...
        with open(inputs / "page-003.txt", "a", encoding="utf-8") as fh:  # ... and one rewritten
            fh.write("\nMột đoạn văn mới được thêm vào sau khi danh sách đã được lập xong.\n")
        return files

    def checkpoint(point):
        if point == "reduced" and aside.exists():
            os.replace(
                aside, inputs / "page-002.txt"
            )  # ... and back, same inode and mtime, before the commit
        real_checkpoint(point)

    monkeypatch.setattr(runner, "list_inputs", list_then_disturb)
    monkeypatch.setattr(runner, "checkpoint", checkpoint)
    config = small_config(tmp_path)
    out = run_in_process(tmp_path, inputs, config=config)
    assert reasons_by_path(out) == {"page-002.txt": "missing_input"}
    manifest = json.loads(next((out / "runs").glob("*/manifest.json")).read_text())
    changed = {e["input_path"]: e.get("changed_during_run") for e in manifest["inputs"]}
    assert changed == {
        "page-001.txt": None,
        "page-002.txt": "gone when read",
        "page-003.txt": "changed during the run",
    }

    monkeypatch.undo()
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    view = corpus_view(out)
    assert [r["id"] for r in view] == ["page-001.txt", "page-002.txt", "page-003.txt"]
    assert "Một đoạn văn mới" in view[2]["text"]
    second = json.loads(sorted((out / "runs").glob("*/manifest.json"))[-1].read_text())
    assert sorted(e["input_path"] for e in second["inputs"]) == ["page-002.txt", "page-003.txt"]


# --- D3: a lost manifest or run directory of an applied run is reported, never deleted --------


def test_applied_run_that_lost_its_manifest_is_reported_not_deleted(tmp_path, capsys):
    import shutil

    inputs, out = tmp_path / "in", tmp_path / "out"
    write_articles(inputs, [1, 2])
    config = small_config(tmp_path)
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    (run_dir,) = (out / "runs").iterdir()
    manifest = (run_dir / "manifest.json").read_bytes()
    (run_dir / "manifest.json").unlink()
    write_articles(inputs, [3])
    capsys.readouterr()
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 65
    err = capsys.readouterr().err
    assert f"applied run {run_dir.name} lost its manifest" in err and len(err.strip().splitlines()) == 1
    copy = out / "state" / "manifests" / f"{run_dir.name}.json"
    assert str(copy) in err and copy.read_bytes() == manifest
    assert run_dir.is_dir() and list(run_dir.glob("part-*"))  # its documents are still there

    shutil.copy(copy, run_dir / "manifest.json")  # the recovery the message names
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    assert [r["id"] for r in corpus_view(out)] == ["page-001.txt", "page-002.txt", "page-003.txt"]


def test_deleted_run_directory_of_an_applied_run_is_noticed(tmp_path, capsys):
    import shutil

    inputs, out = tmp_path / "in", tmp_path / "out"
    write_articles(inputs, [1])
    config = small_config(tmp_path)
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    (run_dir,) = (out / "runs").iterdir()
    shutil.rmtree(run_dir)
    capsys.readouterr()
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 65
    err = capsys.readouterr().err
    assert f"applied run {run_dir.name} is missing" in err and len(err.strip().splitlines()) == 1


# --- D5 / C3: ids that cannot collide ------------------------------------------------------


def test_file_named_like_a_record_of_another_is_not_superseded_with_it(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / "page.txt").write_text(article(1), encoding="utf-8")
    (inputs / "page.txt#comments.txt").write_text(article(2), encoding="utf-8")
    config = small_config(tmp_path)
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    (inputs / "page.txt").write_text(article(3), encoding="utf-8")  # page.txt changes: superseded
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    assert [r["id"] for r in corpus_view(out)] == ["page.txt", "page.txt#comments.txt"]
    assert "số 3" in corpus_view(out)[0]["text"]


def jsonl_file(path: Path, records: list[tuple[str, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            json.dumps({"id": doc_id, "text": article(n)}, ensure_ascii=False) + "\n" for doc_id, n in records
        ),
        encoding="utf-8",
    )


def test_ids_reused_across_jsonl_files_and_runs_are_rejected_not_kept_twice(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    jsonl_file(inputs / "a.jsonl", [("r1", 1), ("r2", 2), ("r2", 3)])  # r2 twice in one file
    jsonl_file(inputs / "b.jsonl", [("r1", 4), ("r5", 5)])  # r1 again, another article
    config = small_config(tmp_path)
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    assert [r["id"] for r in corpus_view(out)] == ["r1", "r2", "r5"]
    dup = {r["metadata"]["input_path"]: r for r in rejects_of(out) if r["reason"] == "duplicate_id"}
    assert sorted(dup) == ["a.jsonl#3", "b.jsonl#1"]
    assert all(r["error"] and r["stage"] == "read" for r in dup.values())
    (manifest,) = [json.loads(p.read_text()) for p in (out / "runs").glob("*/manifest.json")]
    assert manifest["counts"]["errors"] == 2 and manifest["counts"]["by_reason"]["read:duplicate_id"] == 2
    assert "b.jsonl" not in dup["b.jsonl#1"]["detail"] and "a.jsonl" in dup["b.jsonl#1"]["detail"]

    # a later run, another file reusing an id the corpus has: rejected too, naming the first file
    jsonl_file(inputs / "c.jsonl", [("r5", 6), ("r7", 7)])
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    assert [r["id"] for r in corpus_view(out)] == ["r1", "r2", "r5", "r7"]
    later = [
        r
        for r in rejects_of(out)
        if r["reason"] == "duplicate_id" and r["metadata"]["input_path"] == "c.jsonl#1"
    ]
    assert len(later) == 1 and "b.jsonl (an earlier run)" in later[0]["detail"]

    # the input that owns an id may change and keep it; an id it drops is free for another input
    jsonl_file(inputs / "b.jsonl", [("r1", 4), ("r5b", 9)])
    jsonl_file(inputs / "d.jsonl", [("r5", 8)])
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    assert [r["id"] for r in corpus_view(out)] == ["r1", "r2", "r5", "r5b", "r7"]
    assert "số 8" in {r["id"]: r["text"] for r in corpus_view(out)}["r5"]


def test_id_collisions_with_sharded_dedup(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    jsonl_file(inputs / "a.jsonl", [("r1", 1), ("r2", 2)])
    jsonl_file(inputs / "b.jsonl", [("r1", 4), ("r3", 3)])
    assert (
        main(
            [
                "run",
                "-c",
                str(small_config(tmp_path)),
                "-i",
                str(inputs),
                "-o",
                str(out),
                "-q",
                "--dedup",
                "sharded",
            ]
        )
        == 0
    )
    assert [r["id"] for r in corpus_view(out)] == ["r1", "r2", "r3"]
    (manifest,) = [json.loads(p.read_text()) for p in (out / "runs").glob("*/manifest.json")]
    assert manifest["counts"]["errors"] == 1 and manifest["counts"]["by_reason"] == {"read:duplicate_id": 1}
    assert [(r["metadata"]["input_path"], r["error"]) for r in rejects_of(out)] == [("b.jsonl#1", True)]


def test_same_relative_path_under_inputs_of_two_runs_is_not_kept_twice(tmp_path):
    crawl, out = tmp_path / "crawl", tmp_path / "out"
    for day, n in (("day1", 1), ("day2", 2)):
        (crawl / day).mkdir(parents=True)
        (crawl / day / "index.txt").write_text(article(n), encoding="utf-8")
    config = small_config(tmp_path)
    assert main(["run", "-c", str(config), "-i", str(crawl / "day1"), "-o", str(out), "-q"]) == 0
    assert main(["run", "-c", str(config), "-i", str(crawl / "day2"), "-o", str(out), "-q"]) == 0
    view = corpus_view(out)
    assert [r["id"] for r in view] == ["index.txt"] and "số 1" in view[0]["text"]
    (reject,) = [r for r in rejects_of(out) if r["reason"] == "duplicate_id"]
    assert "day1/index.txt (an earlier run)" in reject["detail"]


# --- H2: a per-document time limit ------------------------------------------------------------

from pipeline.step import Step  # noqa: E402


class SlowOnPageTwo(Step):
    """A custom step that never finishes on one page (a pathological regex, an endless loop)."""

    name = "slow_on_page_two"

    def process(self, doc):
        if doc.id.endswith("002.txt"):
            while True:
                sum(range(1000))


def test_document_past_the_time_limit_is_an_error_record_and_the_run_goes_on(tmp_path, monkeypatch):
    import time

    from pipeline import registry

    monkeypatch.setitem(registry.STEPS, "slow_on_page_two", f"{__name__}:SlowOnPageTwo")
    config = small_config(tmp_path, doc_timeout="1")
    text = config.read_text(encoding="utf-8")  # only light steps: no model loading counts against a page
    config.write_text(
        text[: text.index("steps:")] + "steps:\n  - step: decode\n  - step: slow_on_page_two\n"
        "  - step: normalize\n",
        encoding="utf-8",
    )
    inputs = tmp_path / "in"
    write_articles(inputs, [1, 2, 3])
    started = time.monotonic()
    out = run_in_process(tmp_path, inputs, config=config)
    assert time.monotonic() - started < 30
    (reject,) = [r for r in rejects_of(out) if r["reason"] == "timeout"]
    assert (
        reject["id"] == "page-002.txt" and reject["stage"] == "slow_on_page_two" and reject["error"] is True
    )
    assert "run.doc_timeout=1 s" in reject["detail"]
    assert [r["id"] for r in corpus_view(out)] == ["page-001.txt", "page-003.txt"]


# the alarm often lands in a gc callback (hypothesis installs one), where Python swallows it and reports
# it as "unraisable"; the time limit fires again until the step stops the page (pipeline/timelimit.py)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_pathological_html_page_is_stopped_at_the_limit(tmp_path):
    attributes = " ".join(f'data-a{i}="v{i}"' for i in range(20000))  # quadratic in extraction
    page = f"<html><body><div {attributes}>{'<p>' + article(1) + '</p>'}</div></body></html>"
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "slow.html").write_text(page, encoding="utf-8")
    out = run_in_process(tmp_path, inputs, config=small_config(tmp_path, doc_timeout="0.5"))
    assert reasons_by_path(out) == {"slow.html": "timeout"}


# --- H3: user regexes and YAML that cannot hang the run -----------------------------------------


def test_catastrophic_user_regex_is_refused_with_file_and_line(tmp_path, capsys):
    config = small_config(tmp_path)
    rules = config.parent / "rules" / "vi.yaml"
    text = rules.read_text(encoding="utf-8")
    text = text.replace("line_patterns:\n", "line_patterns:\n  my_rule:\n    - '^(a+)+$'\n", 1)
    rules.write_text(text, encoding="utf-8")
    write_articles(tmp_path / "in", [1])
    assert (
        main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q"]) == 2
    )
    err = capsys.readouterr().err
    assert re.search(r"rules/vi\.yaml:\d+: my_rule: regex '\^\(a\+\)\+\$' can take exponential time", err), (
        err
    )
    assert not (tmp_path / "out").exists()


def test_regexes_of_the_shipped_rule_files_pass_the_check():
    from corpus_helpers import ROOT

    from pipeline.config import load_config
    from pipeline.runner import build_steps

    build_steps(load_config(ROOT / "config" / "default.yaml"))  # raises ConfigError on a refused regex


def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path, capsys):
    import time

    config = small_config(tmp_path)
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]"
        for i in range(8)
    ]
    text = config.read_text(encoding="utf-8").replace(
        "  - step: pii_mask\n",
        "  - step: pii_mask\n    bomb:\n" + "".join(f"      {line}\n" for line in bomb),
        1,
    )
    config.write_text(text, encoding="utf-8")
    write_articles(tmp_path / "in", [1])
    started = time.monotonic()
    assert (
        main(["run", "-c", str(config), "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q"]) == 2
    )
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert re.search(r"config\.yaml:\d+: YAML aliases \(\*a\) are not allowed", err), err


def test_backtracking_regex_the_check_lets_through_is_bounded_by_the_time_limit(tmp_path):
    config = small_config(tmp_path, doc_timeout="2")
    rules = config.parent / "rules" / "vi.yaml"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace(
            "line_patterns:\n", "line_patterns:\n  my_rule:\n    - '^(?:a|aa)+$'\n", 1
        ),
        encoding="utf-8",
    )
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text[: text.index("steps:")] + "steps:\n  - step: decode\n  - step: clean_lines\n"
        "    rules: [rules/vi.yaml]\n  - step: normalize\n",
        encoding="utf-8",
    )
    inputs = tmp_path / "in"
    write_articles(inputs, [1])
    (inputs / "evil.txt").write_text(article(2) + "\n" + "a" * 60 + "!\n", encoding="utf-8")
    out = run_in_process(tmp_path, inputs, config=config)
    assert [(r["id"], r["reason"], r["stage"]) for r in rejects_of(out)] == [
        ("evil.txt", "timeout", "clean_lines")
    ]
    assert [r["id"] for r in corpus_view(out)] == ["page-001.txt"]


# --- L: no pickle from the output tree, temporary files cleaned up, the latest run by time -------


def test_work_files_are_not_pickles_and_a_planted_pickle_is_never_loaded(tmp_path):
    import pickle

    inputs, out = tmp_path / "in", tmp_path / "out"
    write_articles(inputs, range(1, 7))
    config = small_config(tmp_path)
    killed = run_cli(config, inputs, out, env={"NEWSCLEAN_TEST_KILL_AT": "task:2"})
    assert killed.returncode == -9
    (run_dir,) = (out / "runs").iterdir()
    work = sorted((run_dir / "_work").glob("task-*.summary"))
    assert work and all(p.read_bytes()[:4] == b"NCW1" for p in work)
    # keys files: a table of parts, each part a work file (pipeline/keysfile.py)
    assert all(p.read_bytes()[:4] == b"NCK1" for p in (run_dir / "_work").glob("task-*.keys"))

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    work[0].write_bytes(pickle.dumps(Evil()))  # what an attacker with write access to the output could plant
    done = run_cli(config, inputs, out)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    assert [r["id"] for r in corpus_view(out)] == [f"page-{i:03d}.txt" for i in range(1, 7)]


def test_sigterm_releases_the_lock_and_leaves_no_temporary_files(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from corpus_helpers import ROOT

    inputs, out = tmp_path / "in", tmp_path / "out"
    write_articles(inputs, range(1, 5))
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    flag = tmp_path / "waiting"
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": EPOCH,
        "TMPDIR": str(private_tmp),
        "NEWSCLEAN_TEST_WAIT_AT": "reduced",
        "NEWSCLEAN_TEST_WAIT_FILE": str(flag),
    }
    env.pop("NEWSCLEAN_TEST_KILL_AT", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "-c",
            str(small_config(tmp_path)),
            "-i",
            str(inputs),
            "-o",
            str(out),
            "-q",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), proc.stderr.read() if proc.poll() is not None else "run did not reach the point"
    assert any((out / "state" / "tmp").iterdir())  # near_dedup's scratch files exist now, under the output
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert "terminated (SIGTERM)" in proc.stderr.read()
    assert not (out / "state" / "run.lock").exists()
    assert not any((out / "state" / "tmp").iterdir())
    assert list(private_tmp.iterdir()) == []
    flag.unlink(missing_ok=True)
    assert run_cli(small_config(tmp_path), inputs, out).returncode == 0
    assert len(corpus_view(out)) == 4


def test_report_of_a_corpus_picks_the_run_that_finished_last(tmp_path, capsys):
    inputs, out = tmp_path / "in", tmp_path / "out"
    config = small_config(tmp_path)
    write_articles(inputs, [1])
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    write_articles(inputs, [2])
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    first, second = sorted((out / "runs").iterdir())
    # the clock was set back between the runs: the later run got the lower id
    manifest = json.loads((first / "manifest.json").read_text())
    manifest["finished"] = "2001-01-01T00:00:00Z"
    (first / "manifest.json").write_text(json.dumps(manifest))
    later = json.loads((second / "manifest.json").read_text())
    later["finished"] = "2002-01-01T00:00:00Z"
    (second / "manifest.json").write_text(json.dumps(later))
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert str(second) in capsys.readouterr().out
    later["finished"], manifest["finished"] = "2001-01-01T00:00:00Z", "2002-01-01T00:00:00Z"
    (first / "manifest.json").write_text(json.dumps(manifest))
    (second / "manifest.json").write_text(json.dumps(later))
    assert main(["report", str(out)]) == 0
    assert str(first) in capsys.readouterr().out


def test_folders_nested_deeper_than_the_recursion_limit_are_walked(tmp_path):
    import inspect
    import sys

    from pipeline.s1_read.inputs import iter_input_files

    inputs = tmp_path / "in"
    deep = inputs.joinpath(*["a"] * 300)
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("x")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 150)  # a crawl nested deeper than the limit, made cheap
    try:
        found = list(iter_input_files([inputs]))
    finally:
        sys.setrecursionlimit(limit)
    assert len(found) == 1 and found[0][0].name == "deep.txt" and found[0][2] is None


def test_unreadable_input_folder_itself_is_an_error_record_named_after_it(tmp_path, monkeypatch):
    from pipeline.s1_read import inputs as inputs_module

    good, locked = tmp_path / "good", tmp_path / "locked"
    write_articles(good, [1])
    write_articles(locked, [2])
    real_listdir = os.listdir
    monkeypatch.setattr(
        inputs_module.os,
        "listdir",
        lambda path: (
            (_ for _ in ()).throw(PermissionError(13, "Permission denied", str(path)))
            if Path(path).name == "locked"
            else real_listdir(path)
        ),
    )
    out = tmp_path / "out"
    assert (
        main(["run", "-c", str(small_config(tmp_path)), "-i", str(good), str(locked), "-o", str(out), "-q"])
        == 0
    )
    assert reasons_by_path(out) == {"locked": "unreadable_directory"}
    assert [r["id"] for r in corpus_view(out)] == ["page-001.txt"]


def test_same_id_with_the_same_text_is_a_duplicate_not_a_collision(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    jsonl_file(inputs / "a.jsonl", [("r1", 1)])
    jsonl_file(inputs / "b.jsonl", [("r1", 1), ("r2", 2)])  # the same record copied into another file
    config = small_config(tmp_path)
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    assert [r["id"] for r in corpus_view(out)] == ["r1", "r2"]
    assert [(r["metadata"]["input_path"], r["reason"], r.get("dup_of")) for r in rejects_of(out)] == [
        ("b.jsonl#1", "exact_duplicate", "r1")
    ]
    jsonl_file(inputs / "c.jsonl", [("r1", 1)])  # and in a later run
    assert main(["run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    assert [(r["metadata"]["input_path"], r["reason"]) for r in rejects_of(out)][-1] == (
        "c.jsonl#1",
        "exact_duplicate",
    )
