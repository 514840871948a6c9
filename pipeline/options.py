"""Typed option schemas: one per config section (`run`, `read`) and per step.

A schema is a dataclass (subclass `Schema`) whose fields are the options: the annotation is the
type, the default is the shipped default, and `option(...)` adds a range or the allowed values.
Validation (unknown keys, types, ranges, choices) and the reference of keys (docs/config.md) are
driven by it, and the shipped config/default.yaml must list exactly these defaults (a test checks).
A step of one's own may still declare a plain `defaults = {...}` dict: its schema is inferred
(each option has the type of its default).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Schema:
    """Base of an options schema; a subclass is made a dataclass."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        dataclass(cls)


def option(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: tuple | None = None,
) -> Any:
    """A field of a schema with its default and the values it takes: numbers in [low, high] (low
    excluded when `low_open`), or one of `choices`. A default that is a schema class stands for a
    nested mapping validated by that schema. Without a range, a number must be >= 0, and one whose
    name ends in `_share` in [0, 1]."""
    meta: dict[str, Any] = {"low": low, "high": high, "low_open": low_open, "choices": choices}
    if isinstance(default, type) and issubclass(default, Schema):
        meta["schema"] = default
        return dataclasses.field(default_factory=lambda: defaults_of(default), metadata=meta)
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Option:
    """One key of a schema: its default, type and the values it takes."""

    name: str
    default: Any
    kind: Any  # a type or a typing form (list[str], float | None, ...); Any: anything
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple | None = None
    schema: type | None = None  # a nested mapping's schema

    def bounds(self) -> tuple[float | None, float | None, bool]:
        """(low, high, low excluded) of a number: declared, else [0, 1] for a *_share, else >= 0."""
        if self.low is not None or self.high is not None:
            return self.low, self.high, self.low_open
        return (0, 1, False) if self.name.endswith("_share") else (0, None, False)


def defaults_of(schema: type) -> dict:
    """The defaults of a schema class as a plain dict, in declaration order."""
    return {name: opt.default for name, opt in schema_of(schema).items()}


def schema_of(source: type | dict) -> dict[str, Option]:
    """The options of a schema class, or of a plain defaults dict (types taken from the values)."""
    if isinstance(source, dict):
        return {key: Option(key, value, _inferred(value)) for key, value in source.items()}
    hints = typing.get_type_hints(source)
    out = {}
    for f in dataclasses.fields(source):
        factory = typing.cast(Callable[[], Any], f.default_factory)
        default = factory() if f.default is dataclasses.MISSING else f.default
        meta = dict(f.metadata)
        out[f.name] = Option(f.name, default, hints[f.name], **meta)
    return out


def _inferred(value: Any) -> Any:
    if value is None:
        return Any
    if isinstance(value, tuple):
        return list
    return type(value)


def type_ok(value: Any, kind: Any) -> bool:
    """Whether `value` (as loaded from YAML) fits the type `kind`; ints are numbers, bools are not."""
    origin, args = typing.get_origin(kind) or kind, typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(type_ok(value, arg) for arg in args)
    if kind is Any or kind is object:
        return True
    if kind is type(None):
        return value is None
    if origin is bool:
        return isinstance(value, bool)
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and (not args or all(type_ok(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict) and (
            not args or all(type_ok(k, args[0]) and type_ok(v, args[1]) for k, v in value.items())
        )
    return isinstance(value, origin)


def type_label(kind: Any) -> str:
    """How a type is named in messages: int, float, str, bool, list of str, dict, ..."""
    origin, args = typing.get_origin(kind) or kind, typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_label(arg) for arg in args)
    if kind is type(None):
        return "null"
    if origin in (list, tuple) and args:
        return f"list of {type_label(args[0])}"
    if origin is tuple:
        return "list"
    if origin is dict and args:
        return f"dict of {type_label(args[0])} to {type_label(args[1])}"
    return getattr(origin, "__name__", str(origin))


def value_label(value: Any) -> str:
    """The type of a loaded value as messages name it (the loader's LocatedDict is a dict)."""
    for kind in (bool, int, float, str, dict, list):
        if isinstance(value, kind):
            return kind.__name__
    return type(value).__name__
