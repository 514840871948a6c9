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

from pipeline.options import (
    Option,
    Schema,
    defaults_of,
    option,
    schema_of,
    type_label,
    type_ok,
    value_label,
)

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


# libyaml's parser where PyYAML was built with it: ~8x faster than the Python one (0.04 s of CPU for
# the shipped config, rules and profiles of every run)
_FAST_BASE = getattr(yaml, "CSafeLoader", None)


def _make_loader(file: str, base: type = yaml.SafeLoader):
    class Loader(base):  # a class chosen at run time
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
        data = _parse_yaml(text, shown)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{shown}{line}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{shown}: invalid YAML: {exc}") from None
    return data


def _parse_yaml(text: str, shown: str) -> Any:
    """The file's data through libyaml's parser (the same nodes, lines and values); a file that it
    refuses, or that holds an alias (its compose step cannot be hooked to refuse one), is parsed again
    by the Python parser, whose errors the messages quote as before."""
    if _FAST_BASE is not None and not _has_alias(text):
        try:
            return yaml.load(text, Loader=_make_loader(shown, _FAST_BASE))  # noqa: S506 - a safe loader
        except yaml.YAMLError:
            pass
    return yaml.load(text, Loader=_make_loader(shown))  # noqa: S506 - SafeLoader subclass


def _has_alias(text: str) -> bool:
    if "*" not in text:  # an alias starts with "*"
        return False
    try:
        return any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=_FAST_BASE))
    except yaml.YAMLError:
        return True  # not parsable: the Python parser reports it


def check_options(options: dict, schema: type | dict, where: str, base: dict | None = None) -> dict:
    """Merge `options` over the defaults of `schema` (a Schema class or a plain defaults dict), or
    over `base` when given; reject unknown keys, wrong types, numbers out of range and values not
    among the choices, naming the file and line (or the command-line option) of the key."""
    known = schema_of(schema)
    merged = dict(base) if base is not None else {key: opt.default for key, opt in known.items()}
    for key, value in options.items():
        loc = options.where(key) if isinstance(options, LocatedDict) else where
        if key not in known:
            names = ", ".join(sorted(known)) or "(none)"
            raise ConfigError(f"{loc}: {where}: unknown key {key!r} (known: {names})")
        merged[key] = _checked(value, known[key], where, loc)
    return merged


def _checked(value: Any, opt: Option, where: str, loc: str) -> Any:
    if opt.schema is not None and isinstance(value, dict):  # a nested mapping: its own keys checked
        return check_options(value, opt.schema, f"{where}.{opt.name}")
    if not type_ok(value, dict if opt.schema is not None else opt.kind):
        expected = "dict" if opt.schema is not None else type_label(opt.kind)
        raise ConfigError(
            f"{loc}: {where}.{opt.name}: expected {expected}, got {value_label(value)} ({value!r})"
        )
    if opt.choices is not None and value not in opt.choices:
        choices = f"{', '.join(opt.choices[:-1])} or {opt.choices[-1]}"
        raise ConfigError(f"{loc}: {where}.{opt.name} must be {choices}, not {value!r}")
    check_range(value, opt, where, loc)
    return value


