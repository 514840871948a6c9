"""The reference of every config key (docs/config.md), generated from the shipped config.

One source of truth for defaults: config/default.yaml lists every option of every
step with its default, and the code's defaults (`RUN_DEFAULTS`, `READ_DEFAULTS`,
each step's `defaults`) must equal it (tests/test_config_reference.py checks both
ways). The meaning of a key is the comment on its line in default.yaml (and comment
lines under it); its type is that of the default; a step's description is the first
line of its module's docstring. `newsclean config --reference`
prints the page; a test fails when docs/config.md differs from it.
"""

from __future__ import annotations

import json

import yaml

from pipeline.config import DEFAULT_CONFIG, READ_DEFAULTS, RUN_DEFAULTS, LocatedDict, load_yaml

HEADER = """# Config reference

Every key of a newsclean config, with its type, default and meaning. Generated from the
shipped `config/default.yaml` (`pipeline/defaults/default.yaml` in the installed package) by
`newsclean config --reference > docs/config.md`; a test fails when this page is out of date.
A config file sets only what it changes: every key it leaves out takes the default below.
Paths of rule, profile and site files are relative to the config file; a name the config's
folder does not have is taken from the shipped config (`rules/vi.yaml` works from any config).
Command-line options (`--workers`, `--engine`, ...) override `run` keys and are validated the same way.
Every step also takes `enabled: true|false`.
"""


def type_name(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


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


def _table(section: LocatedDict, defaults: dict, lines: list[str]) -> list[str]:
    out = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for key, default in defaults.items():
        line = section.lines.get(key) if isinstance(section, LocatedDict) else None
        meaning = key_comment(lines, line) if line else ""
        out.append(
            f"| `{key}` | {type_name(default)} | `{_cell(shown_default(default))}` | {_cell(meaning)} |"
        )
    return out


def reference_markdown() -> str:
    from pipeline.registry import STEPS, step_class

    raw = load_yaml(DEFAULT_CONFIG)
    lines = DEFAULT_CONFIG.read_text(encoding="utf-8").splitlines()
    out = [HEADER]
    out += ["## run", "", "How a run is cut into tasks and written.", ""]
    out += _table(raw["run"], RUN_DEFAULTS, lines)
    out += ["", "## read", "", "Input limits and field names.", ""]
    read_defaults = {k: v for k, v in READ_DEFAULTS.items() if not isinstance(v, dict)}
    out += _table(raw["read"], read_defaults, lines)
    for key, nested in READ_DEFAULTS.items():
        if isinstance(nested, dict):
            out += ["", f"### read.{key}", "", key_comment(lines, raw["read"].lines[key]), ""]
            out += _table(raw["read"][key], nested, lines)
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
        defaults = cls.defaults
        out += ["", f"### {name}", "", step_description(cls) or "(no description)", ""]
        out += _table(item, defaults, lines) if defaults else ["No options."]
    return "\n".join(out) + "\n"
