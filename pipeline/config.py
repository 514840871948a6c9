"""Load YAML safely, remember where every value came from, validate before work starts.

Every mapping and list loaded here is a `Located*` subclass that knows the file and
line of each key/item, so errors and `newsclean explain` can point at `file:line`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

# The shipped config and its rule files live inside the package (the repository's `config/` is a
# link to this folder), so an installed newsclean finds them from any working directory.
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
DEFAULT_CONFIG = DEFAULTS_DIR / "default.yaml"


def data_file(base: str | Path, name: str | Path) -> Path:
    """A file a config names (rule file, profile, sites.yaml): absolute as given; relative to the
    config's folder `base` when it is there, else the packaged file of that name (a user's config
    may use the shipped rules without copying them); else the path under `base`, for the error."""
    name = Path(name)
    if name.is_absolute():
        return name
    local = Path(base) / name
    if local.exists():
        return local
    shipped = DEFAULTS_DIR / name
    return shipped if shipped.exists() else local


class ConfigError(Exception):
    """A configuration problem, reported as `file: key: reason` before any work starts."""


class LocatedDict(dict):
    file: str = "?"
    lines: dict
    given: dict  # key -> the command-line option that set it (overrides)

    def where(self, key: str) -> str:
        option = getattr(self, "given", {}).get(key)
        if option:
            return f"command line {option}"
        line = getattr(self, "lines", {}).get(key)
        return f"{self.file}:{line}" if line else self.file


class LocatedList(list):
    file: str = "?"
    lines: list

    def where(self, index: int) -> str:
        lines = getattr(self, "lines", [])
        return f"{self.file}:{lines[index]}" if index < len(lines) else self.file


def _make_loader(file: str):
    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            # aliases refused before anything expands them: nine levels of a "billion laughs" alias
            # bomb load in 0.2 s as shared nodes but took over 60 s and 1.3 GB to hash or walk
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise ConfigError(
                    f"{file}:{event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not "
                    "allowed in newsclean files; write the value out"
                )
            return super().compose_node(parent, index)

    def construct_mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        out = LocatedDict()
        out.file, out.lines = file, {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise ConfigError(f"{file}:{key_node.start_mark.line + 1}: keys must be plain scalars")
            if key in out:
                raise ConfigError(f"{file}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(loader, node, deep=False):
        out = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
        out.file, out.lines = file, [child.start_mark.line + 1 for child in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    return Loader


def display_path(path: Path) -> str:
    # abspath, not resolve(): `config/rules/vi.yaml` stays that, not the package folder it links to
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file with a safe loader; errors name the file and line."""
    path = Path(path)
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=_make_loader(shown))  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{shown}{line}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{shown}: invalid YAML: {exc}") from None
    return data


# Allowed ranges of numeric options: (min, max, min_excluded). An option not listed here must be
# >= 0, and one named *_share in [0, 1]; a value outside would make the run do nothing useful or
# fail after the map phase (task_size -5 read no JSONL record, compresslevel 10 failed the writer).
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "run.shard_size": (1, None, False),
    "run.task_size": (1, None, False),
    "read.max_bytes": (1, None, False),
    "near_dedup.threshold": (0, 1, True),
    "near_dedup.max_miss": (0, 1, True),
    "near_dedup.ngram": (1, None, False),
    "near_dedup.num_perm": (1, None, False),
    "near_dedup.max_bucket": (1, None, False),
    "language_filter.min_score": (0, 1, False),
    "language_filter.sample_chars": (1, None, False),
}


def _range_of(where: str, key: str) -> tuple[float | None, float | None, bool]:
    if f"{where}.{key}" in RANGES:
        return RANGES[f"{where}.{key}"]
    if key.endswith("_share"):
        return (0, 1, False)
    return (0, None, False)


