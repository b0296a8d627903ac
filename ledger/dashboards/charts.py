"""Charts as inline SVG drawn on the server: no JavaScript, no CDN, readable offline."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    values: list[int]


def number_short(value: float) -> str:
    """Format an axis number compactly: 950, 12.5k, 3.2M, -1.1B."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{sign}{text}{suffix}"
    return f"{sign}{value:g}"


def ticks_nice(low: float, high: float, count: int = 5) -> list[float]:
    """Return round tick values covering [low, high] (0 included when in range)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


@dataclass
class _Frame:
    width: int
    height: int
    left: int = 64
    right: int = 16
    top: int = 34
    bottom: int = 34

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> int:
        return self.height - self.top - self.bottom


def line_chart(
    *, series: list[Series], days: list[date], title: str, width: int = 920, height: int = 280, area: bool = False
) -> SafeString:
    """Return an SVG line chart of ``series`` over ``days`` with a labelled y axis, date
    ticks on the x axis, a grid, a legend and a tooltip (``<title>``) per point."""
    frame = _Frame(width, height)
    values = [v for s in series for v in s.values] or [0]
    ticks = ticks_nice(min(0, min(values)), max(values))
    low, high = ticks[0], ticks[-1]
    count = max(len(days), 1)

    def x(i: int) -> float:
        return frame.left + (frame.plot_w * i / (count - 1) if count > 1 else frame.plot_w / 2)

    def y(v: float) -> float:
        return frame.top + frame.plot_h * (1 - (v - low) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{frame.left}" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for tick in ticks:
        parts.append(
            f'<line x1="{frame.left}" x2="{width - frame.right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'class="{"axis" if tick == 0 else "grid"}"/>'
            f'<text x="{frame.left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end" class="tick">{number_short(tick)}</text>'
        )
    parts += _x_axis(days, x, frame)
    for s in series:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        if area and s.values:
            parts.append(
                f'<polygon points="{x(0):.1f},{y(max(low, 0)):.1f} {points} {x(len(s.values) - 1):.1f},{y(max(low, 0)):.1f}" '
                f'fill="{s.color}" fill-opacity="0.15" stroke="none"/>'
            )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="2" class="series" data-label="{escape(s.label)}"/>')
        parts += [
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.2" fill="{s.color}"><title>{escape(s.label)} '
            f'{days[i]:%Y-%m-%d}: {v:,}</title></circle>'
            for i, v in enumerate(s.values)
        ]
    parts += _legend(series, frame)
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _x_axis(days: list[date], x, frame: _Frame) -> list[str]:
    parts = [f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{frame.top + frame.plot_h}" '
             f'y2="{frame.top + frame.plot_h}" class="axis"/>']
    step = max(1, math.ceil(len(days) / 10))
    for i in range(0, len(days), step):
        parts.append(
            f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{frame.top + frame.plot_h}" y2="{frame.top + frame.plot_h + 4}" class="axis"/>'
            f'<text x="{x(i):.1f}" y="{frame.top + frame.plot_h + 18}" text-anchor="middle" class="tick">{days[i]:%b %d}</text>'
        )
    return parts


def _legend(series: list[Series], frame: _Frame) -> list[str]:
    parts, offset = [], frame.width - frame.right
    for s in reversed(series):
        offset -= 14 + 7 * len(s.label) + 18
        parts.append(
            f'<rect x="{offset}" y="7" width="12" height="12" rx="2" fill="{s.color}"/>'
            f'<text x="{offset + 17}" y="17" class="legend">{escape(s.label)}</text>'
        )
    return parts
