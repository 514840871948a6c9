"""RunFigures -> one self-contained HTML page (inline CSS, charts as SVG data URIs, no scripts).

Every chart has a table with the same figures next to it, so the numbers can be
read exactly (and checked against the manifest) while the chart shows the shape.
"""

from __future__ import annotations

import base64
import statistics
from html import escape

from pipeline.report import plots
from pipeline.report.collect import DROPPED_EXAMPLES_PER_REASON, KEPT_EXAMPLES, RunFigures
from pipeline.summary import plural

TOP_RULES = 25
TOP_LANGUAGES = 15
TOP_SOURCES = 15

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:#1f2328;
 margin:0;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:0 0 12px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:16px 20px;margin:16px 0}
.meta{color:#57606a;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}
.card{flex:1 1 150px;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px}
.card b{display:block;font-size:24px}
.card.kept b{color:#2e7d32}.card.dropped b{color:#ef6c00}.card.errors b{color:#c62828}
img.chart{display:block;max-width:100%;height:auto;margin:8px 0}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:bold;border-top:2px solid #d0d7de}
details{border:1px solid #eaeef2;border-radius:4px;margin:6px 0;padding:4px 10px}
summary{cursor:pointer}
.reason{color:#ef6c00;font-weight:600}.error{color:#c62828;font-weight:600}
/* sample text in a proportional font: monospace fonts detach stacked Vietnamese marks (ể, ế, ồ) */
pre{white-space:pre-wrap;background:#f6f8fa;padding:8px;border-radius:4px;margin:6px 0;
font:13px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
code{font-size:12px}
.note{color:#57606a;font-style:italic}
"""


def _n(value) -> str:
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _img(svg: str, alt: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def _table(
    table_id: str, head: list[str], rows: list[list], numeric: set[int], total: list | None = None
) -> str:
    def cells(row, tag="td"):
        return "".join(
            f'<{tag} class="n">{_n(c)}</{tag}>' if i in numeric else f"<{tag}>{_n(c)}</{tag}>"
            for i, c in enumerate(row)
        )

    out = [f'<table id="{table_id}"><thead><tr>{cells(head, "th")}</tr></thead><tbody>']
    out += [f"<tr>{cells(row)}</tr>" for row in rows]
    if total:
        out.append(f'<tr class="total">{cells(total)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _section(section_id: str, title: str, *parts: str) -> str:
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


# --- sections -----------------------------------------------------------------------------


def _header(f: RunFigures) -> str:
    m, counts = f.manifest, f.manifest.get("counts", {})
    inputs = m.get("inputs") or []
    size = sum(i.get("size") or 0 for i in inputs)  # an unreadable input has no size (None)
    meta = (
        f"{escape(m.get('started', '?'))} → {escape(m.get('finished', '?'))} · {m.get('seconds', 0):.1f} s · "
        f"newsclean {escape(str(m.get('pipeline_version', '?')))} · "
        f"config <code>{escape(str(m.get('config_file')))}</code> ({escape(str(m.get('config_hash')))}) · "
        f"{plural(len(inputs), 'input file')}, {size / 1e6:,.1f} MB"
    )
    docs = counts.get("documents", 0)
    cards = [
        ("documents in", docs, ""),
        ("kept", counts.get("kept", 0), "kept"),
        ("dropped", counts.get("dropped", 0), "dropped"),
        ("errors", counts.get("errors", 0), "errors"),
    ]
    card_html = "".join(
        f'<div class="card {cls}" id="card-{label.split()[0]}"><b>{value:,}</b>{label}'
        f"{' · ' + _pct(value, docs) if cls else ''}</div>"
        for label, value, cls in cards
    )
    chars = ""
    if f.raw_kept.count:
        chars = (
            f'<div class="card"><b>{_pct(f.clean_kept.total, f.raw_kept.total)}</b>'
            "of the kept pages' characters kept after cleaning</div>"
        )
    return (
        f"<header><h1>newsclean run {escape(str(m.get('run_id', '?')))}</h1><div class=meta>{meta}</div>"
        f'<div class="cards">{card_html}{chars}</div></header>'
    )


def _funnel(f: RunFigures) -> str:
    chart_rows, rows = _stage_rows(f)
    counts = f.manifest.get("counts", {})
    chart = _img(plots.funnel(chart_rows), "documents kept and dropped by each stage") if chart_rows else ""
    head = ["stage", "in", "kept", "dropped", "errors", "dropped or failed, by reason"]
    written = ["written", *(counts.get(k, 0) for k in ("documents", "kept", "dropped", "errors")), ""]
    table = _table("stages", head, rows, {1, 2, 3, 4}, written)
    reasons = sorted((counts.get("by_reason") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    reason_table = (
        _table(
            "reasons",
            ["stage:reason", "documents", "share of input"],
            [[r, n, _pct(n, counts.get("documents", 0))] for r, n in reasons],
            {1, 2},
        )
        if reasons
        else '<p class="note">No document was dropped.</p>'
    )
    return _section(
        "funnel",
        "Stage funnel",
        chart,
        table,
        "<h3>Dropped and failed documents by reason</h3>",
        reason_table,
    )


def _stage_rows(f: RunFigures) -> tuple[list[dict], list[list]]:
    """Per stage of the manifest: the chart's row (kept, dropped and errors by reason) and the table's."""
    errors_by_stage: dict[str, set] = {}
    for key in f.error_reasons:
        stage, _, reason = key.partition(":")
        errors_by_stage.setdefault(stage, set()).add(reason)
    chart_rows, rows = [], []
    for name, s in (f.manifest.get("stages") or {}).items():
        dropped = dict(s.get("dropped") or {})
        error_reasons = errors_by_stage.get(name, set())
        if s.get("errors") and not error_reasons and len(dropped) == 1:
            error_reasons = set(dropped)  # rejects not read (or absent): one reason that holds all errors
        chart_rows.append(
            {
                "name": name,
                "kept": s.get("kept", 0),
                "dropped": {r: n for r, n in dropped.items() if r not in error_reasons},
                "errors": {r: n for r, n in dropped.items() if r in error_reasons},
            }
        )
        by_reason = ", ".join(f"{r} {n:,}" for r, n in sorted(dropped.items())) or "–"
        errors = s.get("errors", 0)
        rows.append(
            [name, s.get("in", 0), s.get("kept", 0), sum(dropped.values()) - errors, errors, by_reason]
        )
    return chart_rows, rows


def _removed(f: RunFigures) -> str:
    rules = f.removed_by_rule.most_common()
    if not rules:
        return _section(
            "removed", "Lines removed by rule", '<p class="note">No line was removed.</p>', _html_blocks(f)
        )
    total = sum(n for _, n in rules)
    shown = rules[:TOP_RULES]
    chart = _img(
        plots.bars(
            shown,
            f"Lines removed by rule (top {len(shown)})"
            if len(rules) > TOP_RULES
            else "Lines removed by rule",
            "lines",
            color="#ef6c00",
        ),
        "lines removed by rule",
    )
    table = _table(
        "removed-rules",
        ["rule", "lines removed", "documents with this rule"],
        [[r, n, f.docs_with_rule.get(r, 0)] for r, n in rules],
        {1, 2},
        ["all rules", total, ""],
    )
    return _section("removed", "Lines removed by rule", chart, table, _html_blocks(f))


def _html_blocks(f: RunFigures) -> str:
    """Widget blocks extract_html removed from HTML pages before trafilatura (config/sites.yaml rules)."""
    rules = f.html_blocks_by_rule.most_common()
    if not rules:
        return ""
    table = _table(
        "html-blocks",
        ["rule", "HTML blocks removed", "kept or dropped documents with this rule"],
        [[r, n, f.docs_with_html_rule.get(r, 0)] for r, n in rules],
        {1, 2},
        ["all rules", sum(n for _, n in rules), ""],
    )
    return "<h3>HTML blocks removed before extraction, by rule (sites.yaml)</h3>" + table


def _median(sample: list[int]) -> int | str:
    return int(statistics.median(sample)) if sample else "–"


def _lengths(f: RunFigures) -> str:
    if not f.clean_kept.count and not f.raw_dropped.count:
        return _section("lengths", "Document length", '<p class="note">No document to measure.</p>')
    chart = _img(
        plots.lengths(f.raw_kept.sample, f.clean_kept.sample, f.raw_dropped.sample),
        "length distributions before and after cleaning",
    )
    rows = []
    for label, stats in (
        ("kept, before cleaning", f.raw_kept),
        ("kept, after cleaning", f.clean_kept),
        ("dropped, before cleaning", f.raw_dropped),
    ):
        if stats.count:
            rows.append([label, stats.count, stats.total, round(stats.mean), _median(stats.sample)])
    note = ""
    if f.clean_kept.count and not f.raw_kept.count:
        note = (
            '<p class="note">This run\'s records carry no length before cleaning (metadata.n_chars_raw).</p>'
        )
    unmeasured = f.records_rejected - f.raw_dropped.count
    if unmeasured:
        note += (
            f'<p class="note">{unmeasured:,} dropped documents carry no length before cleaning '
            "(failed before decoding, or their reject records lack metadata.n_chars_raw).</p>"
        )
    if f.clean_kept.count > len(f.clean_kept.sample):
        note += (
            f'<p class="note">Charts and medians use a fixed-seed sample of {len(f.clean_kept.sample):,} '
            "documents; counts and totals are exact.</p>"
        )
    table = _table("length-stats", ["documents", "count", "characters", "mean", "median"], rows, {1, 2, 3, 4})
    return _section("lengths", "Document length", chart, table, note)


def _languages(f: RunFigures) -> str:
    langs = f.languages.most_common()
    if not langs:
        return _section("languages", "Language mix (kept documents)", '<p class="note">No kept document.</p>')
    total = sum(n for _, n in langs)
    chart = _img(
        plots.bars(
            langs[:TOP_LANGUAGES],
            "Language of kept documents",
            "documents",
            color="#00838f",
            notes=[f"{n:,} ({_pct(n, total)})" for _, n in langs[:TOP_LANGUAGES]],
        ),
        "language mix of kept documents",
    )
    table = _table(
        "language-table",
        ["language", "documents", "share"],
        [[lang, n, _pct(n, total)] for lang, n in langs],
        {1, 2},
    )
    return _section("languages", "Language mix (kept documents)", chart, table)


def _duplicates(f: RunFigures) -> str:
    if not f.cluster_sizes:
        return _section(
            "duplicates", "Duplicates", '<p class="note">No document was dropped as a duplicate.</p>'
        )
    clusters = sum(f.cluster_sizes.values())
    dropped = sum((size - 1) * n for size, n in f.cluster_sizes.items())
    summary = (
        f"<p>{plural(clusters, 'cluster')}; {plural(dropped, 'document')} dropped as duplicates of a kept "
        f"one; largest cluster {plural(max(f.cluster_sizes), 'document')}.</p>"
    )
    chart = _img(plots.cluster_sizes(f.cluster_sizes), "duplicate cluster sizes")
    sizes = _table(
        "cluster-sizes",
        ["documents in cluster", "clusters"],
        [[size, n] for size, n in sorted(f.cluster_sizes.items())],
        {0, 1},
    )
    largest = _table(
        "largest-clusters",
        ["kept document", "documents in cluster", "reason"],
        [[kept_id, size, reason] for size, kept_id, reason in f.largest_clusters],
        {1},
    )
    return _section("duplicates", "Duplicates", summary, chart, sizes, "<h3>Largest clusters</h3>", largest)


def _sources(f: RunFigures) -> str:
    totals = f.sources_kept + f.sources_dropped
    if not totals:
        return _section("sources", "Top sources", '<p class="note">No document.</p>')
    top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_SOURCES]
    rows = [[name, f.sources_kept.get(name, 0), f.sources_dropped.get(name, 0)] for name, _ in top]
    chart = _img(
        plots.stacked_sources([tuple(r) for r in rows], f"Top {len(rows)} sources by documents read"),
        "top sources",
    )
    table = _table("source-table", ["source", "kept", "dropped or failed"], rows, {1, 2})
    more = f'<p class="note">{len(totals) - len(top):,} more sources.</p>' if len(totals) > len(top) else ""
    return _section("sources", "Top sources", chart, table, more)


def _throughput(f: RunFigures) -> str:
    stages = f.manifest.get("stages") or {}
    timed = [(name, s) for name, s in stages.items() if s.get("seconds", 0) > 0]
    rows = []
    for name, s in stages.items():
        secs = s.get("seconds", 0)
        rows.append([name, s.get("in", 0), f"{secs:.3f}", f"{s.get('in', 0) / secs:,.0f}" if secs else "–"])
    m = f.manifest
    docs, secs = m.get("counts", {}).get("documents", 0), m.get("seconds", 0)
    size = sum(i.get("size") or 0 for i in m.get("inputs") or [])
    rows.append(["whole run", docs, f"{secs:.3f}", f"{docs / secs:,.0f}" if secs else "–"])
    chart = ""
    if timed:
        chart = _img(
            plots.bars(
                [(n, s["seconds"]) for n, s in timed],
                "Time spent in each stage",
                "seconds",
                color="#6a1b9a",
                notes=[f"{s['seconds']:.2f} s · {s['in'] / s['seconds']:,.0f} docs/s" for _, s in timed],
            ),
            "seconds and documents per second by stage",
        )
    note = (
        f'<p class="note">Whole run: {size / 1e6 / secs:,.2f} MB of input per second. Stage times are the '
        "time spent inside each step; reading and writing are interleaved with them.</p>"
        if secs
        else ""
    )
    table = _table("throughput", ["stage", "documents in", "seconds", "documents/s"], rows, {1, 2, 3})
    return _section("throughput", "Throughput per stage", chart, table, note)


def _removed_list(removed: dict) -> str:
    return ", ".join(f"{escape(r)} {n}" for r, n in sorted(removed.items(), key=lambda kv: -kv[1])) or "none"


def _samples(f: RunFigures) -> str:
    kept = []
    for i, e in enumerate(f.kept_examples):
        size = (
            f"{e['n_chars_raw']:,} → {e['n_chars']:,} chars"
            if e.get("n_chars_raw")
            else f"{e['n_chars']:,} chars"
        )
        kept.append(
            f"<details{' open' if i == 0 else ''}><summary><code>{escape(str(e['id']))}</code> · "
            f"{escape(str(e['source']))} · {escape(str(e.get('language')))} · {size}</summary>"
            f"<p><b>{escape(str(e.get('title') or '(no title)'))}</b> · created "
            f"{escape(str(e.get('created') or 'unknown'))}</p>"
            f"<p>Lines removed: {_removed_list(e['removed'])}</p><pre>{escape(e['excerpt'])}</pre></details>"
        )
    dropped = []
    for key, examples in f.dropped_examples.items():
        dropped.append(f"<h4>{escape(key)}</h4>")
        for i, e in enumerate(examples):
            cls = "error" if e["error"] else "reason"
            dup = f" · duplicate of <code>{escape(str(e['dup_of']))}</code>" if e.get("dup_of") else ""
            dropped.append(
                f"<details{' open' if i == 0 else ''}><summary><code>{escape(str(e['id']))}</code> · "
                f"<span class={cls}>{escape(key)}</span>{dup}</summary><p>{escape(str(e.get('detail') or ''))}</p>"
                f"<p>Lines removed before the drop: {_removed_list(e['removed'])}</p>"
                f"<pre>{escape(e['excerpt']) or '(no text)'}</pre></details>"
            )
    kept_html = "".join(kept) or '<p class="note">No kept document.</p>'
    dropped_html = "".join(dropped) or '<p class="note">No dropped document.</p>'
    note = (
        f'<p class="note">A fixed-seed random sample: up to {KEPT_EXAMPLES} kept documents and up to '
        f"{DROPPED_EXAMPLES_PER_REASON} per drop reason (the first of each open).</p>"
    )
    return _section(
        "samples",
        "Sample documents",
        note,
        "<h3>Kept</h3>",
        kept_html,
        "<h3>Dropped and failed, by reason</h3>",
        dropped_html,
    )


def _files(f: RunFigures) -> str:
    m = f.manifest
    shards = (m.get("shards") or []) + (m.get("rejects") or [])
    rows = [[s["file"], s.get("records", 0), s.get("bytes", 0)] for s in shards]
    return _section("files", "Output files", _table("shards", ["file", "records", "bytes"], rows, {1, 2}))


def render(f: RunFigures) -> str:
    run_id = escape(str(f.manifest.get("run_id", "?")))
    body = "".join(
        [
            _header(f),
            _funnel(f),
            _removed(f),
            _lengths(f),
            _languages(f),
            _duplicates(f),
            _sources(f),
            _throughput(f),
            _samples(f),
            _files(f),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>newsclean run {run_id}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