def check_range(value: Any, where: str, key: str, loc: str) -> None:
    """Raise ConfigError when a numeric option is outside its range (see RANGES)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high, low_open = _range_of(where, key)
    if (
        value != value
        or (low is not None and (value < low or (low_open and value == low)))
        or (high is not None and value > high)
    ):
        bounds = (
            f"{'>' if low_open else '>='} {low}"
            if high is None
            else f"in {'(' if low_open else '['}{low}, {high}]"
        )
        raise ConfigError(f"{loc}: {where}.{key}: must be {bounds}, got {value!r}")


def check_options(options: dict, defaults: dict, where: str) -> dict:
    """Merge `options` over `defaults`; reject unknown keys, wrong types and numbers out of range."""
    merged = dict(defaults)
    for key, value in options.items():
        loc = options.where(key) if isinstance(options, LocatedDict) else where
        if key not in defaults:
            known = ", ".join(sorted(defaults)) or "(none)"
            raise ConfigError(f"{loc}: {where}: unknown key {key!r} (known: {known})")
        expected = defaults[key]
        if expected is not None and not _type_ok(value, expected):
            raise ConfigError(
                f"{loc}: {where}.{key}: expected {type(expected).__name__}, got {type(value).__name__} ({value!r})"
            )
        check_range(value, where, key, loc)
        merged[key] = value
    return merged


def _type_ok(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool):
        return isinstance(value, bool)
    if isinstance(expected, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(expected, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(expected, (list, tuple)):
        return isinstance(value, (list, tuple))
    if isinstance(expected, dict):
        return isinstance(value, dict)
    if isinstance(expected, str):
        return isinstance(value, str)
    return True


def config_hash(config: Any) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- the pipeline configuration (config/default.yaml) ---------------------------------

RUN_DEFAULTS = {
    "collection": "",  # `source` of documents whose site is unknown; "" = the JSONL/WARC file's or input folder's name
    "shard_size": 50_000,
    "compression": "gzip",  # gzip | zstd | none
    "compresslevel": 1,  # gzip 1-9 (zstd 1-22); 1 writes 4.5x faster than 6, files ~25% larger
    "progress": "auto",  # auto (on a terminal) | on | off
    "workers": 0,  # processes for the per-document steps; 0 = all cores
    "task_size": 2000,  # documents (or small files) per task; fixed so output does not depend on the workers
    "partitions": 0,  # > 0: cut the input into about this many tasks instead (task_size follows)
    "engine": "local",  # local (this machine) | ray (a Ray cluster, or a local Ray; pip install 'newsclean[ray]')
    "address": "",  # ray: "" = start a local Ray, auto = the cluster of this node, ray://HOST:PORT
    "dedup": "auto",  # near-dup reduce: driver (in the run process) | sharded (tasks) | auto
    "dedup_ranges": 0,  # sharded: key ranges per band (0 = one per ~400k documents)
    "doc_timeout": 30.0,  # seconds one document may spend in the per-document steps (0 = no limit)
    # an input an earlier run processed that is gone from the input folder: keep its documents in the
    # corpus, or retire them (the corpus then follows the folder, as a fresh run over it would)
    "vanished_inputs": "keep",
}
READ_DEFAULTS: dict[str, Any] = {
    "max_bytes": 50 * 1024 * 1024,  # a larger input (after gunzip) becomes an error record
    # symlinked directories under an input folder: followed (loops reported), or each one an error record
    "follow_symlinks": True,
    "timezone": "",  # UTC offset of publication times that state none ("+07:00"); "" = unknown: date only
    # JSONL crawl records: which field holds what ("" = not used). A record needs html or text.
    "jsonl_fields": {
        "id": "id",
        "url": "url",
        "html": "html",
        "text": "text",
        "title": "title",
        "created": "date",
    },
}
RUN_CHOICES = {
    "engine": ("local", "ray"),
    "dedup": ("auto", "driver", "sharded"),
    "vanished_inputs": ("keep", "retire"),
    "progress": ("auto", "on", "off"),
    "compression": ("gzip", "zstd", "none"),
}
TOP_LEVEL = {"run": RUN_DEFAULTS, "read": READ_DEFAULTS, "steps": None}


class Config:
    """A validated pipeline config: `run`, `read` options and the ordered `steps`."""

    def __init__(self, raw: dict, path: Path):
        self.raw, self.path = raw, path
        self.dir = path.parent
        self.run: dict = {}
        self.read: dict = {}
        self.steps: list[tuple[str, dict]] = []  # enabled steps, in order, options merged over defaults
        self.listed: list[tuple[str, bool, dict]] = []  # every listed step: (name, enabled, merged options)

    @property
    def hash(self) -> str:
        return config_hash(self.raw)

    def as_dict(self) -> dict:
        return {
            "run": self.run,
            "read": self.read,
            "steps": [{"step": name, **opts} for name, opts in self.steps],
        }


def _overridden(section, overrides: dict | None, name: str, shown: str) -> LocatedDict:
    """A copy of a config section with the command line's `name.key` overrides set in it.
    An override is {"run.workers": 4} or {"run.workers": (4, "--workers")} (the option that set it)."""
    out = LocatedDict(section or {})
    out.file = getattr(section, "file", shown)
    out.lines, out.given = dict(getattr(section, "lines", {})), {}
    for dotted, value in (overrides or {}).items():
        section_name, _, key = dotted.partition(".")
        if section_name != name:
            continue
        value, option = value if isinstance(value, tuple) else (value, f"({dotted})")
        out[key], out.given[key] = value, option
    return out


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Load and validate a pipeline config (None: the shipped default); raise ConfigError naming
    file, key and reason."""
    from pipeline.registry import StepImportError, step_class

    path = Path(path) if path is not None else DEFAULT_CONFIG
    raw = load_yaml(path)
    shown = display_path(path)
    if raw is None:
        raw = LocatedDict()
    if not isinstance(raw, LocatedDict):  # the loader makes every mapping one
        raise ConfigError(f"{shown}: the config must be a mapping with keys {', '.join(TOP_LEVEL)}")
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(
                f"{raw.where(key)}: unknown top-level key {key!r} (known: {', '.join(TOP_LEVEL)})"
            )
    config = Config(raw, path)
    for name in ("run", "read"):
        if raw.get(name) is not None and not isinstance(raw[name], dict):
            raise ConfigError(f"{raw.where(name)}: '{name}' must be a mapping of options")
    # command-line values go in before validation, so they are checked like the file's
    run = _overridden(raw.get("run"), overrides, "run", shown)
    if isinstance(run.get("progress"), bool):  # YAML 1.1 reads an unquoted on/off as true/false
        run["progress"] = "on" if run["progress"] else "off"
    config.run = check_options(run, RUN_DEFAULTS, "run")
    config.read = check_options(_overridden(raw.get("read"), overrides, "read", shown), READ_DEFAULTS, "read")
    fields = config.read["jsonl_fields"]
    config.read["jsonl_fields"] = check_options(fields, READ_DEFAULTS["jsonl_fields"], "read.jsonl_fields")
    for key, allowed in RUN_CHOICES.items():
        if config.run[key] not in allowed:
            choices = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
            raise ConfigError(f"{run.where(key)}: run.{key} must be {choices}, not {config.run[key]!r}")
    levels = {"gzip": range(0, 10), "zstd": range(1, 23)}.get(config.run["compression"])
    if levels and config.run["compresslevel"] not in levels:
        raise ConfigError(
            f"{run.where('compresslevel')}: run.compresslevel must be {levels.start}-{levels.stop - 1} "
            f"for {config.run['compression']}, not {config.run['compresslevel']!r}"
        )
    steps = raw.get("steps")
    if steps is None:
        raise ConfigError(f"{shown}: missing 'steps' (the ordered list of pipeline steps)")
    if not isinstance(steps, list):
        raise ConfigError(f"{raw.where('steps')}: 'steps' must be a list")
    for index, item in enumerate(steps):
        where = steps.where(index) if isinstance(steps, LocatedList) else shown
        if not isinstance(item, LocatedDict) or "step" not in item:
            raise ConfigError(f"{where}: steps[{index}] must be a mapping with a 'step' name")
        name = item["step"]
        try:
            cls = step_class(name) if isinstance(name, str) else None
        except StepImportError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if cls is None:
            raise ConfigError(f"{where}: steps[{index}].step must be a step name, not {name!r}")
        options = LocatedDict({k: v for k, v in item.items() if k not in ("step", "enabled")})
        options.file, options.lines = item.file, item.lines
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{item.where('enabled')}: {name}.enabled must be true or false")
        merged = check_options(options, cls.defaults, name)
        validate = getattr(cls, "validate", None)  # a step's own checks of its values
        if validate is not None:
            validate(merged, options.where)
        config.listed.append((name, enabled, merged))
        if enabled:
            config.steps.append((name, merged))
    return config
