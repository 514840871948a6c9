"""The report's charts as small self-contained SVG documents, written directly (no plotting library).

Drawing them with matplotlib cost ~1.3 s of CPU per run (its import and seven figures), most of
a small run's time; these few bar charts and histograms need only rectangles, lines and text.
Output is deterministic (the same figures give the same bytes), text stays text (the browser's
fonts), and every colour is a plain fill, so a chart reads the same in any viewer.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

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
WIDTH = 800  # pixels; the page scales the image to its column
ROW = 22  # pixels per bar of a horizontal bar chart
FONT = "font-family:sans-serif;font-size:12px;fill:#222"


class _Canvas:
    """Elements of one SVG document, in drawing order."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str, opacity: float = 1.0) -> None:
        if w > 0 and h > 0:
            extra = f' fill-opacity="{opacity:g}"' if opacity < 1 else ""
            self.parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}"{extra}/>'
            )

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str = "#ccc") -> None:
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}"/>')

    def polyline(self, points: list[tuple[float, float]], color: str, width: float = 1.6) -> None:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="{width:g}"/>'
        )

    def text(
        self, x: float, y: float, s: str, anchor: str = "start", size: int = 12, bold: bool = False
    ) -> None:
        weight = ";font-weight:bold" if bold else ""
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" dominant-baseline="middle" '
            f'style="{FONT};font-size:{size}px{weight}">{escape(str(s))}</text>'
        )

    def legend(self, x: float, y: float, items: list[tuple[str, str]]) -> None:
        for i, (color, label) in enumerate(items):
            self.rect(x, y + i * 18 - 6, 12, 12, color)
            self.text(x + 18, y + i * 18, label, size=11)

    def svg(self) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}"><rect width="100%" height="100%" fill="white"/>'
            + "".join(self.parts)
            + "</svg>"
        )


def _nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 and round steps (1, 2, 5 x 10^k) up to `top`."""
    if top <= 0:
        return [0.0]
    raw = top / count
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 5, 10) if m * base >= raw)
    return [i * step for i in range(int(top / step) + 1)]


def _tick_label(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2g}"


def _label_width(labels: list[str]) -> int:
    return min(260, 12 + 7 * max((len(s) for s in labels), default=4))


@dataclass(frozen=True)
class _Frame:
    """A bar chart's title, x-axis label and the headroom right of its longest bar (for the notes)."""

    title: str
    xlabel: str
    room: float = 1.18


def _hbars(
    frame: _Frame,
    labels: list[str],
    segments: Sequence[Sequence[tuple[float, str]]],
    notes: list[str],
    legend: Sequence[tuple[str, str]] = (),
) -> str:
    """Horizontal bars, first row on top; each row's segments stacked from 0, `notes` at their end."""
    title, xlabel, room = frame.title, frame.xlabel, frame.room
    left = _label_width(labels)
    right = 210 if legend else 20
    plot_w = WIDTH - left - right
    height = 40 + ROW * len(labels) + 42
    canvas = _Canvas(WIDTH, max(height, 60 + 18 * len(legend)))
    canvas.text(left, 16, title, bold=True, size=13)
    totals = [sum(v for v, _ in row) for row in segments]
    top = (max(totals) if totals else 0) or 1
    scale = plot_w / (top * room)
    bottom = 40 + ROW * len(labels)
    for tick in _nice_ticks(top * room):
        x = left + tick * scale
        canvas.line(x, 36, x, bottom)
        canvas.text(x, bottom + 10, _tick_label(tick), anchor="middle", size=10)
    canvas.text(left + plot_w / 2, bottom + 30, xlabel, anchor="middle", size=11)
    for i, (label, row, note, total) in enumerate(zip(labels, segments, notes, totals)):
        y = 40 + i * ROW
        canvas.text(left - 6, y + ROW / 2, label, anchor="end", size=11)
        x = left
        for value, color in row:
            canvas.rect(x, y + 3, value * scale, ROW - 6, color)
            x += value * scale
        canvas.text(left + total * scale + 4, y + ROW / 2, note, size=10)
    if legend:
        canvas.legend(WIDTH - right + 14, 44, list(legend))
    return canvas.svg()