def check_range(value: Any, opt: Option, where: str, loc: str) -> None:
    """Raise ConfigError when a number is outside the option's range (`Option.bounds`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high, low_open = opt.bounds()
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
        raise ConfigError(f"{loc}: {where}.{opt.name}: must be {bounds}, got {value!r}")


def config_hash(config: Any) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- the pipeline configuration (config/default.yaml) ---------------------------------


class RunOptions(Schema):
    """How a run is cut into tasks and written."""

    collection: str = (
        ""  # `source` of documents whose site is unknown; "" = the JSONL/WARC file's or input folder's name
    )
    shard_size: int = option(50_000, low=1)
    compression: str = option("gzip", choices=("gzip", "zstd", "none"))
    compresslevel: int = 2  # gzip 0-9, zlib-ng's levels (zstd 1-22); see default.yaml
    progress: str = option("auto", choices=("auto", "on", "off"))  # auto: on a terminal
    workers: int = 0  # processes for the per-document steps; 0 = all cores
    task_size: int = option(
        2000, low=1
    )  # documents (or small files) per task; fixed so output does not depend on the workers
    partitions: int = 0  # > 0: cut the input into about this many tasks instead (task_size follows)
    engine: str = option("local", choices=("local", "ray"))  # ray: a Ray cluster, or a local Ray
    address: str = ""  # ray: "" = start a local Ray, auto = the cluster of this node, ray://HOST:PORT
    dedup: str = option("auto", choices=("auto", "driver", "sharded"))  # where the near-dup reduce runs
    dedup_ranges: int = 0  # sharded: key ranges per band (0 = one per ~400k documents)
    doc_timeout: float = 30.0  # seconds one document may spend in the per-document steps (0 = no limit)
    # an input an earlier run processed that is gone from the input folder: keep its documents in the
    # corpus, or retire them (the corpus then follows the folder, as a fresh run over it would)
    vanished_inputs: str = option("keep", choices=("keep", "retire"))


class JsonlFields(Schema):
    """JSONL crawl records: which field holds what ("" = not used). A record needs html or text."""

    id: str = "id"
    url: str = "url"
    html: str = "html"
    text: str = "text"
    title: str = "title"
    created: str = "date"


class ReadOptions(Schema):
    """Input limits and field names."""

    max_bytes: int = option(50 * 1024 * 1024, low=1)  # a larger input (after gunzip) becomes an error record
    # symlinked directories under an input folder: followed (loops reported), or each one an error record
    follow_symlinks: bool = True
    timezone: str = ""  # UTC offset of publication times that state none ("+07:00"); "" = unknown: date only
    jsonl_fields: dict = option(JsonlFields)


RUN_DEFAULTS = defaults_of(RunOptions)
READ_DEFAULTS = defaults_of(ReadOptions)
SECTIONS = {"run": RunOptions, "read": ReadOptions}
TOP_LEVEL = (*SECTIONS, "steps")


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
    file, key and reason. Command-line `overrides` ({"run.workers": (4, "--workers")}) are set
    before validation, so they are checked like the file's values."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    raw: Any = load_yaml(path)
    shown = display_path(path)
    if raw is None:
        raw = LocatedDict()
    if not isinstance(raw, LocatedDict):
        raise ConfigError(f"{shown}: the config must be a mapping with keys {', '.join(TOP_LEVEL)}")
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(
                f"{raw.where(key)}: unknown top-level key {key!r} (known: {', '.join(TOP_LEVEL)})"
            )
    config = Config(raw, path)
    config.run, config.read = (_section(raw, name, overrides, shown) for name in SECTIONS)
    steps = raw.get("steps")
    if steps is None:
        raise ConfigError(f"{shown}: missing 'steps' (the ordered list of pipeline steps)")
    if not isinstance(steps, list):
        raise ConfigError(f"{raw.where('steps')}: 'steps' must be a list")
    for index in range(len(steps)):
        name, enabled, merged = _step_entry(steps, index, shown)
        config.listed.append((name, enabled, merged))
        if enabled:
            config.steps.append((name, merged))
    return config


def _section(raw: LocatedDict, name: str, overrides: dict | None, shown: str) -> dict:
    """The `run` or `read` section, command-line overrides set in it, validated by its schema."""
    if raw.get(name) is not None and not isinstance(raw[name], dict):
        raise ConfigError(f"{raw.where(name)}: '{name}' must be a mapping of options")
    given = _overridden(raw.get(name), overrides, name, shown)
    if isinstance(given.get("progress"), bool):  # YAML 1.1 reads an unquoted on/off as true/false
        given["progress"] = "on" if given["progress"] else "off"
    merged = check_options(given, SECTIONS[name], name)
    levels = {"gzip": range(0, 10), "zstd": range(1, 23)}.get(str(merged.get("compression")))
    if name == "run" and levels and merged["compresslevel"] not in levels:
        raise ConfigError(
            f"{given.where('compresslevel')}: run.compresslevel must be {levels.start}-{levels.stop - 1} "
            f"for {merged['compression']}, not {merged['compresslevel']!r}"
        )
    return merged


def _step_entry(steps: list, index: int, shown: str) -> tuple[str, bool, dict]:
    """(name, enabled, options merged over the step's defaults) of `steps[index]`, validated."""
    from pipeline.registry import StepImportError, step_class

    item = steps[index]
    where = steps.where(index) if isinstance(steps, LocatedList) else shown
    if not isinstance(item, dict) or "step" not in item:
        raise ConfigError(f"{where}: steps[{index}] must be a mapping with a 'step' name")
    name = item["step"]
    try:
        cls = step_class(name) if isinstance(name, str) else None
    except StepImportError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if cls is None:
        raise ConfigError(f"{where}: steps[{index}].step must be a step name, not {name!r}")
    options = LocatedDict({k: v for k, v in item.items() if k not in ("step", "enabled")})
    options.file, options.lines = getattr(item, "file", shown), getattr(item, "lines", {})
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{options.where('enabled')}: {name}.enabled must be true or false")
    merged = check_options(options, cls.schema(), name)
    validate = getattr(cls, "validate", None)  # a step's own checks of its values
    if validate is not None:
        validate(merged, options.where)
    return name, enabled, merged
