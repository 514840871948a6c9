"""Plain-text tables of a run's figures (end-of-run summary, `newsclean stats`)."""

from __future__ import annotations


def plural(n: int, noun: str) -> str:
    """ "1 input file", "2 input files", "1,204 problems"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def summary_table(manifest: dict) -> str:
    counts = manifest["counts"]
    rows = [("stage", "in", "kept", "dropped", "errors", "seconds")]
    for name, s in manifest["stages"].items():
        dropped = sum(s["dropped"].values()) - s["errors"]
        rows.append((name, s["in"], s["kept"], dropped, s["errors"], f"{s['seconds']:.2f}"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    out = [
        f"run {manifest['run_id']}: {plural(counts['documents'], 'document')} in, {counts['kept']:,} kept, "
        f"{counts['dropped']:,} dropped, {plural(counts['errors'], 'error')} in {manifest['seconds']:.2f} s",
        "",
    ]
    out += lines
    if counts["by_reason"]:
        out += ["", "dropped/errors by reason:"]
        out += [
            f"  {reason}: {n}"
            for reason, n in sorted(counts["by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))
        ]
    return "\n".join(out)


def format_rows(rows: list[tuple]) -> list[str]:
    """Aligned plain-text rows: the first is the header, the first column is left-aligned."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def removed_lines(manifests: list[dict]) -> dict[str, int]:
    """Lines removed by rule over the runs (the stages' `lines_removed.<rule>` counters)."""
    out: dict[str, int] = {}
    for manifest in manifests:
        for stage in manifest.get("stages", {}).values():
            for key, n in (stage.get("counters") or {}).items():
                if key.startswith("lines_removed."):
                    rule = key.removeprefix("lines_removed.")
                    out[rule] = out.get(rule, 0) + n
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def runs_table(manifests: list[dict], corpus: dict | None = None) -> str:
    """One row per run, a total row and the corpus row (`newsclean stats` on a corpus: kept documents in
    the corpus view, `pipeline.corpus.corpus_counts`), then reasons and removed lines."""
    rows: list[tuple[object, ...]] = [("run", "started", "documents", "kept", "dropped", "errors", "seconds")]
    totals = {"documents": 0, "kept": 0, "dropped": 0, "errors": 0, "seconds": 0.0}
    reasons: dict[str, int] = {}
    for m in manifests:
        c = m["counts"]
        rows.append(
            (
                m["run_id"],
                m.get("started", ""),
                c["documents"],
                c["kept"],
                c["dropped"],
                c["errors"],
                f"{m.get('seconds', 0):.2f}",
            )
        )
        for key in ("documents", "kept", "dropped", "errors"):
            totals[key] += c[key]
        totals["seconds"] += m.get("seconds", 0)
        for reason, n in c.get("by_reason", {}).items():
            reasons[reason] = reasons.get(reason, 0) + n
    label = f"total ({len(manifests)} run{'s' if len(manifests) != 1 else ''})"
    rows.append(
        (
            label,
            "",
            totals["documents"],
            totals["kept"],
            totals["dropped"],
            totals["errors"],
            f"{totals['seconds']:.2f}",
        )
    )
    if corpus is not None:  # superseded records (reprocessed inputs, refilter) are not in the corpus
        rows.append(("corpus", "", "", corpus["documents"], "", "", ""))
    lines = format_rows(rows)
    lines.insert(len(lines) - (2 if corpus is not None else 1), lines[1])  # a rule above the total row
    out = lines
    if corpus is not None and corpus["superseded"]:
        out += [
            "",
            f"corpus: {plural(corpus['documents'], 'document')}; {plural(corpus['superseded'], 'record')} "
            "the runs kept were superseded by later runs (reprocessed inputs, refilter) and are not in it",
        ]
    if reasons:
        out += ["", "dropped/errors by reason:"]
        out += [f"  {reason}: {n}" for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    out += removed_lines_table(manifests)
    return "\n".join(out)


def html_blocks_removed(manifests: list[dict]) -> dict[str, int]:
    """HTML blocks extract_html removed before extraction, by rule (its `dropped:<rule>` counters)."""
    out: dict[str, int] = {}
    for manifest in manifests:
        counters = (manifest.get("stages", {}).get("extract_html") or {}).get("counters") or {}
        for key, n in counters.items():
            if key.startswith("dropped:"):
                rule = key.removeprefix("dropped:")
                out[rule] = out.get(rule, 0) + n
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def removed_lines_table(manifests: list[dict]) -> list[str]:
    """Lines removed by rule, then HTML blocks removed by rule (when there are any)."""
    out = []
    removed = removed_lines(manifests)
    if removed:
        out += ["", "lines removed by rule:"] + [
            "  " + line for line in format_rows([("rule", "lines")] + list(removed.items()))
        ]
    blocks = html_blocks_removed(manifests)
    if blocks:
        out += ["", "HTML blocks removed before extraction, by rule (sites.yaml):"]
        out += ["  " + line for line in format_rows([("rule", "blocks")] + list(blocks.items()))]
    return out
