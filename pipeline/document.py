"""The one record that flows through every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Removal:
    """One line the cleaner took out, and why."""

    line_no: int  # 1-based line number in the text the cleaner saw
    rule: str  # rule family, e.g. "weather_widget"
    text: str
    source: str = ""  # where the rule is defined, e.g. "config/rules/vi.yaml:12"


@dataclass
class Document:
    """A news page on its way through the pipeline.

    `text` is the current body; readers fill `raw` (bytes) when the page still
    needs decoding/extraction. Stages drop a document by calling `drop()`; the
    run loop routes dropped and failed documents to the rejects file, so no input
    ever disappears.
    """

    id: str
    text: str = ""
    raw: bytes | None = None
    media_type: str = "text"  # "text" (page dump) or "html"
    metadata: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)  # input_path, input_root, record
    removed: list[Removal] = field(default_factory=list)
    drop_reason: str | None = None
    drop_stage: str | None = None
    drop_detail: str | None = None
    dup_of: str | None = None
    is_error: bool = False
    time_left: float | None = None  # seconds left of the per-document steps' time limit (set at the first)
    word_count: tuple[str, int] | None = None  # (text, words): length_filter's count, valid for that text
    lower_text: tuple[str, str] | None = None  # (text, text.lower()): see `lowered`

    @property
    def dropped(self) -> bool:
        return self.drop_reason is not None

    def drop(
        self,
        stage: str,
        reason: str,
        detail: str | None = None,
        *,
        error: bool = False,
        dup_of: str | None = None,
    ) -> None:
        self.drop_stage, self.drop_reason, self.drop_detail = stage, reason, detail
        self.is_error, self.dup_of = error, dup_of

    def lowered(self) -> str:
        """`text.lower()`, made once per text: quality_signals and near_dedup's key both need it."""
        cached = self.lower_text
        if cached is None or cached[0] is not self.text:
            cached = self.lower_text = (self.text, self.text.lower())
        return cached[1]

    def removed_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.removed:
            counts[r.rule] = counts.get(r.rule, 0) + 1
        return counts
