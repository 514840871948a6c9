"""Small JSONL crawls of near-duplicate texts, and in-process runs over them (dedup state tests).

Texts are generated, not read from ../shared: article `b` is 200 words drawn from a
fixed vocabulary; its variant `v` changes two of those words. Any two variants of
one article share ~90% of their word 5-grams (near-duplicates at the default
threshold 0.8), articles share none, so every article is one clique of copies.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import yaml
from corpus_helpers import ROOT

WORDS = 200
VOCABULARY = [
    f"{a}{b}"
    for a in ("tin", "bao", "dan", "xa", "kinh", "te", "van", "hoa", "the", "thao")
    for b in (
        "an",
        "binh",
        "cuong",
        "dung",
        "giang",
        "hung",
        "khanh",
        "long",
        "minh",
        "nam",
        "phuc",
        "quang",
        "son",
        "tam",
        "uyen",
        "vinh",
        "xuan",
        "yen",
        "hai",
        "lan",
    )
]


def text(article: int, variant: int = 0) -> str:
    rng = random.Random(article)
    words = [rng.choice(VOCABULARY) for _ in range(WORDS)]
    if variant:  # two words replaced at places that depend on the variant
        for k in (0, 1):
            words[(variant * 37 + k * 101) % WORDS] = f"bien{variant}x{k}"
    return " ".join(words) + "."


def write_jsonl(path: Path, records: list[tuple[str, str]]) -> Path:
    """(id, text) records as one JSONL crawl file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in records),
        encoding="utf-8",
    )
    return path


def dedup_config(tmp: Path, **run_options) -> Path:
    """The default config with decode, normalize, length_filter and both dedup steps; small tasks
    and shards, one worker, no progress bar."""
    directory = tmp / "nc-config"
    if not directory.exists():
        shutil.copytree(ROOT / "config", directory)
    config = yaml.safe_load((ROOT / "config" / "default.yaml").read_text(encoding="utf-8"))
    keep = {"decode", "normalize", "length_filter", "exact_dedup", "near_dedup"}
    config["steps"] = [step for step in config["steps"] if step["step"] in keep]
    config["run"].update({"task_size": 4, "shard_size": 5, "workers": 1, "progress": "off", **run_options})
    path = directory / ("dedup" + "".join(f"-{k}-{v}" for k, v in sorted(run_options.items())) + ".yaml")
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def run(config: Path, inputs: Path, output: Path, dedup: str = "driver", reprocess: bool = False):
    """One run in this process (fast); returns its manifest."""
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline

    loaded = load_config(config, {"run.dedup": dedup})
    return run_pipeline(loaded, [inputs], output, workers=1, reprocess=reprocess).manifest


def view(output: Path) -> dict[str, str]:
    """Kept documents of the corpus view: id -> text."""
    from pipeline.corpus import iter_kept

    return {record["id"]: record["text"] for _run, record in iter_kept(output)}


def dup_of(output: Path) -> dict[str, str]:
    """Dropped duplicates of the corpus view -> the id they copy (rejects of superseded inputs left out)."""
    from pipeline.corpus import finished_runs, from_input, read_jsonl, superseded

    runs = finished_runs(output)
    replaced = superseded(runs)
    out = {}
    for run_ in runs:
        gone = replaced.get(run_.id, set())
        for shard in run_.manifest["rejects"]:
            for record in read_jsonl(run_.dir / shard["file"]):
                if record.get("dup_of") and not (gone and from_input(record, gone)):
                    out[record["id"]] = record["dup_of"]
    return out
