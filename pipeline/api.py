"""The Python API: build a pipeline from steps in code, run it, read a corpus back.

    from pipeline import Pipeline, Step, read_corpus

A `Pipeline` is a validated config (`config/default.yaml` unless another is
given) whose step list may be replaced in code; `run()` is `newsclean run`:
the same runner, output layout, incremental state and manifest. Steps are given
as built-in names (with the config's options for that step), `(name, options)`
pairs, or Step objects, a user's own subclasses included. Every worker process
builds its own copy of each step from the step's class (by import path) and
`options`, so a step class must be defined at module level and keep what it
needs in `options`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline import config as config_module
from pipeline.config import Config, ConfigError, check_options, load_config
from pipeline.document import Document
from pipeline.registry import StepImportError, import_path_of, step_class
from pipeline.step import Step

# the shipped default config where the package has one, else the repository's
DEFAULT_CONFIG = getattr(
    config_module, "DEFAULT_CONFIG", Path(__file__).resolve().parent.parent / "config" / "default.yaml"
)


class Pipeline:
    """Steps in order, run over inputs into a corpus folder exactly like `newsclean run`."""

    def __init__(self, steps: Iterable | None = None, config: str | Path | None = None, **run_options):
        """`steps`: None for the config's steps, else a list of step names, (name, options) pairs,
        Step objects or Step classes. `run_options`: any `run:` key of the config (workers, shard_size,
        compression, progress, …)."""
        unknown = sorted(set(run_options) - set(config_module.RUN_DEFAULTS))
        if unknown:
            raise ConfigError(
                f"Pipeline: unknown run option {unknown[0]!r} "
                f"(known: {', '.join(sorted(config_module.RUN_DEFAULTS))})"
            )
        overrides = {f"run.{key}": value for key, value in run_options.items()}
        self.config: Config = load_config(config or DEFAULT_CONFIG, overrides)
        if steps is not None:
            configured = {name: options for name, options in self.config.steps}
            self.config.steps = [_entry(spec, configured) for spec in steps]
            self.config.raw = self.config.as_dict()  # the hash (resume, manifest) follows the steps given

    @property
    def steps(self) -> list[tuple[str, dict]]:
        """(step name or import path, options) in order."""
        return list(self.config.steps)

    def run(
        self,
        inputs: list[str | Path] | str | Path,
        output: str | Path,
        workers: int | None = None,
        reprocess: bool = False,
    ):
        """Process the inputs (files, folders or URLs) not yet in the corpus at `output`; returns the
        RunResult (`run_dir`, `manifest`, per-step `stats`)."""
        from pipeline.runner import run_pipeline

        if isinstance(inputs, (str, Path)):
            inputs = [inputs]
        return run_pipeline(self.config, list(inputs), output, workers=workers, reprocess=reprocess)

    def process(self, docs: Iterable[Document | str]) -> Iterator[Document]:
        """The per-document steps over documents in memory, lazily (a text becomes a Document with
        id "0", "1", …). Dropped documents come out too, with `drop_reason`; deduplication needs a
        corpus and is left out (use `run`)."""
        from pipeline.runner import build_steps
        from pipeline.step import GlobalStep

        stream: Iterator[Document] = (
            Document(id=str(n), text=d) if isinstance(d, str) else d for n, d in enumerate(docs)
        )
        for step in build_steps(self.config):
            if not isinstance(step, GlobalStep):
                stream = step.run(stream)
        return stream


def _entry(spec, configured: dict) -> tuple[str, dict]:
    """One step of the list as (name or import path, validated options)."""
    if isinstance(spec, Step):
        return _class_path(type(spec)), dict(spec.options)
    if isinstance(spec, type) and issubclass(spec, Step):
        return _class_path(spec), dict(spec.defaults)
    name, options = (spec, {}) if isinstance(spec, str) else _pair(spec)
    try:
        cls = step_class(name)
    except StepImportError as exc:
        raise ConfigError(str(exc)) from None
    base = configured.get(name)  # a built-in step named as in the config keeps its options there
    return name, check_options(options, cls.schema(), name, base)


def _pair(spec) -> tuple[str, dict]:
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
        return spec
    raise ConfigError(f"a step must be a name, a (name, options) pair or a Step, not {spec!r}")


def _class_path(cls: type) -> str:
    try:
        path = import_path_of(cls)
        step_class(path)  # importable by that path, a Step with a name
    except StepImportError as exc:
        raise ConfigError(str(exc)) from None
    return path


def read_corpus(path: str | Path, as_documents: bool = False) -> Iterator[dict] | Iterator[Document]:
    """The kept records of a corpus folder (finished runs, superseded records left out) or of an
    export (`newsclean export`, a folder or a URL), as dicts (the JSONL schema), or as Documents."""
    from pipeline.commands.export import is_export, iter_export

    records = iter_export(str(path)) if is_export(str(path)) else _corpus_records(path)
    for record in records:
        yield _as_document(record) if as_documents else record


def _corpus_records(output) -> Iterator[dict]:
    from pipeline.corpus import iter_kept

    if not (Path(output) / "runs").is_dir():
        raise FileNotFoundError(f"{output}: neither a corpus (no runs/) nor an export (no manifest.json)")
    for _run, record in iter_kept(output):
        yield record


def _as_document(record: dict) -> Document:
    metadata = {
        **(record.get("metadata") or {}),
        **{key: record.get(key) for key in ("source", "added", "created")},
    }
    return Document(id=record["id"], text=record.get("text", ""), metadata=metadata)
