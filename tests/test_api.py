"""The Python API (`from pipeline import Pipeline, Step, read_corpus`), the README's example run as
written, and custom steps named by import path in the YAML config."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from corpus_helpers import EPOCH, ROOT, small_config, write_articles

from pipeline.config import ConfigError, load_config

MY_STEPS = r'''
from pathlib import Path

from pipeline import GlobalStep, Step


class DropIds(Step):
    name = "drop_ids"
    defaults = {"ids": []}

    def process(self, doc):
        if doc.id in self.options["ids"]:
            doc.drop(self.name, "unwanted", f"{doc.id} is listed")
        else:
            doc.metadata["checked_by"] = f"pid-{__import__('os').getpid()}"


class SeenIds(GlobalStep):
    """Drops a document whose id an earlier run kept; the ids live in OUTPUT/state/seen_ids.txt."""
    name = "seen_ids"

    def key(self, doc):
        return doc.id

    def reduce(self, items, state_dir):
        from pipeline.step import Drop

        seen = _ids(Path(state_dir) / "seen_ids.txt")
        self.new = []
        for ref, key in items:
            if key in seen:
                yield Drop(ref.order, "seen_before", key)
            else:
                self.new.append(key)

    def stage(self, delta_dir, *_more):  # (later versions also pass what the run dropped)
        (Path(delta_dir) / "ids.txt").write_text("\n".join(self.new))

    def commit(self, state_dir, delta_dir):  # idempotent: a union, written whole
        state = Path(state_dir) / "seen_ids.txt"
        ids = _ids(state) | _ids(Path(delta_dir) / "ids.txt")
        state.with_suffix(".tmp").write_text("\n".join(sorted(ids)))
        state.with_suffix(".tmp").replace(state)


def _ids(path):
    return set(path.read_text().split()) if path.exists() else set()


class NotAStep:
    pass


class Nameless(Step):
    def process(self, doc):
        pass
'''


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def python(code_or_args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else code_or_args
    full_env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **(env or {})}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_the_readme_example_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    code = readme_example()
    assert len(code.strip().splitlines()) <= 20
    done = python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "5 kept" and len(lines) == 6
    assert all(re.match(r"^\d{3}_[0-9a-f]+\.txt (True|False) \S", line) for line in lines[1:])
    [manifest_path] = (tmp_path / "corpus-api" / "runs").glob("*/manifest.json")
    manifest = orjson.loads(manifest_path.read_bytes())
    assert list(manifest["stages"]) == [
        "read",
        "decode",
        "clean_lines",
        "dump_metadata",
        "normalize",
        "length_filter",
        "tag_long",
        "exact_dedup",
    ]
    assert manifest["stages"]["tag_long"]["in"] == 5 and manifest["workers"] == 2
    assert {"step": "__main__:TagLong", "min_words": 400} in manifest["config"]["steps"]
    length = next(s for s in manifest["config"]["steps"] if s["step"] == "length_filter")
    assert length["min_words"] == 50 and length["min_chars"] == 200  # the config's options, one overridden


def write_my_steps(tmp_path: Path) -> Path:
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text(MY_STEPS, encoding="utf-8")
    return tmp_path


def config_with(tmp_path: Path, extra: str, **run_options) -> Path:
    path = small_config(tmp_path, **run_options)
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def test_a_custom_step_by_import_path_runs_in_the_workers(tmp_path):
    write_my_steps(tmp_path)
    inputs = tmp_path / "in"
    write_articles(inputs, range(4))
    config = config_with(tmp_path, "  - step: mypkg.steps:DropIds\n    ids: [page-002.txt]\n", workers=2)
    out = tmp_path / "out"
    done = python(
        ["-m", "pipeline", "run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"],
        ROOT,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    [run_dir] = (out / "runs").iterdir()
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    assert manifest["stages"]["drop_ids"]["dropped"] == {"unwanted": 1} and manifest["workers"] == 2
    assert manifest["counts"]["by_reason"]["drop_ids:unwanted"] == 1
    from pipeline.api import read_corpus

    kept = list(read_corpus(out))
    assert len(kept) == 3 and "page-002.txt" not in {r["id"] for r in kept}
    assert all(r["metadata"]["checked_by"].startswith("pid-") for r in kept)  # the step ran on every kept one
    docs = list(read_corpus(out, as_documents=True))
    assert sorted(d.id for d in docs) == sorted(r["id"] for r in kept) and docs[0].metadata["source"] == "in"


def test_a_custom_global_step_is_committed_by_roll_forward_after_a_kill(tmp_path):
    """Killed between the manifest and the commit: the next run applies the custom step's delta."""
    write_my_steps(tmp_path)
    inputs = tmp_path / "in"
    write_articles(inputs, range(3))
    config = config_with(tmp_path, "  - step: mypkg.steps:SeenIds\n")
    out = tmp_path / "out"
    command = ["-m", "pipeline", "run", "-c", str(config), "-i", str(inputs), "-o", str(out), "-q"]
    env = {"PYTHONPATH": str(tmp_path)}
    killed = python(command, ROOT, env={**env, "NEWSCLEAN_TEST_KILL_AT": "manifest"})
    assert killed.returncode == -9 and not (out / "state" / "seen_ids.txt").exists()
    done = python(command, ROOT, env=env)
    assert done.returncode == 0, done.stderr
    assert "completed the commit of run" in done.stderr
    assert (out / "state" / "seen_ids.txt").read_text().split() == [
        "page-000.txt",
        "page-001.txt",
        "page-002.txt",
    ]


