"""`--engine ray` gives the corpus the local engine gives: the same kept ids, the same
rejects (id, stage, reason, dup_of, detail) and the same manifest counts, with 1 and 4
partitions, on the seeds and on a 2,000-line JSONL slice of the dedup benchmark (one
file, read natively; 4 partitions cut it into record ranges).

The local engine runs with its defaults (near-dup reduce in the run process); the Ray
engine with its own (near-dup reduce as merge tasks over sorted band-key files), so
this also checks that the two dedup paths agree. A local Ray with 2 CPUs is started
once per session; the test is skipped when Ray is not installed (it is an optional
extra, which CI installs).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
import yaml
from clean_helpers import SHARED

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'newsclean[ray]'")
pytestmark = pytest.mark.slow  # starting a local Ray takes seconds; CI runs it (--all)

from pipeline.config import load_config  # noqa: E402
from pipeline.runner import run_pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEDUP_BENCH = SHARED / "bench" / "dedup" / "visible-10k.jsonl.gz"
EPOCH = "1767225600"


@pytest.fixture(scope="session")
def local_ray():
    if ray.is_initialized():
        yield
        return
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def corpus(output: Path) -> dict:
    """What must not depend on the engine: kept ids, rejects, counts (of the one run in `output`)."""
    (run,) = [p for p in (output / "runs").iterdir() if (p / "manifest.json").exists()]
    manifest = json.loads((run / "manifest.json").read_text())

    def records(shards):
        for shard in shards:
            with gzip.open(run / shard["file"], "rt", encoding="utf-8") as fh:
                yield from (json.loads(line) for line in fh)

    return {
        "kept": sorted(r["id"] for r in records(manifest["shards"])),
        "rejects": sorted(
            (r["id"], r["stage"], r["reason"], r.get("dup_of") or "", r["detail"] or "")
            for r in records(manifest["rejects"])
        ),
        "counts": manifest["counts"],
        "engine": manifest["engine"],
        "dedup": manifest["dedup"],
        "tasks": manifest["tasks"],
    }


def run(config_path: Path, inputs: Path, output: Path, engine: str, partitions: int) -> dict:
    config = load_config(
        config_path, {"run.engine": engine, "run.partitions": partitions, "run.progress": "off"}
    )
    run_pipeline(config, [inputs], output, workers=1)
    return corpus(output)


def check_engines_agree(config: Path, inputs: Path, tmp_path: Path) -> dict:
    reference = run(config, inputs, tmp_path / "local-1", "local", 1)
    assert reference["engine"] == "local" and reference["dedup"] == "driver"
    for engine, partitions in (("local", 4), ("ray", 1), ("ray", 4)):
        got = run(config, inputs, tmp_path / f"{engine}-{partitions}", engine, partitions)
        assert got["engine"] == engine
        assert got["dedup"] == ("sharded" if engine == "ray" else "driver")
        for key in ("kept", "rejects", "counts"):
            assert got[key] == reference[key], (engine, partitions, key)
        if partitions == 4:
            assert got["tasks"] >= 3, "the input must really be cut into several tasks"
    return reference


def test_ray_engine_equals_local_on_the_seeds(local_ray, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    reference = check_engines_agree(ROOT / "config" / "default.yaml", ROOT / "seeds", tmp_path)
    assert reference["counts"]["kept"] > 0


def dedup_config(tmp_path: Path) -> Path:
    """The default config with the per-document steps that matter for this corpus (decode, normalize,
    length) and both dedup steps; the slow cleaning and quality steps do not depend on the engine."""
    directory = tmp_path / "config"
    shutil.copytree(ROOT / "config", directory)
    config = yaml.safe_load((directory / "default.yaml").read_text(encoding="utf-8"))
    keep = {"decode", "normalize", "length_filter", "exact_dedup", "near_dedup"}
    config["steps"] = [step for step in config["steps"] if step["step"] in keep]
    path = directory / "dedup.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def test_ray_engine_equals_local_on_a_dedup_benchmark_slice(local_ray, tmp_path: Path, monkeypatch):
    if not DEDUP_BENCH.exists():
        pytest.skip(f"{DEDUP_BENCH} not found (the shared benchmark data sits beside the repository)")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    inputs = jsonl_slice(tmp_path / "visible-2k.jsonl.gz", 2000)
    reference = check_engines_agree(dedup_config(tmp_path), inputs, tmp_path)
    assert reference["counts"]["documents"] == 2000 and reference["counts"]["errors"] == 0
    by_reason = reference["counts"]["by_reason"]
    assert (
        by_reason.get("near_dedup:near_duplicate", 0) > 50
        and by_reason.get("exact_dedup:exact_duplicate", 0) > 0
    )
    assert all(i.startswith("d") and "#" not in i for i in reference["kept"]), (
        "ids come from the records' id field"
    )


def jsonl_slice(path: Path, n: int) -> Path:
    """The first n lines of the benchmark, as one JSONL file read natively: with 4 partitions the
    file is cut into record ranges (tasks), so documents are keyed by (file, line), not one file each."""
    with gzip.open(DEDUP_BENCH, "rb") as src, gzip.open(path, "wb") as dst:
        for _, line in zip(range(n), src):
            dst.write(line)
    return path
