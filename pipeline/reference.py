"""The reference of every config key (docs/config.md), generated from the option schemas.

Keys, types, ranges and defaults come from the schemas (`pipeline/options.py`: `RunOptions`,
`ReadOptions`, each step's `Options`); the shipped config/default.yaml lists exactly those
defaults (tests/test_config_reference.py checks), and the meaning of a key is the comment on
its line there (and comment lines under it). A step's description is the first line of its
module's docstring. `newsclean config --reference` prints the page; a test fails when
docs/config.md differs from it.
"""

from __future__ import annotations

import json

import yaml

from pipeline.config import DEFAULT_CONFIG, LocatedDict, ReadOptions, RunOptions, load_yaml
from pipeline.options import Option, schema_of

HEADER = """# Config reference

Every key of a newsclean config, with its type, default and meaning. Generated from the
option schemas (`pipeline/options.py`; types, ranges, defaults) and the comments of the shipped
`config/default.yaml` (`pipeline/defaults/default.yaml` in the installed package) by
`newsclean config --reference > docs/config.md`; a test fails when this page is out of date.
A config file sets only what it changes: every key it leaves out takes the default below.
Paths of rule, profile and site files are relative to the config file; a name the config's
folder does not have is taken from the shipped config (`rules/vi.yaml` works from any config).
Command-line options (`--workers`, `--engine`, ...) override `run` keys and are validated the same way.
Every step also takes `enabled: true|false`.
"""


def type_name(opt: Option) -> str:
    """The type of an option as the reference shows it, with its range or choices."""
    kind = opt.kind
    if opt.schema is not None or kind in (dict, dict[str, str]):
        return "mapping"
    if opt.choices:
        return " | ".join(f"`{choice}`" for choice in opt.choices)
    names = {bool: "bool", int: "int", float: "number", str: "string", list: "list"}
    name = names.get(kind) or ("list of strings" if kind == list[str] else str(kind))
    if kind not in (int, float):
        return name
    low, high, low_open = opt.bounds()
    if high is None:
        return f"{name} {'>' if low_open else '≥'} {low:g}"
    return f"{name} in {'(' if low_open else '['}{low:g}, {high:g}]"


def shown_default(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict) and value and all(isinstance(v, dict) or v is None for v in value.values()):
        return "(see below)"
    flow = yaml.safe_dump(
        _plain(value), default_flow_style=True, allow_unicode=True, width=1000, sort_keys=False
    )
    return flow.strip().removesuffix("...").strip()


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _comment(line: str) -> str:
    """The `# comment` of a YAML line, outside quotes ('' when none)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[i + 1 :].strip()
    return ""


def key_comment(lines: list[str], line_no: int) -> str:
    """The comment on line `line_no` (1-based) and the comment-only lines that continue it."""
    text = [_comment(lines[line_no - 1])]
    column = lines[line_no - 1].find("#")
    for following in lines[line_no:]:
        stripped = following.lstrip()
        if not stripped.startswith("#") or following.find("#") < column or column < 0:
            break
        text.append(stripped[1:].strip())
    return " ".join(t for t in text if t)


def step_description(cls) -> str:
    """The first line of the step's module docstring, without its "name: " prefix."""
    import sys

    first = ((sys.modules[cls.__module__].__doc__ or "").strip().splitlines() or [""])[0]
    first = first.removeprefix(f"{cls.name}: ")
    return first[:1].upper() + first[1:]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(section: LocatedDict, schema: type | dict, lines: list[str]) -> list[str]:
    out = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for key, opt in schema_of(schema).items():
        if opt.schema is not None:
            continue  # a nested mapping has a table of its own
        line = section.lines.get(key) if isinstance(section, LocatedDict) else None
        meaning = key_comment(lines, line) if line else ""
        out.append(
            f"| `{key}` | {_cell(type_name(opt))} | `{_cell(shown_default(opt.default))}` | {_cell(meaning)} |"
        )
    return out


def reference_markdown() -> str:
    from pipeline.registry import STEPS, step_class

    raw = load_yaml(DEFAULT_CONFIG)
    lines = DEFAULT_CONFIG.read_text(encoding="utf-8").splitlines()
    out = [HEADER]
    for n, (name, schema) in enumerate((("run", RunOptions), ("read", ReadOptions))):
        out += [""] * (n > 0) + [f"## {name}", "", schema.__doc__ or "", ""]
        out += _table(raw[name], schema, lines)
        for key, opt in schema_of(schema).items():
            if opt.schema is not None:
                out += ["", f"### {name}.{key}", "", key_comment(lines, raw[name].lines[key]), ""]
                out += _table(raw[name][key], opt.schema, lines)
    out += [
        "",
        "## steps",
        "",
        "The ordered list of steps; each entry is `- step: NAME` and the options below. The shipped order:",
        "",
    ]
    listed = {item["step"]: item for item in raw["steps"]}
    out += [
        f"{n}. `{name}`" + (" (enabled: false)" if item.get("enabled") is False else "")
        for n, (name, item) in enumerate(listed.items(), 1)
    ]
    for name in STEPS:
        item, cls = listed[name], step_class(name)
        out += ["", f"### {name}", "", step_description(cls) or "(no description)", ""]
        out += _table(item, cls.schema(), lines) if cls.defaults else ["No options."]
    return "\n".join(out) + "\n"