def test_a_step_registered_by_an_installed_package_is_found_by_name(tmp_path, monkeypatch):
    site = write_my_steps(tmp_path)
    dist = site / "mysteps-0.1.dist-info"  # what `pip install` of a package with the entry point leaves
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mysteps\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[newsclean.steps]\ndrop_ids = mypkg.steps:DropIds\n")
    monkeypatch.syspath_prepend(str(site))
    config = config_with(tmp_path, "  - step: drop_ids\n    ids: [x]\n")
    assert ("drop_ids", {"ids": ["x"]}) in load_config(config).steps
    from pipeline.registry import step_class

    assert step_class("drop_ids").__name__ == "DropIds"


@pytest.mark.parametrize(
    "step, message",
    [
        ("nomodule_xyz.steps:Thing", "cannot import 'nomodule_xyz.steps'"),
        ("mypkg.steps:Missing", "module 'mypkg.steps' has no 'Missing'"),
        ("mypkg.steps:NotAStep", "NotAStep is not a Step class"),
        ("mypkg.steps:Nameless", "Nameless has no `name`"),
        ("mypkg.steps:DropIds\n    idz: [a]", "drop_ids"),
    ],
)
def test_custom_step_errors_are_one_line_naming_file_and_line(tmp_path, monkeypatch, step, message):
    monkeypatch.syspath_prepend(str(write_my_steps(tmp_path)))
    config = config_with(tmp_path, f"  - step: {step}\n")
    line = len(config.read_text(encoding="utf-8").splitlines()) - step.count("\n")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    text = str(err.value)
    assert "\n" not in text
    if "idz" in step:
        assert "unknown key 'idz'" in text and "(known: ids)" in text and f"config.yaml:{line + 1}" in text
    else:
        assert message in text and f"config.yaml:{line}" in text


def test_api_refuses_unusable_steps_clearly(tmp_path):
    from pipeline import Pipeline, Step

    class Local(Step):  # defined in a function: workers could not import it
        name = "local"

        def process(self, doc):
            pass

    with pytest.raises(ConfigError, match="defined inside a function"):
        Pipeline([Local()])
    with pytest.raises(ConfigError, match="unknown key 'min_word'"):
        Pipeline([("length_filter", {"min_word": 3})])
    with pytest.raises(ConfigError, match="unknown step 'normalise'"):
        Pipeline(["normalise"])
    with pytest.raises(ConfigError, match="unknown run option 'worker'"):
        Pipeline(worker=2)


def test_read_corpus_reads_an_export(tmp_path):
    from pipeline import Pipeline, export_corpus, read_corpus

    inputs = tmp_path / "in"
    write_articles(inputs, range(3))
    result = Pipeline(config=small_config(tmp_path)).run(inputs, tmp_path / "out")
    assert result.manifest["counts"]["kept"] == 3
    export_corpus(tmp_path / "out", tmp_path / "export", compression="zstd")
    assert sorted(r["id"] for r in read_corpus(tmp_path / "export")) == [f"page-00{i}.txt" for i in range(3)]
    assert list(read_corpus(tmp_path / "export")) == list(read_corpus(tmp_path / "out"))


def test_process_cleans_documents_in_memory_as_a_run_does(tmp_path):
    from pipeline import Pipeline, read_corpus

    seed = sorted((ROOT / "seeds").glob("*.txt"))[0]
    pipeline = Pipeline(workers=1, progress="off")
    cleaned, short = pipeline.process([seed.read_text(encoding="utf-8"), "Tin ngắn."])
    assert short.drop_reason == "too_short" and short.drop_stage == "length_filter"
    assert not cleaned.dropped and cleaned.removed_counts()["weather_widget"] > 0
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(seed, inputs / seed.name)
    pipeline.run(inputs, tmp_path / "out")
    [record] = read_corpus(tmp_path / "out")
    assert cleaned.text == record["text"] and cleaned.metadata["title"] == record["metadata"]["title"]