def funnel(stages: list[dict]) -> str:
    """One bar per stage: documents it kept, then those it dropped, stacked by reason.

    `stages`: [{"name", "kept", "dropped": {reason: n}, "errors": {reason: n}}], in run order.
    """
    colors, error_colors = iter(DROP_COLORS * 4), iter(ERROR_COLORS * 8)
    reasons = sorted(
        {(r, False) for s in stages for r in s["dropped"]} | {(r, True) for s in stages for r in s["errors"]}
    )
    segments = [[(s["kept"], KEPT_COLOR)] for s in stages]
    legend = [(KEPT_COLOR, "kept")]
    for reason, is_error in reasons:
        widths = [(s["errors"] if is_error else s["dropped"]).get(reason, 0) for s in stages]
        if not any(widths):
            continue
        color = next(error_colors) if is_error else next(colors)
        legend.append((color, f"error: {reason}" if is_error else f"dropped: {reason}"))
        for row, width in zip(segments, widths):
            row.append((width, color))
    notes = []
    for s, row in zip(stages, segments):
        lost = sum(v for v, _ in row) - s["kept"]
        notes.append(f"{s['kept']:,}" + (f"  (−{lost:,})" if lost else ""))
    names = [s["name"] for s in stages]
    return _hbars(_Frame("Documents through each stage", "documents"), names, segments, notes, legend)


def bars(
    items: Sequence[tuple[str, float]],
    title: str,
    xlabel: str,
    color: str = AFTER_COLOR,
    value_format: str = "{:,.0f}",
    notes: list[str] | None = None,
) -> str:
    """Horizontal bars, first item on top, each labelled with its value (or with `notes`)."""
    labels = [label for label, _ in items]
    segments = [[(value, color)] for _, value in items]
    room = 1.35 if notes else 1.15  # notes are longer than plain values
    notes = notes or [value_format.format(v) for _, v in items]
    return _hbars(_Frame(title, xlabel, room), labels, segments, notes)


def stacked_sources(rows: list[tuple[str, int, int]], title: str) -> str:
    """Top sources: kept and dropped documents per source."""
    segments = [[(kept, KEPT_COLOR), (dropped, DROP_COLORS[0])] for _, kept, dropped in rows]
    notes = [f"{kept:,} / {dropped:,}" for _, kept, dropped in rows]
    legend = [(KEPT_COLOR, "kept"), (DROP_COLORS[0], "dropped or failed")]
    return _hbars(_Frame(title, "documents"), [name for name, _, _ in rows], segments, notes, legend)


def _log_bins(values: list[int], n: int = 40) -> list[float]:
    positive = [v for v in values if v > 0]
    if not positive:
        return [0.5, 1.5]
    lo, hi = math.log10(max(1, min(positive))), math.log10(max(positive))
    if hi - lo < 0.1:
        lo, hi = lo - 0.5, hi + 0.5
    return [10 ** (lo + (hi - lo) * i / n) for i in range(n + 1)]


def _histogram(values: list[int], bins: list[float]) -> list[int]:
    """How many values fall in each bin [bins[i], bins[i+1]), the last bin closed on the right; the
    edges are looked up in the sorted values (one sort in C, not a bisect per value)."""
    ordered = sorted(values)
    below = [bisect.bisect_left(ordered, edge) for edge in bins]  # values under each edge
    counts = [hi - lo for lo, hi in zip(below, below[1:])]
    if counts:
        counts[-1] += bisect.bisect_right(ordered, bins[-1]) - below[-1]  # those equal to the last edge
    return counts


