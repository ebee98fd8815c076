"""Template pieces every page shares: numbers, percentages, status badges, progress bars."""

from __future__ import annotations

import datetime as dt
import math

from django import template
from django.utils.html import format_html

register = template.Library()

# Each status has a word and a shape, so it reads without colour (and without the shape).
STATUS_LABELS = {
    "not_started": ("Not started", "○"),
    "on_track": ("On track", "●"),
    "at_risk": ("At risk", "▲"),
    "off_track": ("Off track", "■"),
    "done": ("Done", "✓"),
}

KIND_LABELS = {
    "increase": "Increase",
    "decrease": "Decrease",
    "at_least": "Keep at least",
    "at_most": "Keep at most",
    "milestone": "Milestone",
}


@register.filter
def kind_label(kind: str) -> str:
    return KIND_LABELS.get(str(kind), str(kind))


@register.filter
def percent(value: float | None) -> str:
    """0.456 → "46%"."""
    if value is None:
        return "\u2013"  # an en dash: no value yet
    return f"{round(float(value) * 100)}%"


def long_day(d: dt.date) -> str:
    """A date in words as pages and findings write it: "7 Nov 2026"."""
    return f"{d.day} {d:%b %Y}"


@register.filter
def num(value: float | None) -> str:
    """A measured value without noise: 5000.0 → "5,000", 4.25 → "4.25"."""
    if value is None:
        return "\u2013"  # an en dash: no value yet
    x = float(value)
    if not math.isfinite(x):
        return str(x)
    if x == int(x):
        return f"{int(x):,}"
    return f"{x:,.4f}".rstrip("0").rstrip(".")


@register.filter
def measured(value: float | None, measure: str) -> str:
    """A value with its measure: "5,000 visits", but "95%" without the space."""
    if not measure:
        return num(value)
    return f"{num(value)}{'' if measure == '%' else ' '}{measure}"


@register.filter
def status_label(status: str) -> str:
    return STATUS_LABELS.get(str(status), (str(status).replace("_", " ").capitalize(), ""))[0]


@register.simple_tag
def status_badge(status: str) -> str:
    """The status as a word with a shape and a colour; the word alone carries the meaning."""
    label, shape = STATUS_LABELS.get(str(status), (str(status), "•"))
    return format_html(
        '<span class="status status--{}"><span class="status__shape" aria-hidden="true">{}</span>{}</span>',
        status,
        shape,
        label,
    )


@register.simple_tag
def progress_bar(progress: float, expected: float | None = None, status: str = "") -> str:
    """A bar with the percentage written beside it; the pace line as a tick when given.

    The bar itself is hidden from screen readers: the written figures say the same.
    """
    pct = round(max(0.0, min(1.0, float(progress))) * 100)
    if expected is None:
        return format_html(
            '<span class="progress"><span class="bar" aria-hidden="true">'
            '<span class="bar__fill bar__fill--{}" style="width: {}%"></span></span>'
            '<span class="progress__text">{}%</span></span>',
            status,
            pct,
            pct,
        )
    exp = round(max(0.0, min(1.0, float(expected))) * 100)
    return format_html(
        '<span class="progress"><span class="bar" aria-hidden="true">'
        '<span class="bar__fill bar__fill--{}" style="width: {}%"></span>'
        '<span class="bar__pace" style="left: {}%"></span></span>'
        '<span class="progress__text">{}%<span class="progress__pace"> · expected {}%</span></span></span>',
        status,
        pct,
        exp,
        pct,
        exp,
    )
