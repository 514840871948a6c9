"""`newsclean config [-c FILE]`: the effective config (defaults merged, as a run would use it) as
YAML; `--reference`: every key with its type, default and meaning (docs/config.md)."""

from __future__ import annotations

import sys

import yaml

from pipeline.config import load_config


def register(sub) -> None:
    p = sub.add_parser("config", help="print the effective config (YAML), or the reference of every key")
    p.add_argument("-c", "--config", help="pipeline config (YAML; default: the shipped config/default.yaml)")
    p.add_argument(
        "--reference",
        action="store_true",
        help="print the reference of every config key (Markdown, as in docs/config.md)",
    )
    p.set_defaults(func=cmd_config)


def plain(value):
    """Config values as plain dicts/lists (the loader's Located* types are not YAML-representable)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def effective_yaml(config) -> str:
    data = plain(config.as_dict())
    data["steps"] = [
        {"step": name, **({} if enabled else {"enabled": False}), **plain(options)}
        for name, enabled, options in config.listed
    ]
    head = f"# effective config of {config.path}: every option, defaults merged\n"
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def cmd_config(args) -> int:
    if args.reference:
        from pipeline.reference import reference_markdown

        sys.stdout.write(reference_markdown())
        return 0
    sys.stdout.write(effective_yaml(load_config(args.config)))
    return 0
