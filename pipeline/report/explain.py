"""`newsclean explain`: why each line of one input page was kept or removed.

The configured per-document steps run on the page one at a time. Line steps
blank removed lines in place, so the text as it stood before the first cleaning
step (after decoding and extraction) gives the original numbering, and each
`Removal` recorded on the document points at its line, with the rule and where
the rule is defined. Global steps (deduplication) need the whole corpus and are
not run here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from pipeline.config import Config, LocatedDict, LocatedList
from pipeline.document import Document
from pipeline.summary import plural

# steps of these stages turn bytes into text: their output is the text whose lines are explained
TEXT_STAGES = ("read", "extract")
META_KEYS = (
    "title",
    "author",
    "created",
    "section",
    "url",
    "source_attribution",
    "language",
    "language_score",
)


class ExplainError(Exception):
    """The input cannot be explained (missing, a directory, no such record)."""


@dataclass
class Line:
    no: int  # 1-based, in the text after decoding/extraction
    text: str
    rule: str | None = None  # None: kept (or blank)
    source: str = ""  # where the rule is defined: "config/rules/vi.yaml:88"
    step: str = ""  # the step that removed it

    @property
    def removed(self) -> bool:
        return self.rule is not None


@dataclass
class Explanation:
    input: str
    doc_id: str
    config_file: str
    steps_run: list[str]
    steps_skipped: list[str]
    lines: list[Line]
    metadata: dict
    drop: dict | None = None  # {"stage", "reason", "detail", "error"}
    final_chars: int = 0
    unplaced: list[Line] = field(default_factory=list)  # removals whose line number is off the text (a bug)
    html_blocks: dict = field(default_factory=dict)  # rule -> HTML blocks extract_html removed (sites.yaml)

    @property
    def n_removed(self) -> int:
        return sum(line.removed for line in self.lines)

    @property
    def n_kept(self) -> int:
        return sum(1 for line in self.lines if not line.removed and line.text.strip())


def step_locations(config: Config) -> dict[str, str]:
    """Step name -> `file:line` of its entry in the config (for removals made by code, not rule files)."""
    steps = config.raw.get("steps") if isinstance(config.raw, dict) else None
    out: dict[str, str] = {}
    if isinstance(steps, LocatedList):
        for index, item in enumerate(steps):
            if isinstance(item, LocatedDict) and item.get("step") not in out and item.get("enabled", True):
                out[item["step"]] = steps.where(index)
    return out


def load_document(path: Path, read_options: dict, record: int = 1) -> Document:
    from pipeline.s1_read.inputs import read_file

    if path.is_dir():
        raise ExplainError(f"{path}: is a directory; explain takes one input file")
    if not path.exists():
        raise ExplainError(f"{path}: no such file")
    for _, doc in read_file(path, path.parent, read_options, records=(record - 1, record)):
        return doc
    raise ExplainError(f"{path}: has no record {record}")


def explain(config: Config, path: str | Path, record: int = 1) -> Explanation:
    from pipeline.runner import build_steps
    from pipeline.step import GlobalStep

    path = Path(path)
    doc = load_document(path, config.read, record)
    steps = build_steps(config)
    run = [s for s in steps if not isinstance(s, GlobalStep)]
    skipped = [s.name for s in steps if isinstance(s, GlobalStep)]
    where_step = step_locations(config)

    original = doc.text  # read errors leave it empty
    removed_by: list[str] = []  # step name of each doc.removed entry
    for step in run:
        if doc.dropped:
            break
        before = len(doc.removed)
        for out in step.run([doc]):
            doc = out
        removed_by += [step.name] * (len(doc.removed) - before)
        if step.pipeline_stage in TEXT_STAGES and not doc.removed:
            original = doc.text

    lines = [Line(i + 1, text) for i, text in enumerate(original.split("\n"))] if original else []
    unplaced = []
    for removal, step_name in zip(doc.removed, removed_by):
        source = removal.source
        if source.startswith("step ") and step_name in where_step:
            source = f"{where_step[step_name]} (step {step_name})"
        if 1 <= removal.line_no <= len(lines):
            line = lines[removal.line_no - 1]
            line.rule, line.source, line.step = removal.rule, source, step_name
        else:
            unplaced.append(Line(removal.line_no, removal.text, removal.rule, source, step_name))
    drop = None
    if doc.dropped:
        drop = {
            "stage": doc.drop_stage,
            "reason": doc.drop_reason,
            "detail": doc.drop_detail,
            "error": doc.is_error,
        }
    metadata = {k: doc.metadata.get(k) for k in META_KEYS if doc.metadata.get(k) is not None}
    return Explanation(
        input=str(path),
        doc_id=doc.id,
        config_file=str(config.path),
        steps_run=[s.name for s in run],
        steps_skipped=skipped,
        lines=lines,
        metadata=metadata,
        drop=drop,
        final_chars=len(doc.text) if not doc.dropped else 0,
        unplaced=unplaced,
        html_blocks=dict(doc.metadata.get("html_removed") or {}),
    )


# --- rendering -----------------------------------------------------------------------------

ANSI = {
    "kept": "\033[32m",
    "removed": "\033[31m",
    "dim": "\033[2m",
    "bold": "\033[1m",
    "warn": "\033[33m",
    "reset": "\033[0m",
}


def use_color(mode: str, stream) -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def _verdict(e: Explanation) -> str:
    if e.drop:
        kind = "FAILED" if e.drop["error"] else "DROPPED"
        detail = f" ({e.drop['detail']})" if e.drop["detail"] else ""
        return f"{kind} by {e.drop['stage']}: {e.drop['reason']}{detail}"
    return f"KEPT: {e.final_chars:,} characters after cleaning"


def render_text(e: Explanation, color: bool = False) -> str:
    def c(style: str, text: str) -> str:
        return f"{ANSI[style]}{text}{ANSI['reset']}" if color and text else text

    out = [c("bold", f"{e.input}") + f"  (id {e.doc_id}, config {e.config_file})"]
    out.append(
        f"steps: {', '.join(e.steps_run)}"
        + (f"; not run here (need the whole corpus): {', '.join(e.steps_skipped)}" if e.steps_skipped else "")
    )
    for key, value in e.metadata.items():
        out.append(f"{key + ':':<19} {value}")
    out.append(c("removed" if e.drop else "kept", _verdict(e)))
    if e.html_blocks:  # widgets cut from the HTML before extraction: they never became lines below
        out.append(
            "HTML blocks removed before extraction (sites.yaml): "
            + ", ".join(f"{rule} {n}" for rule, n in e.html_blocks.items())
        )
    out.append(f"lines: {len(e.lines)}, kept {e.n_kept}, removed {e.n_removed}")
    out.append("")
    width = max([len(line.rule) for line in e.lines if line.rule] + [4])
    digits = len(str(len(e.lines)))
    for line in e.lines:
        no = f"{line.no:>{digits}}"
        if line.removed:
            out.append(
                f"{c('dim', no)} {c('removed', '-')} {c('removed', f'{line.rule:<{width}}')} "
                f"{c('removed', line.text.strip())}  {c('dim', '← ' + line.source)}"
            )
        elif line.text.strip():
            out.append(f"{c('dim', no)} {c('kept', '+')} {'':<{width}} {line.text.strip()}")
        else:
            out.append(c("dim", no))
    for line in e.unplaced:
        out.append(
            c("warn", f"removal off the text at line {line.no}: {line.rule} {line.text!r} ← {line.source}")
        )
    if e.lines:
        out += ["", "removed lines by rule:"]
        for rule, (count, sources) in _by_rule(e).items():
            out.append(f"  {rule:<{width}} {count:>4}  {', '.join(sorted(sources))}")
    return "\n".join(out) + "\n"


def _by_rule(e: Explanation) -> dict[str, tuple[int, set[str]]]:
    out: dict[str, tuple[int, set[str]]] = {}
    for line in e.lines:
        if line.rule is not None:  # removed
            count, sources = out.get(line.rule, (0, set()))
            out[line.rule] = (count + 1, sources | {line.source})
    return dict(sorted(out.items(), key=lambda kv: (-kv[1][0], kv[0])))


HTML_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:#1f2328;margin:0;
 background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:20px;margin:0 0 8px;word-break:break-all}
.box{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:2px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #eaeef2}
td.no{color:#8c959f;text-align:right;font-variant-numeric:tabular-nums;width:3em}
tr.kept td.verdict{color:#1a7f37}
tr.removed{background:#ffebe9}tr.removed td.verdict{color:#cf222e}
tr.removed td.text{color:#82071e;text-decoration:line-through;text-decoration-color:#cf222e80}
td.rule{font-weight:600;color:#cf222e;white-space:nowrap}td.src{color:#57606a;font-size:12px;white-space:nowrap}
.verdict.kept{color:#1a7f37;font-weight:600}.verdict.dropped{color:#cf222e;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}dt{color:#57606a}dd{margin:0}
"""


