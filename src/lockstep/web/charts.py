"""Server-rendered SVG charts: a line chart (KR history, trends) and a sparkline (KPIs).

Lockstep's charts are small and few: a handful of lines with a few dozen points each. SVG
written on the server keeps them readable without JavaScript, costs no script download,
prints, and takes its colours from the stylesheet's tokens, so light and dark both work.
Lines differ by dash pattern as well as colour (never colour alone), and every chart
carries a <title> for assistive technology; pages add the numbers as text beside it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

KINDS = ("actual", "pace", "forecast", "target")
_ids = itertools.count(1)

# Room for the tick labels around the plot area, in viewBox units.
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 26, 24


@dataclass(frozen=True)
class Series:
    """One line of a chart: a label for the legend and (x, y) points in data units."""

    label: str
    points: Sequence[tuple[float, float]]
    kind: str = "actual"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")


class _Scale:
    """Maps a data interval onto a pixel interval, clamping points outside the domain."""

    def __init__(self, domain: tuple[float, float], pixels: tuple[float, float]) -> None:
        self.d0, self.d1 = domain
        if self.d1 == self.d0:
            self.d1 = self.d0 + 1  # one point in time or one value: give it a unit width
        self.p0, self.p1 = pixels

    def __call__(self, v: float) -> float:
        t = (v - self.d0) / (self.d1 - self.d0)
        return self.p0 + min(1.0, max(0.0, t)) * (self.p1 - self.p0)


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _polyline(points: Sequence[tuple[float, float]], cls: str) -> str:
    coords = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
    return f'<polyline class="{cls}" points="{coords}"/>'


def _legend(series: Sequence[Series], width: int) -> str:
    parts, x = [], float(_LEFT)
    for s in series:
        parts.append(
            f'<line class="chart__line chart__line--{s.kind}" x1="{_n(x)}" y1="12" '
            f'x2="{_n(x + 22)}" y2="12"/>'
            f'<text class="chart__legend" x="{_n(x + 27)}" y="16">{escape(s.label)}</text>'
        )
        x += 40 + 6.5 * len(s.label)
        if x > width - 60:
            break
    return "".join(parts)


def line_chart(
    *,
    series: Sequence[Series],
    x_domain: tuple[float, float],
    y_domain: tuple[float, float],
    x_ticks: Sequence[tuple[float, str]] = (),
    y_ticks: Sequence[tuple[float, str]] = (),
    band: tuple[float, float] | None = None,
    title: str,
    width: int = 640,
    height: int = 220,
) -> SafeString:
    """An SVG line chart: one polyline per series, optional shaded band, ticks and legend."""
    sx = _Scale(x_domain, (_LEFT, width - _RIGHT))
    sy = _Scale(y_domain, (height - _BOTTOM, _TOP))
    uid = next(_ids)
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-{uid}-title" preserveAspectRatio="xMinYMin meet">'
        f'<title id="chart-{uid}-title">{escape(title)}</title>'
    ]
    if band is not None:
        top, bottom = sy(max(band)), sy(min(band))
        out.append(
            f'<rect class="chart__band" x="{_LEFT}" y="{_n(top)}" '
            f'width="{width - _LEFT - _RIGHT}" height="{_n(bottom - top)}"/>'
        )
    for value, label in y_ticks:
        y = sy(value)
        out.append(
            f'<line class="chart__grid" x1="{_LEFT}" y1="{_n(y)}" x2="{width - _RIGHT}" '
            f'y2="{_n(y)}"/><text class="chart__tick" x="{_LEFT - 6}" y="{_n(y + 4)}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
    for value, label in x_ticks:
        out.append(
            f'<text class="chart__tick" x="{_n(sx(value))}" y="{height - 6}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    out.append(
        f'<line class="chart__axis" x1="{_LEFT}" y1="{height - _BOTTOM}" '
        f'x2="{width - _RIGHT}" y2="{height - _BOTTOM}"/>'
    )
    for s in series:
        pts = [(sx(x), sy(y)) for x, y in s.points]
        if len(pts) > 1:
            out.append(_polyline(pts, f"chart__line chart__line--{s.kind}"))
        if s.kind == "actual" or len(pts) == 1:
            out.extend(
                f'<circle class="chart__dot chart__dot--{s.kind}" cx="{_n(x)}" cy="{_n(y)}" r="3"/>'
                for x, y in pts
            )
    out.append(_legend(series, width))
    out.append("</svg>")
    return mark_safe("".join(out))  # every text above went through escape()


def sparkline(
    values: Sequence[float],
    *,
    band: tuple[float | None, float | None] | None = None,
    title: str,
    width: int = 120,
    height: int = 32,
) -> SafeString:
    """A word-sized line of recent values, its healthy band shaded, the latest value dotted."""
    uid = next(_ids)
    head = (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-labelledby="spark-{uid}-title">'
        f'<title id="spark-{uid}-title">{escape(title)}</title>'
    )
    if not values:
        return mark_safe(f"{head}</svg>")  # title escaped
    lo, hi = min(values), max(values)
    if band is not None:
        # Keep the band's edges in view so a value outside it looks outside it.
        lo = min([lo, *(b for b in band if b is not None)])
        hi = max([hi, *(b for b in band if b is not None)])
    sx = _Scale((0, max(1, len(values) - 1)), (2, width - 4))
    sy = _Scale((lo, hi if hi > lo else lo + 1), (height - 3, 3))
    out = [head]
    if band is not None and (band[0] is not None or band[1] is not None):
        b_hi = sy(band[1]) if band[1] is not None else 0.0
        b_lo = sy(band[0]) if band[0] is not None else float(height)
        out.append(
            f'<rect class="spark__band" x="0" y="{_n(b_hi)}" width="{width}" '
            f'height="{_n(b_lo - b_hi)}"/>'
        )
    pts = [(sx(i), sy(v)) for i, v in enumerate(values)]
    if len(pts) > 1:
        out.append(_polyline(pts, "spark__line"))
    x, y = pts[-1]
    out.append(f'<circle class="spark__dot" cx="{_n(x)}" cy="{_n(y)}" r="2.5"/></svg>')
    return mark_safe("".join(out))  # title escaped, the rest are numbers