def _histogram_panel(canvas: _Canvas, x0: float, width: float, title: str, bins: list[float], layers) -> None:
    """One log-x histogram; `layers`: (counts, color, filled, label), drawn in order."""
    top = max((max(c, default=0) for c, *_ in layers), default=0) or 1
    y0, height = 34, 160
    bottom = y0 + height
    lo, hi = math.log10(bins[0]), math.log10(bins[-1])

    def x_of(v: float) -> float:
        return x0 + (math.log10(v) - lo) / ((hi - lo) or 1) * width

    canvas.text(x0 + width / 2, 14, title, anchor="middle", bold=True, size=12)
    for tick in _nice_ticks(top * 1.05, 4):
        y = bottom - tick / (top * 1.05) * height
        canvas.line(x0, y, x0 + width, y)
        canvas.text(x0 - 4, y, _tick_label(tick), anchor="end", size=9)
    for power in range(math.ceil(lo), math.floor(hi) + 1):
        canvas.line(x_of(10**power), bottom, x_of(10**power), bottom + 4, "#555")
        canvas.text(x_of(10**power), bottom + 12, f"{10**power:,}", anchor="middle", size=9)
    canvas.text(x0 + width / 2, bottom + 30, "characters (log scale)", anchor="middle", size=10)
    for counts, color, filled, _label in layers:
        points = []
        for i, n in enumerate(counts):
            a, b = x_of(bins[i]), x_of(bins[i + 1])
            y = bottom - n / (top * 1.05) * height
            if filled:
                canvas.rect(a, y, b - a, bottom - y, color, 0.75)
            points += [(a, y), (b, y)]
        if not filled and points:
            canvas.polyline([(points[0][0], bottom), *points, (points[-1][0], bottom)], color)
    canvas.legend(x0 + width - 120, y0 + 8, [(color, label) for counts, color, _, label in layers if counts])


def lengths(raw_kept: list[int], clean_kept: list[int], raw_dropped: list[int]) -> str:
    """Left: kept documents before and after cleaning. Right: all documents read, kept vs dropped."""
    bins = [max(b, 1e-9) for b in _log_bins(raw_kept + clean_kept + raw_dropped)]
    canvas = _Canvas(WIDTH, 240)
    panel = (WIDTH - 120) / 2
    left_layers = [(_histogram(clean_kept, bins), AFTER_COLOR, False, "after cleaning")]
    if raw_kept:
        left_layers.insert(0, (_histogram(raw_kept, bins), BEFORE_COLOR, True, "before cleaning"))
    _histogram_panel(canvas, 50, panel, "Kept documents: length", bins, left_layers)
    right_layers = [(_histogram(raw_kept, bins), KEPT_COLOR, True, "kept")]
    if raw_dropped:
        right_layers.append((_histogram(raw_dropped, bins), DROP_COLORS[0], True, "dropped"))
    _histogram_panel(
        canvas, 110 + panel, panel, "All documents read: length before cleaning", bins, right_layers
    )
    return canvas.svg()


def cluster_sizes(sizes: Counter, max_size: int = 20) -> str:
    """How many duplicate clusters have 2, 3, … documents (the last bar gathers the larger ones)."""
    folded: Counter = Counter()
    for size, n in sizes.items():
        folded[min(size, max_size)] += n
    xs = sorted(folded)
    values = [folded[x] for x in xs]
    log = bool(values) and max(values) > 50 * min(values)
    top = max(values, default=0) or 1

    def scaled(v: float) -> float:  # 0..1 of the plot height; on a log scale from 0.5
        return math.log10(v / 0.5) / math.log10(top * 2 / 0.5) if log else v / (top * 1.1)

    canvas = _Canvas(WIDTH, 230)
    x0, y0, width, height = 60, 34, WIDTH - 80, 140
    bottom = y0 + height
    canvas.text(x0, 14, "Duplicate cluster sizes", bold=True, size=13)
    ticks = [10**p for p in range(0, int(math.log10(top * 2)) + 1)] if log else _nice_ticks(top * 1.1, 4)
    for tick in ticks:
        y = bottom - scaled(tick) * height
        canvas.line(x0, y, x0 + width, y)
        canvas.text(x0 - 4, y, _tick_label(tick), anchor="end", size=9)
    slot = width / max(len(xs), 1)
    for i, (x, v) in enumerate(zip(xs, values)):
        h = scaled(v) * height
        canvas.rect(x0 + i * slot + slot * 0.15, bottom - h, slot * 0.7, h, DROP_COLORS[1])
        canvas.text(x0 + (i + 0.5) * slot, bottom + 10, f"{x}+" if x == max_size else str(x), "middle", 10)
    canvas.text(
        x0 + width / 2,
        bottom + 28,
        "documents in the cluster (the kept one and its duplicates)",
        anchor="middle",
        size=11,
    )
    canvas.text(8, y0 - 12, "clusters", size=11)
    return canvas.svg()
