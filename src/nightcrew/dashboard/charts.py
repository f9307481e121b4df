"""Inline SVG charts for the dashboard: pure functions from a series to an SVG string (no script, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (1 for nothing)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for mantissa in (1.0, 2.0, 5.0, 10.0):
        candidate = mantissa * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)


def format_value(value: float, unit: str = "") -> str:
    """A chart label: whole numbers without decimals, USD with cents (or more digits for tiny amounts)."""
    if unit == "$":
        return f"${value:,.4f}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def daily_bar_chart(
    title: str,
    days: Sequence[date],
    values: Sequence[float],
    *,
    unit: str = "",
    width: int = 560,
    height: int = 150,
    empty_text: str = "nothing in this period",
) -> str:
    """A bar per day with a y scale, first/middle/last day labels and a hover title on every bar."""
    if len(days) != len(values):
        raise ValueError(f"{len(days)} days but {len(values)} values")
    if any(v < 0 for v in values):
        raise ValueError("a daily bar chart shows counts and amounts, which are never negative")
    left, right, top, bottom = 44, 6, 8, 20
    plot_w, plot_h = width - left - right, height - top - bottom
    total = sum(values)
    ceiling = nice_ceiling(max(values, default=0.0))
    summary = f"{title}: {format_value(total, unit)} over {len(days)} days"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(summary)}">',
        f"<title>{escape(summary)}</title>",
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{left}" y1="{_num(y)}" x2="{width - right}" y2="{_num(y)}"/>')
        tick = ceiling * fraction
        # Counts are whole: a "0.50" label on a count axis would only confuse.
        if unit == "$" or float(tick).is_integer():
            parts.append(
                f'<text class="axis" x="{left - 4}" y="{_num(y + 3)}" text-anchor="end">'
                f"{escape(format_value(tick, unit))}</text>"
            )
    if not days or total == 0:
        parts.append(
            f'<text class="empty" x="{_num(left + plot_w / 2)}" y="{_num(top + plot_h / 2)}" '
            f'text-anchor="middle">{escape(empty_text)}</text>'
        )
    slot = plot_w / max(len(days), 1)
    gap = 1.0 if slot > 3 else 0.0
    for i, (day, value) in enumerate(zip(days, values, strict=True)):
        if value <= 0:
            continue
        bar_h = plot_h * value / ceiling
        x, y = left + i * slot + gap / 2, top + plot_h - bar_h
        parts.append(
            f'<rect class="bar" x="{_num(x)}" y="{_num(y)}" width="{_num(slot - gap)}" height="{_num(bar_h)}">'
            f"<title>{day.isoformat()}: {escape(format_value(value, unit))}</title></rect>"
        )
    if days:
        ticks = sorted({0, len(days) // 2, len(days) - 1})
        for i in ticks:
            anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
            x = left + i * slot + (0 if anchor == "start" else slot if anchor == "end" else slot / 2)
            parts.append(
                f'<text class="axis" x="{_num(x)}" y="{height - 6}" text-anchor="{anchor}">'
                f"{days[i].strftime('%b %d')}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def interval_marker(rate: float | None, low: float, high: float, *, width: int = 120, height: int = 14) -> str:
    """A 0-100% track with the 95% interval as a band and the observed rate as a tick."""
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got {low}, {high}")
    pad = 2
    span = width - 2 * pad
    label = "no data" if rate is None else f"{rate:.1%} (95% CI {low:.1%} to {high:.1%})"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="interval" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        f'<line class="track" x1="{pad}" y1="{height / 2}" x2="{width - pad}" y2="{height / 2}"/>',
    ]
    if rate is not None:
        parts.append(
            f'<rect class="band" x="{_num(pad + span * low)}" y="{height / 2 - 3}" '
            f'width="{_num(max(span * (high - low), 1.0))}" height="6"/>'
        )
        x = _num(pad + span * rate)
        parts.append(f'<line class="tick" x1="{x}" y1="1" x2="{x}" y2="{height - 1}"/>')
    parts.append("</svg>")
    return "".join(parts)
