"""The report's charts, drawn with matplotlib (Agg) and returned as self-contained SVG.

matplotlib is imported on first use so that a run that never draws pays nothing. It is an
optional extra (`pip install 'newsclean[report]'`): without it every chart is "" and the report
keeps its tables and says why the charts are missing.
Output is deterministic (fixed SVG id salt, no date), so the same run gives a
byte-identical report. Text stays text in the SVG (`svg.fonttype: none`): small
files and the browser's fonts.
"""

from __future__ import annotations

import functools
import io
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import ParamSpec

KEPT_COLOR = "#2e7d32"
DROP_COLORS = [
    "#ef6c00",
    "#6a1b9a",
    "#00838f",
    "#ad1457",
    "#5d4037",
    "#f9a825",
    "#283593",
    "#9e9d24",
    "#4e342e",
    "#0277bd",
]
ERROR_COLORS = ["#c62828", "#e57373", "#8e0000", "#ff8a80"]
BEFORE_COLOR = "#90a4ae"
AFTER_COLOR = "#1565c0"
WIDTH_IN = 8.0


MISSING_NOTE = "Charts left out: matplotlib is not installed (pip install 'newsclean[report]')."
_Args = ParamSpec("_Args")


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether matplotlib can be imported (the `report` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _chart(draw: Callable[_Args, str]) -> Callable[_Args, str]:
    """A drawing function that gives "" (no chart) when matplotlib is not installed."""

    @functools.wraps(draw)
    def wrapper(*args: _Args.args, **kwargs: _Args.kwargs) -> str:
        return draw(*args, **kwargs) if available() else ""

    return wrapper


@functools.lru_cache(maxsize=1)
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit: works in CI and cron jobs
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "newsclean-report",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 10,
            "axes.titleweight": "bold",
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return plt


def _svg(fig) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue().decode("utf-8")


def _bar_height(n_bars: int) -> float:
    return max(1.3, 0.3 * n_bars + 0.8)


@_chart
def funnel(stages: list[dict]) -> str:
    """One bar per stage: documents it kept, then those it dropped, stacked by reason.

    `stages`: [{"name", "kept", "dropped": {reason: n}, "errors": {reason: n}}], in run order.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, _bar_height(len(stages))))
    names = [s["name"] for s in stages]
    y = list(range(len(stages)))[::-1]
    ax.barh(y, [s["kept"] for s in stages], color=KEPT_COLOR, label="kept")
    left = [s["kept"] for s in stages]
    colors, error_colors = iter(DROP_COLORS * 4), iter(ERROR_COLORS * 8)
    reasons = sorted(
        {(r, False) for s in stages for r in s["dropped"]} | {(r, True) for s in stages for r in s["errors"]}
    )
    for reason, is_error in reasons:
        widths = [(s["errors"] if is_error else s["dropped"]).get(reason, 0) for s in stages]
        if not any(widths):
            continue
        color = next(error_colors) if is_error else next(colors)
        ax.barh(
            y,
            widths,
            left=left,
            color=color,
            label=f"error: {reason}" if is_error else f"dropped: {reason}",
            hatch="//" if is_error else None,
            edgecolor="white",
            linewidth=0.5,
        )
        left = [a + b for a, b in zip(left, widths)]
    total = max(left) if left else 0
    for yi, s, width in zip(y, stages, left):
        lost = width - s["kept"]
        ax.text(
            width + total * 0.01,
            yi,
            f"{s['kept']:,}" + (f"  (−{lost:,})" if lost else ""),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, names)
    ax.set_xlim(0, total * 1.18 or 1)
    ax.set_xlabel("documents")
    ax.set_title("Documents through each stage")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return _svg(fig)


@_chart
def bars(
    items: Sequence[tuple[str, float]],
    title: str,
    xlabel: str,
    color: str = AFTER_COLOR,
    value_format: str = "{:,.0f}",
    notes: list[str] | None = None,
) -> str:
    """Horizontal bars, first item on top, each labelled with its value (or with `notes`)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, _bar_height(len(items))))
    labels = [label for label, _ in items][::-1]
    values = [value for _, value in items][::-1]
    ax.barh(range(len(values)), values, color=color)
    top = max(values) if values else 0
    labels_right = (notes or [value_format.format(v) for _, v in items])[::-1]
    for i, (value, note) in enumerate(zip(values, labels_right)):
        ax.text(value + top * 0.01, i, note, va="center", fontsize=8)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlim(0, top * (1.35 if notes else 1.15) or 1)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    return _svg(fig)


@_chart
def stacked_sources(rows: list[tuple[str, int, int]], title: str) -> str:
    """Top sources: kept and dropped documents per source."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, _bar_height(len(rows))))
    rows = rows[::-1]
    y = range(len(rows))
    kept = [k for _, k, _ in rows]
    dropped = [d for _, _, d in rows]
    ax.barh(y, kept, color=KEPT_COLOR, label="kept")
    ax.barh(y, dropped, left=kept, color=DROP_COLORS[0], label="dropped or failed")
    ax.set_yticks(list(y), [name for name, _, _ in rows])
    ax.set_xlabel("documents")
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return _svg(fig)


def _log_bins(values: list[int], n: int = 40) -> list[float]:
    positive = [v for v in values if v > 0]
    if not positive:
        return [0.5, 1.5]
    lo, hi = math.log10(max(1, min(positive))), math.log10(max(positive))
    if hi - lo < 0.1:
        lo, hi = lo - 0.5, hi + 0.5
    return [10 ** (lo + (hi - lo) * i / n) for i in range(n + 1)]


@_chart
def lengths(raw_kept: list[int], clean_kept: list[int], raw_dropped: list[int]) -> str:
    """Left: kept documents before and after cleaning. Right: all documents read, kept vs dropped."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH_IN, 3.0))
    bins = _log_bins(raw_kept + clean_kept + raw_dropped)
    if raw_kept:
        left.hist(raw_kept, bins=bins, color=BEFORE_COLOR, alpha=0.8, label="before cleaning")
    left.hist(
        clean_kept, bins=bins, histtype="step", linewidth=1.6, color=AFTER_COLOR, label="after cleaning"
    )
    left.set_title("Kept documents: length")
    right.hist(raw_kept, bins=bins, color=KEPT_COLOR, alpha=0.75, label="kept")
    if raw_dropped:
        right.hist(raw_dropped, bins=bins, color=DROP_COLORS[0], alpha=0.6, label="dropped")
    right.set_title("All documents read: length before cleaning")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("characters (log scale)")
        ax.set_ylabel("documents")
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return _svg(fig)


@_chart
def cluster_sizes(sizes: Counter, max_size: int = 20) -> str:
    """How many duplicate clusters have 2, 3, … documents (the last bar gathers the larger ones)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.6))
    folded: Counter = Counter()
    for size, n in sizes.items():
        folded[min(size, max_size)] += n
    xs = sorted(folded)
    ax.bar(range(len(xs)), [folded[x] for x in xs], color=DROP_COLORS[1])
    ax.set_xticks(range(len(xs)), [f"{x}+" if x == max_size else str(x) for x in xs])
    ax.set_yscale("log" if folded and max(folded.values()) > 50 * min(folded.values()) else "linear")
    ax.set_xlabel("documents in the cluster (the kept one and its duplicates)")
    ax.set_ylabel("clusters")
    ax.set_title("Duplicate cluster sizes")
    ax.grid(axis="x", visible=False)
    return _svg(fig)
