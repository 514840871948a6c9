"""End to end on the shared seed pages, scored by the project's gold scorer with its thresholds."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
from clean_helpers import SHARED

from pipeline.cli import main

SEEDS, GOLD = SHARED / "seeds", SHARED / "gold"
pytestmark = pytest.mark.skipif(
    not (SEEDS.is_dir() and (GOLD / "score_seeds.py").is_file()),
    reason=f"shared seeds and gold not found under {SHARED}",
)


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def run(inputs: Path, out: Path) -> Path:
    assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1"]) == 0
    runs = sorted((out / "runs").iterdir())
    assert runs and (runs[-1] / "manifest.json").is_file()
    return runs[-1]


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("seeds")
    shutil.copytree(SEEDS, base / "seeds")
    return run(base / "seeds", base / "out")


def score(run_dir: Path, capsys) -> tuple[dict, list[str]]:
    spec = importlib.util.spec_from_file_location("score_seeds", GOLD / "score_seeds.py")
    scorer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scorer)
    capsys.readouterr()
    scorer.main(str(GOLD), str(run_dir))
    out = capsys.readouterr().out.strip().split("\n")
    m = re.search(r"micro: P=([\d.]+) R=([\d.]+) F1=([\d.]+) metadata=(\d+)/(\d+)", out[-1])
    assert m, out
    p, r, f1, ok, n = m.groups()
    return {"P": float(p), "R": float(r), "F1": float(f1), "meta_ok": int(ok), "meta_n": int(n)}, out[:-1]


def test_seed_gold_thresholds(seed_run, capsys):
    micro, per_seed = score(seed_run, capsys)
    assert micro["F1"] >= 0.98 and micro["R"] >= 0.99, micro
    assert micro["meta_n"] > 0 and micro["meta_ok"] == micro["meta_n"], per_seed
    assert per_seed and not any("missing" in line or "MISS" in line for line in per_seed), per_seed


def test_seed_records_carry_removals_by_rule(seed_run):
    manifest = json.loads((seed_run / "manifest.json").read_text())
    records = [r for s in manifest["shards"] for r in read_jsonl_gz(seed_run / s["file"])]
    by_seed = {re.search(r"\d{3}_[0-9a-f]{16}", r["id"]).group(): r for r in records}
    removed = by_seed["000_f110bbab04b0d966"]["metadata"]["removed"]  # [{"rule": ..., "n": ...}, ...]
    assert all(set(item) == {"rule", "n"} for item in removed)
    removed = {item["rule"]: item["n"] for item in removed}
    assert removed["weather_widget"] == 10 and removed["related_list"] > 50
    assert {item["rule"]: item["n"] for item in by_seed["001_854a89eabb678019"]["metadata"]["removed"]}[
        "voice_picker"
    ] == 4


def test_every_input_is_kept_dropped_or_an_error(tmp_path):
    inputs = tmp_path / "in"
    shutil.copytree(SEEDS, inputs)
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "short.txt").write_text("Tin ngắn\n\nChỉ một câu.\n", encoding="utf-8")
    (inputs / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 500)
    n_inputs = len(list(inputs.iterdir()))
    run_dir = run(inputs, tmp_path / "out")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["documents"] == n_inputs
    assert counts["kept"] + counts["dropped"] + counts["errors"] == n_inputs
    kept = [r for s in manifest["shards"] for r in read_jsonl_gz(run_dir / s["file"])]
    rejects = [r for s in manifest["rejects"] for r in read_jsonl_gz(run_dir / s["file"])]
    assert len(kept) == counts["kept"]
    assert len(rejects) == counts["dropped"] + counts["errors"] >= 3
    assert all(r.get("reason") and r.get("stage") for r in rejects)
    reasons = {Path(r["metadata"]["input_path"]).name: r["reason"] for r in rejects}
    assert reasons["empty.txt"] == "empty" and reasons["binary.txt"] == "binary"
    assert "short.txt" in reasons  # too short after cleaning (or another filter's reason)
