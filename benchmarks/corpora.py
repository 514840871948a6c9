"""Benchmark inputs, built once into the cache folder (git-ignored) and reused.

Every input comes with an info file: number of documents and megabytes of
document text (UTF-8), so MB/s means the same thing for every tool and format.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from common import shared_path

ARTICLES = shared_path("bench", "articles-30k.jsonl.gz")
MAKE_CORPUS = shared_path("bench", "dedup", "make_corpus.py")


@dataclass
class Input:
    name: str
    path: Path  # a file or a folder, as given to the tools
    docs: int
    text_mb: float


def _load(name: str, path: Path, cache: Path) -> Input | None:
    info = cache / f"{name}.info.json"
    if path.exists() and info.exists():
        data = json.loads(info.read_text())
        return Input(name, path, data["docs"], data["text_mb"])
    return None


def _save(name: str, path: Path, cache: Path, docs: int, text_bytes: int) -> Input:
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{name}.info.json").write_text(
        json.dumps({"docs": docs, "text_mb": round(text_bytes / 1e6, 3)})
    )
    return Input(name, path, docs, round(text_bytes / 1e6, 3))


def _jsonl_figures(lines) -> tuple[int, int]:
    docs = text = 0
    for line in lines:
        if line.strip():
            docs += 1
            text += len(json.loads(line)["text"].encode("utf-8"))
    return docs, text


def articles(cache: Path) -> Input:
    """The 30k real articles, as shipped (one gzipped JSONL file)."""
    if not ARTICLES.exists():
        raise FileNotFoundError(f"{ARTICLES} is missing: the shared benchmark data is not here")
    cached = _load("articles-30k", ARTICLES, cache)
    if cached:
        return cached
    with gzip.open(ARTICLES, "rb") as fh:
        docs, text = _jsonl_figures(fh)
    return _save("articles-30k", ARTICLES, cache, docs, text)


def articles_slice(cache: Path, n: int, parts: int) -> Input:
    """The first `n` articles split into `parts` gzipped JSONL files in one folder
    (datatrove gives each file to one task, so `parts` files let `parts` workers run)."""
    folder = cache / f"articles-first{n}-in{parts}"
    name = f"articles-first{n}"
    cached = _load(name, folder, cache)
    if cached:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(ARTICLES, "rb") as fh:
        lines = [line for _, line in zip(range(n), fh)]
    per_part = -(-len(lines) // parts)
    for i in range(parts):
        with gzip.open(folder / f"part-{i:05d}.jsonl.gz", "wb", compresslevel=1) as out:
            out.writelines(lines[i * per_part : (i + 1) * per_part])
    docs, text = _jsonl_figures(lines)
    return _save(name, folder, cache, docs, text)


def articles_as_text_dumps(cache: Path, source: Input) -> Input:
    """The same documents as one .txt page dump per article (for a newsclean without a JSONL reader)."""
    folder = cache / f"{source.name}-txt"
    cached = _load(source.name + "-txt", folder, cache)
    if cached:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    files = [source.path] if source.path.is_file() else sorted(source.path.glob("*.jsonl.gz"))
    docs = text = 0
    for f in files:
        with gzip.open(f, "rb") as fh:
            for line in fh:
                record = json.loads(line)
                body = record["text"].encode("utf-8")
                (folder / f"{docs:06d}.txt").write_bytes(body)
                docs += 1
                text += len(body)
    return _save(source.name + "-txt", folder, cache, docs, text)


def synthetic(cache: Path, n: int, seed: int = 2) -> Input:
    """A corpus of `n` documents (real articles plus injected near-duplicates), built by
    the shared make_corpus.py; its ground-truth sidecar is moved out of the input's way."""
    folder = cache / f"corpus-{n}"
    path = folder / f"corpus-{n}.jsonl"
    name = f"corpus-{n // 1000}k" if n % 1000 == 0 else f"corpus-{n}"
    cached = _load(name, path, cache)
    if cached:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    # make_dedup_corpus.py = make_corpus.py with its superscript-digit crash fixed (same draws otherwise)
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "make_dedup_corpus.py"),
            "build",
            "--n",
            str(n),
            "--seed",
            str(seed),
            "--out",
            str(path),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    meta = path.with_suffix(".meta.jsonl")
    if meta.exists():  # newsclean is given the file itself, but keep the folder clean anyway
        meta.replace(cache / meta.name)
    with open(path, "rb") as fh:
        docs, text = _jsonl_figures(fh)
    return _save(name, path, cache, docs, text)