def render_html(e: Explanation) -> str:
    meta = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in e.metadata.items())
    verdict_class = "dropped" if e.drop else "kept"
    rows = []
    for line in e.lines:
        if line.rule is not None:  # removed
            rows.append(
                f'<tr class="removed"><td class="no">{line.no}</td><td class="verdict">removed</td>'
                f'<td class="rule">{escape(line.rule)}</td><td class="src">{escape(line.source)}</td>'
                f'<td class="text">{escape(line.text.strip())}</td></tr>'
            )
        elif line.text.strip():
            rows.append(
                f'<tr class="kept"><td class="no">{line.no}</td><td class="verdict">kept</td><td></td><td></td>'
                f'<td class="text">{escape(line.text.strip())}</td></tr>'
            )
        else:
            rows.append(
                f'<tr class="blank"><td class="no">{line.no}</td><td></td><td></td><td></td><td></td></tr>'
            )
    rules = "".join(
        f"<tr><td>{escape(rule)}</td><td>{count}</td><td>{escape(', '.join(sorted(sources)))}</td></tr>"
        for rule, (count, sources) in _by_rule(e).items()
    )
    skipped = (
        f" Not run here (they need the whole corpus): {escape(', '.join(e.steps_skipped))}."
        if e.steps_skipped
        else ""
    )
    html_blocks = (
        '<p id="html-blocks">HTML blocks removed before extraction (sites.yaml): '
        + escape(", ".join(f"{rule} {n}" for rule, n in e.html_blocks.items()))
        + "</p>"
        if e.html_blocks
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>newsclean explain {escape(e.doc_id)}</title><style>{HTML_CSS}</style></head><body><main>"
        f"<h1>{escape(e.input)}</h1>"
        f'<div class="box"><p class="verdict {verdict_class}" id="verdict">{escape(_verdict(e))}</p>'
        f"<p>id <code>{escape(e.doc_id)}</code> · config <code>{escape(e.config_file)}</code> · "
        f"steps: {escape(', '.join(e.steps_run))}.{skipped}</p>"
        f"<p>{plural(len(e.lines), 'line')}: {e.n_kept} kept, {e.n_removed} removed.</p>{html_blocks}"
        f"<dl>{meta}</dl></div>"
        '<div class="box"><table id="rules"><thead><tr><th>rule</th><th>lines removed</th><th>defined at</th>'
        f"</tr></thead><tbody>{rules}</tbody></table></div>"
        '<div class="box"><table id="lines"><thead><tr><th>line</th><th>verdict</th><th>rule</th>'
        f"<th>defined at</th><th>text</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        "</main></body></html>\n"
    )
