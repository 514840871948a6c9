"""pii_mask: replace e-mail addresses, phone numbers and IP addresses in the text.

Off by default. Patterns and replacement tokens are data (config/pii.yaml, relative
to the pipeline config). Matches are counted per kind in the step's counters
(`pii.email`, `pii.phone_vn`, ...), which the manifest lists per stage; each masked
document also gets `metadata.pii` (counts by kind).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import ConfigError, LocatedDict, data_file, display_path, load_yaml
from pipeline.document import Document
from pipeline.options import Schema
from pipeline.s3_clean.rules import refuse_catastrophic
from pipeline.step import Step


@dataclass(frozen=True)
class PiiKind:
    name: str
    regex: re.Pattern
    replace: str


@functools.lru_cache(maxsize=4)
def load_pii_patterns(path: str) -> tuple[PiiKind, ...]:
    raw = load_yaml(path)
    shown = display_path(Path(path))
    kinds = raw.get("kinds") if isinstance(raw, dict) else None
    if not isinstance(kinds, dict) or not kinds:
        raise ConfigError(f"{shown}: expected a mapping 'kinds' of name -> {{pattern, replace}}")
    out = []
    for name, spec in kinds.items():
        where = kinds.where(name) if isinstance(kinds, LocatedDict) else shown
        if not isinstance(spec, dict) or set(spec) != {"pattern", "replace"}:
            raise ConfigError(f"{where}: {name}: expected exactly the keys pattern and replace")
        if not isinstance(spec["pattern"], str) or not isinstance(spec["replace"], str):
            raise ConfigError(f"{where}: {name}: pattern and replace must be strings")
        try:
            regex = re.compile(spec["pattern"])
        except re.error as exc:
            raise ConfigError(f"{where}: {name}: bad regex: {exc}") from None
        refuse_catastrophic(spec["pattern"], f"{where}: {name}")
        out.append(PiiKind(str(name), regex, spec["replace"]))
    return tuple(out)


def mask_pii(text: str, kinds: tuple[PiiKind, ...]) -> tuple[str, dict[str, int]]:
    """`text` with every match replaced, and the number of matches by kind."""
    counts = {}
    for kind in kinds:
        text, n = kind.regex.subn(kind.replace, text)
        if n:
            counts[kind.name] = n
    return text, counts


class PiiMask(Step):
    name = "pii_mask"
    pipeline_stage = "filter"

    class Options(Schema):
        patterns: str = "pii.yaml"  # relative to the pipeline config file

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.kinds = load_pii_patterns(
            str(data_file(self.context.get("config_dir", "."), self.options["patterns"]))
        )

    def process(self, doc: Document) -> None:
        doc.text, counts = mask_pii(doc.text, self.kinds)
        if counts:
            doc.metadata["pii"] = counts
            for kind, n in counts.items():
                self.stats.counters[f"pii.{kind}"] += n
            self.stats.counters["pii.documents"] += 1
