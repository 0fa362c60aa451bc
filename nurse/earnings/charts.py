"""Small server-side SVG charts for the report (no JavaScript, print- and mail-friendly)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_FONT = 'font-family="system-ui,sans-serif" font-size="11"'


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def line_chart(x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]],
               *, title: str, width: int = 720, height: int = 260,
               chart_id: str = "line") -> SafeString:
    """Lines over shared x labels, with a y grid, a zero line and a legend."""
    left, right, top, bottom = 64, 16, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" '
             f'class="chart" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
             f'<title>{escape(title)}</title>',
             f'<text x="{left}" y="16" {_FONT} font-weight="600">{escape(title)}</text>']
    values = [v for _, vals, _ in series for v in vals]
    if not x_labels or not values:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {_FONT} '
                     f'fill="#777">no data in this window</text></svg>')
        return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)
    ticks = _nice_ticks(min(0.0, *values), max(0.0, *values))
    lo, hi = ticks[0], ticks[-1]

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    def x(i: int) -> float:
        return left + (plot_w * i / (len(x_labels) - 1) if len(x_labels) > 1 else plot_w / 2)

    for t in ticks:
        color = "#999" if t == 0 else "#e4e4e4"
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
                     f'stroke="{color}" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" {_FONT} '
                     f'fill="#555">{escape(_fmt(t))}</text>')
    every = max(1, math.ceil(len(x_labels) / 10))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                         f'{_FONT} fill="#555">{escape(label)}</text>')
    for n, (name, vals, color) in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
        parts.append(f'<polyline class="series" data-name="{escape(name)}" fill="none" '
                     f'stroke="{escape(color)}" stroke-width="2" points="{points}"/>')
        for i, v in enumerate(vals):
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" '
                         f'fill="{escape(color)}"><title>{escape(name)} {escape(x_labels[i])}: '
                         f'{escape(_fmt(v))}</title></circle>')
        lx = left + 8 + n * 190
        parts.append(f'<rect x="{lx}" y="{height - 14}" width="12" height="4" '
                     f'fill="{escape(color)}"/>')
        parts.append(f'<text x="{lx + 16}" y="{height - 9}" {_FONT}>{escape(name)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, color: str = "#3b6ea5",
              width: int = 720, chart_id: str = "bars", unit: str = "") -> SafeString:
    """Horizontal bars, largest first as given, value printed at the end of each bar."""
    row, top, label_w = 22, 28, 210
    height = top + max(len(items), 1) * row + 12
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" '
             f'class="chart" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
             f'<title>{escape(title)}</title>',
             f'<text x="0" y="16" {_FONT} font-weight="600">{escape(title)}</text>']
    if not items:
        parts.append(f'<text x="{width / 2}" y="{top + 14}" text-anchor="middle" {_FONT} '
                     f'fill="#777">no data in this window</text></svg>')
        return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)
    peak = max(abs(v) for _, v in items) or 1.0
    bar_space = width - label_w - 80
    for i, (label, value) in enumerate(items):
        yy = top + i * row
        w = max(1.0, abs(value) / peak * bar_space)
        parts.append(f'<text x="{label_w - 8}" y="{yy + 14}" text-anchor="end" {_FONT}>'
                     f'{escape(label)}</text>')
        parts.append(f'<rect class="bar" data-label="{escape(label)}" x="{label_w}" '
                     f'y="{yy + 3}" width="{w:.1f}" height="{row - 8}" fill="{escape(color)}">'
                     f'<title>{escape(label)}: {escape(_fmt(value))}{escape(unit)}</title>'
                     f'</rect>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{yy + 14}" {_FONT} fill="#333">'
                     f'{escape(_fmt(value))}{escape(unit)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)
