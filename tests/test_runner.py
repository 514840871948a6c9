"""The run loop: accounting, rejects, manifest, exact dedup, config validation, workers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = (
    "Sáng nay, Ủy ban nhân dân thành phố đã tổ chức hội nghị tổng kết công tác năm với sự tham dự của "
    "nhiều đại biểu từ các sở, ban, ngành và địa phương trên địa bàn.\n\n"
    "Phát biểu tại hội nghị, lãnh đạo thành phố đánh giá cao những kết quả đạt được trong năm qua, "
    "đồng thời chỉ ra những hạn chế cần khắc phục trong thời gian tới để phát triển bền vững.\n\n"
    "Theo báo cáo, tổng thu ngân sách trên địa bàn tăng mạnh so với cùng kỳ năm trước, nhiều công "
    "trình trọng điểm được khởi công và hoàn thành đúng tiến độ đề ra."
)


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def run_dir_of(out: Path) -> Path:
    runs = sorted((out / "runs").iterdir())
    assert runs, "no run directory written"
    return runs[-1]


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.txt").write_text(f"Tiêu đề bài viết thứ nhất về hội nghị\n\n{ARTICLE}\n", encoding="utf-8")
    (d / "b.txt").write_text(
        f"Tiêu đề khác cho cùng nội dung bài viết\n\n{ARTICLE}\n", encoding="utf-8"
    )  # exact dup body
    (d / "c.txt").write_text("Quá ngắn.\n", encoding="utf-8")  # too short after cleaning
    (d / "d.txt").write_bytes(b"")  # empty: an error record
    (d / "e.bin").write_bytes(b"\x00\x01\x02")  # unknown format: an error record
    return d


def test_every_input_is_kept_dropped_or_an_error(inputs: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1"]) == 0
    run = run_dir_of(out)
    manifest = json.loads((run / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["documents"] == 5
    assert counts["kept"] + counts["dropped"] + counts["errors"] == 5
    kept = [r for s in manifest["shards"] for r in read_jsonl_gz(run / s["file"])]
    rejects = [r for s in manifest["rejects"] for r in read_jsonl_gz(run / s["file"])]
    assert len(kept) == counts["kept"] == 1
    assert len(rejects) == counts["dropped"] + counts["errors"] == 4
    by_id = {r["id"]: r for r in rejects}
    assert by_id["b.txt"]["reason"] == "exact_duplicate" and by_id["b.txt"]["dup_of"] == "a.txt"
    assert by_id["c.txt"]["reason"] == "too_short"
    assert by_id["d.txt"]["reason"] == "empty" and by_id["d.txt"]["error"] is True
    assert by_id["e.bin"]["reason"] == "unsupported_format" and by_id["e.bin"]["error"] is True
    # shard records carry the schema of CONVENTIONS.md
    doc = kept[0]
    assert set(doc) >= {"id", "text", "source", "added", "created", "metadata"}
    assert doc["metadata"]["title"] == "Tiêu đề bài viết thứ nhất về hội nghị"
    assert doc["metadata"]["language"] == "vi"
    assert doc["metadata"]["input_path"] == "a.txt"
    assert doc["text"].count("\n\n") == 2
    # shard hashes in the manifest match the files
    import hashlib

    for s in manifest["shards"] + manifest["rejects"]:
        assert hashlib.sha256((run / s["file"]).read_bytes()).hexdigest() == s["sha256"]
    assert not (run / "_work").exists()


def test_output_identical_for_one_and_two_workers(inputs: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", str(workers)]) == 0
        outs.append(run_dir_of(out))
    for name in ("part-00000.jsonl.gz", "rejects-00000.jsonl.gz"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()


def test_keep_rule_prefers_earliest_publication_date():
    from pipeline.s6_dedup.exact import ExactDedup
    from pipeline.step import DocRef

    step = ExactDedup()
    key = b"same"
    refs = [DocRef(0, "late", "2024-05-01"), DocRef(1, "early", "2024-01-01"), DocRef(2, "undated", None)]
    drops = list(step.reduce([(r, key) for r in refs]))
    assert sorted(d.order for d in drops) == [0, 2]
    assert {d.dup_of for d in drops} == {"early"}


def write_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    for name in ("vi.yaml", "en.yaml"):
        (tmp_path / "rules" / name).write_text(
            (ROOT / "config" / "rules" / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("run: {shard_size: many}\nsteps: []\n", "run.shard_size: expected int"),
        ("runn: {}\nsteps: []\n", "unknown top-level key 'runn'"),
        ("steps:\n  - step: normalise\n", "unknown step 'normalise'"),
        ("steps:\n  - step: length_filter\n    min_char: 3\n", "unknown key 'min_char'"),
        ("steps:\n  - step: clean_lines\n    rules: [rules/bad.yaml]\n", "bad regex"),
        ("steps: [\n", "invalid YAML"),
        ("steps:\n  - step: decode\n    enabled: maybe\n", "enabled must be true or false"),
        ("run: {progress: sometimes}\nsteps: []\n", "run.progress must be auto, on or off"),
        ("run: {compression: lz4}\nsteps: []\n", "run.compression must be gzip, zstd or none"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.yaml").write_text("line_patterns:\n  x: ['(unclosed']\n", encoding="utf-8")
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config = load_config(path)
        from pipeline.runner import build_steps

        build_steps(config)
    assert message in str(err.value)
    assert ".yaml" in str(err.value)


def test_config_error_exits_non_zero_with_one_line(tmp_path: Path, capsys):
    path = write_config(tmp_path, "steps:\n  - step: nope\n")
    assert main(["run", "-c", str(path), "-i", str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "c.yaml:2" in err and "unknown step 'nope'" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("written, mode", [("off", "off"), ("on", "on"), ("'off'", "off"), ("auto", "auto")])
def test_unquoted_progress_on_off_is_not_a_type_error(tmp_path: Path, written: str, mode: str):
    # YAML 1.1 reads an unquoted off/on as false/true; users write them unquoted
    config = load_config(write_config(tmp_path, f"run:\n  progress: {written}\nsteps: []\n"))
    assert config.run["progress"] == mode


def test_yaml_is_loaded_safely(tmp_path: Path):
    path = write_config(tmp_path, "steps: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError):
        load_config(path)


def test_dup_of_names_a_document_the_corpus_keeps(tmp_path: Path):
    # b is a near-copy of a (its last sentence cut), c an exact copy of b: exact_dedup drops c as a
    # copy of b, near_dedup then drops b as a copy of a, so c's dup_of must follow on to a
    from corpus_helpers import article, small_config

    a = article(5)
    b = a.rstrip("\n").rsplit(" ", 3)[0] + "\n"
    inp = tmp_path / "in"
    inp.mkdir()
    for name, text in (("a.txt", a), ("b.txt", b), ("c.txt", b)):
        (inp / name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(inp), "-o", str(out), "-q"]) == 0
    run = run_dir_of(out)
    rejects = {r["id"]: r for f in sorted(run.glob("rejects*.jsonl.gz")) for r in read_jsonl_gz(f)}
    assert (rejects["b.txt"]["stage"], rejects["b.txt"]["dup_of"]) == ("near_dedup", "a.txt")
    assert (rejects["c.txt"]["stage"], rejects["c.txt"]["dup_of"]) == ("exact_dedup", "a.txt")
    assert "b.txt was dropped as a copy of a.txt" in rejects["c.txt"]["detail"]


def test_same_file_name_under_two_input_roots_gives_two_ids(tmp_path: Path):
    from corpus_helpers import article, small_config

    from pipeline.commands.verify import verify

    for name, n in (("crawlA", 1), ("crawlB", 2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "page.txt").write_text(article(n), encoding="utf-8")
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "-c",
                str(small_config(tmp_path)),
                "-i",
                str(tmp_path / "crawlA"),
                str(tmp_path / "crawlB"),
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    run = run_dir_of(out)
    kept = [r for f in sorted(run.glob("part-*.jsonl.gz")) for r in read_jsonl_gz(f)]
    assert sorted(r["id"] for r in kept) == ["crawlB/page.txt", "page.txt"]
    assert verify(out).problems == []
