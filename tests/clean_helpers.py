"""Running the text-dump cleaning steps on small made-up pages, and reading what they did."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pipeline.document import Document
from pipeline.registry import step_class

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "config"
# the shared benchmark data beside the repository (NEWSCLEAN_SHARED moves it, as for benchmarks/common.py);
# tests that read it skip with a reason when it is absent
SHARED = Path(os.environ.get("NEWSCLEAN_SHARED") or ROOT.parent / "shared")
CLEAN_STEPS = ("clean_lines", "dump_metadata", "repeated_lines")
_SOURCE = re.compile(r"(rules/(?:vi|en|web)\.yaml):(\d+)$")

# article paragraphs of a made-up Vietnamese story, used around the boilerplate in the tests
TITLE = "Khởi công cầu mới bắc qua sông Hậu ở Cần Thơ"
P1 = (
    "Sáng nay, Ủy ban nhân dân thành phố Cần Thơ tổ chức lễ khởi công cây cầu mới bắc qua sông Hậu, "
    "dự kiến hoàn thành sau ba năm thi công."
)
P2 = (
    "Theo chủ đầu tư, công trình có tổng mức đầu tư khoảng 5.000 tỷ đồng và sẽ giúp rút ngắn thời gian "
    "đi lại giữa các tỉnh miền Tây."
)
P3 = (
    "Người dân địa phương bày tỏ vui mừng vì nhiều năm qua họ phải đi phà để sang bờ bên kia, nhất là "
    "vào mùa mưa lũ."
)
P4 = (
    "Đại diện nhà thầu cho biết đơn vị sẽ huy động hơn 500 công nhân cùng nhiều thiết bị hiện đại để "
    "bảo đảm tiến độ và chất lượng công trình."
)
BODY = [P1, P2, P3, P4]

EN_TITLE = "City council approves new riverside park"
E1 = (
    "The city council voted on Tuesday to approve a new riverside park, ending a debate that had lasted "
    "almost two years."
)
E2 = (
    "Supporters said the park would give families in the eastern districts their first large green space "
    "within walking distance."
)
E3 = (
    "Construction is expected to begin next spring, and officials hope the first section will open before "
    "the end of the year."
)
EN_BODY = [E1, E2, E3]


def page(*lines: str) -> str:
    """A page dump: one line per argument (use "" for a blank line)."""
    return "\n".join(lines) + "\n"


def clean(
    text: str, steps=CLEAN_STEPS, metadata: dict | None = None, options: dict | None = None
) -> Document:
    """Run the named steps (with the project's rule files) on `text`; options per step name."""
    doc = Document(id="test", text=text, metadata=dict(metadata or {}))
    context = {"config_dir": str(CONFIG_DIR)}
    docs = iter([doc])
    for name in steps:
        docs = step_class(name)((options or {}).get(name, {}), context).run(docs)
    list(docs)
    assert not doc.dropped, (doc.drop_reason, doc.drop_detail)
    return doc


def kept(doc: Document) -> list[str]:
    return [line.strip() for line in doc.text.split("\n") if line.strip()]


def removed(doc: Document) -> dict[str, str]:
    """Removed line text -> rule name."""
    return {r.text: r.rule for r in doc.removed}


def rule_line(source: str) -> str:
    """The rule-file line a `Removal.source` points at ("config/rules/vi.yaml:12")."""
    m = _SOURCE.search(source)
    assert m, f"not a rule-file location: {source!r}"
    lines = (CONFIG_DIR / m.group(1)).read_text(encoding="utf-8").split("\n")
    return lines[int(m.group(2)) - 1]


def assert_removed_by(doc: Document, text: str, rule: str) -> None:
    """`text` was removed by `rule`, and a line rule names the rule-file line it is defined on."""
    hits = [r for r in doc.removed if r.text == text]
    assert hits, f"{text!r} was not removed; removed: {removed(doc)}"
    assert hits[0].rule == rule, f"{text!r} removed by {hits[0].rule}, expected {rule}"
    if not hits[0].source.startswith("step "):
        assert rule_line(hits[0].source).lstrip().startswith("- "), hits[0].source


def template_count_reference(table, source, key, copy_bits, width=0) -> None:
    """template_lines.count as it was first written (entries as lists, changed in place): the
    reference the faster counting is tested against."""
    from pipeline.s3_clean.template_lines import GUARD

    fingerprint = int(key[0])
    docs = table.docs[source] = table.docs.get(source, 0) + 1
    bucket = -(-docs // width) if width else 1
    lines = table.lines.setdefault(source, {})
    for line in key[1:].tolist():
        seen = lines.get(line)
        if seen is None:
            seen = lines[line] = [0, bucket - 1]
        if all(bin(fingerprint ^ other).count("1") > copy_bits for other in seen[2:]):
            seen[0] += 1
            if len(seen) < 2 + GUARD:
                seen.append(fingerprint)
    if width and docs % width == 0:
        for line in [k for k, seen in lines.items() if seen[0] + seen[1] <= bucket]:
            del lines[line]
