"""The dependency map's drawing: unit boxes, dependency lines and their labels, in SVG terms.

graph_layout places sized boxes and routes edges between them; it knows nothing of units
or dependencies. This module sits between it and the templates. It turns the map's units
and dependencies into boxes sized for their text (estimated from per-character widths,
because the boxes need a size before the browser lays any text out), groups a pair's
dependencies into one line once there are GROUP_AT of them, hands the boxes and links to
the layered layout, and reads the result back as paths, text baselines and accessible
names. It also builds the table that is the map's text alternative, which is all the page
shows when the picture would be too crowded to read.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import reverse

from lockstep.alignment import selectors
from lockstep.alignment.graph_layout import Box, Layout, Placed, layered_layout
from lockstep.goals.models import Cycle
from lockstep.org.models import Unit
from lockstep.web.templatetags.lockstep_ui import long_day

# Pairs with this many dependencies or more are drawn as one edge with a count.
GROUP_AT = 3
# Beyond this many lines a picture stops being readable (and costs seconds to lay out):
# the page then asks for a narrower filter and shows the table alone.
MOST_LINES_DRAWN = 150
# Text sizes the map's boxes are cut to; the full text is in each link's name and the table.
UNIT_NAME_CHARS = 28
LABEL_CHARS = 32
TIP_LINES = 6
# Rough advance widths (px) per character of each kind of text on the map (see depmap.css):
# boxes need a size before the browser lays any text out; a little room to spare is fine.
CHAR_PX = {
    "node__name": 8.8,
    "node__sub": 6.9,
    "edge__title": 7.6,
    "edge__meta": 6.9,
    "edge__risk": 7.4,
    "edge__tip-line": 6.9,
}
LINE_PX = 16.0
STATE_WORDS = {
    "requested": "Requested",
    "countered": "New date offered",
    "accepted": "Accepted",
    "late": "Late",
    "declined": "Declined",
    "missed": "Missed",
    "delivered": "Delivered",
}
STATE_SHAPES = {
    "requested": "○",
    "countered": "◐",
    "accepted": "●",
    "late": "!",
    "declined": "✖",
    "missed": "■",
    "delivered": "✓",
}
# Which state a grouped edge is drawn in: the most pressing one among its dependencies.
STATE_URGENCY = ("late", "declined", "missed", "countered", "requested", "accepted", "delivered")
LEGEND_ORDER = ("requested", "countered", "accepted", "late", "declined", "missed", "delivered")
RISK_WORDS = {
    "UPSTREAM_AT_RISK": "on an at-risk chain",
    "DEPENDENCY_UNANSWERED": "unanswered too long",
    "DEPENDENCY_DECLINED": "declined under a committed key result",
    "DEPENDENCY_TOO_LATE": "comes too late",
    "DEPENDENCY_CYCLE": "part of a dependency cycle",
}


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def _short_day(d: dt.date) -> str:
    return f"{d.day} {d:%b}"


def _path(points: Iterable[tuple[float, float]]) -> str:
    """An SVG path through route points: straight where level, a smooth S where it climbs."""
    pts = list(points)
    out = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if abs(y1 - y0) < 0.5:
            out.append(f"L{x1:.1f},{y1:.1f}")
        else:
            mid = (x1 - x0) / 2
            out.append(f"C{x0 + mid:.1f},{y0:.1f} {x1 - mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
    return " ".join(out)


@dataclass
class MapText:
    """One line of text in a box, at its baseline."""

    x: float
    y: float
    text: str
    cls: str


@dataclass
class MapNode:
    """A unit box: a link that narrows the map to the unit's neighbourhood."""

    unit_id: int
    name: str
    href: str
    label: str  # the link's accessible name
    box: Placed
    lines: list[MapText]
    at_risk: bool
    current: bool


@dataclass
class MapEdge:
    """A dependency (or a pair's group of them) drawn from requester to provider."""

    key: str
    href: str
    label: str  # the link's accessible name
    state: str
    at_risk: bool
    grouped: bool
    into: str  # path from the requester to the label
    out: str  # path from the label to the provider (with the arrow)
    box: Placed
    lines: list[MapText]
    tip: Placed | None = None
    tip_lines: list[MapText] = field(default_factory=list)


@dataclass
class MapRow:
    """A dependency in the map's table, with the findings that put it at risk, in words."""

    dep: selectors.MapDependency
    risks: list[tuple[selectors.RiskMark, str]]


@dataclass
class MapPair:
    """The text alternative: one pair of units and the dependencies between them."""

    key: str
    requester_name: str
    provider_name: str
    requester_url: str
    provider_url: str
    rows: list[MapRow]


@dataclass
class MapFilters:
    """The map's filters as the request chose them, and the map's address with them."""

    cycle: Cycle | None
    show: str
    unit: Unit | None
    ignored: list[str]
    base: str = field(default_factory=lambda: reverse("dependency-map"))

    def url(self, **change: str | None) -> str:
        """The map's address with these filters, `change` applied (None drops one)."""
        params: dict[str, str | None] = {
            "cycle": str(self.cycle.pk) if self.cycle else None,
            "state": self.show if self.show != "open" else None,
            "unit": str(self.unit.pk) if self.unit else None,
        }
        params.update(change)
        kept = {k: v for k, v in params.items() if v}
        return self.base + (f"?{urlencode(kept)}" if kept else "")


def _state_of_group(deps: list[selectors.MapDependency]) -> str:
    states = {d.shown_state for d in deps}
    return next(s for s in STATE_URGENCY if s in states)


def _state_counts(deps: list[selectors.MapDependency]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for d in deps:
        counts[d.shown_state] += 1
    # The state names themselves, shorter than the words: "countered", not "new date offered".
    return ", ".join(f"{counts[s]} {s}" for s in STATE_URGENCY if counts.get(s))


def _text_box(box_id: str, lines: list[tuple[str, str]], *, pad: float = 10.0) -> Box:
    widest = max(len(text) * CHAR_PX[cls] for text, cls in lines)
    return Box(box_id, round(widest + 2 * pad, 1), len(lines) * LINE_PX + 12)


def _box_lines(box: Placed, lines: list[tuple[str, str]], *, centre: bool = False) -> list[MapText]:
    x = box.cx if centre else box.x + 10
    return [
        MapText(round(x, 1), round(box.y + 6 + LINE_PX * (i + 1) - 4, 1), text, cls)
        for i, (text, cls) in enumerate(lines)
    ]


def _risk_lines(d: selectors.MapDependency) -> list[tuple[selectors.RiskMark, str]]:
    """Each kind of risk once (a dependency may sit on several at-risk chains)."""
    first: dict[str, selectors.RiskMark] = {}
    for mark in d.risks:
        first.setdefault(mark.code, mark)
    return [(mark, RISK_WORDS[code]) for code, mark in first.items()]


@dataclass
class MapDrawing:
    """The map as boxes, lines and labels placed by the layered layout, and its table.

    `lines` counts what there is to draw; over MOST_LINES_DRAWN nothing is drawn.
    """

    nodes: list[MapNode]
    edges: list[MapEdge]
    layout: Layout | None
    pairs: list[MapPair]
    lines: int


def dependency_map_drawing(found: selectors.DependencyMap, filters: MapFilters) -> MapDrawing:
    """Lay the map out and say what each box and line stands for."""
    names = found.unit_names
    pairs: dict[tuple[int, int], list[selectors.MapDependency]] = {}
    for d in found.dependencies:
        pairs.setdefault((d.requester_unit_id, d.provider_unit_id), []).append(d)
    needs: dict[int, int] = defaultdict(int)
    owes: dict[int, int] = defaultdict(int)
    for d in found.dependencies:
        needs[d.requester_unit_id] += 1
        owes[d.provider_unit_id] += 1
    unit_ids = sorted(names, key=lambda u: (names[u].lower(), u))

    boxes: list[Box] = []
    unit_lines: dict[int, list[tuple[str, str]]] = {}
    for u in unit_ids:
        risk = u in found.risky_unit_ids
        title = ("▲ " if risk else "") + _cut(names[u], UNIT_NAME_CHARS)
        sub = f"needs {needs[u]} · owes {owes[u]}"
        unit_lines[u] = [(title, "node__name"), (sub, "node__sub")]
        size = _text_box(f"u{u}", unit_lines[u], pad=12)
        boxes.append(Box(size.id, max(size.width, 96.0), size.height + 4))

    edge_specs: list[tuple[str, list[selectors.MapDependency], list[tuple[str, str]]]] = []
    for (r, p), deps in pairs.items():
        groups = [deps] if len(deps) >= GROUP_AT else [[d] for d in deps]
        for group in groups:
            risk = any(d.at_risk for d in group)
            if len(group) == 1:
                d = group[0]
                key = f"d{d.id}"
                lines = [
                    (_cut(d.title, LABEL_CHARS), "edge__title"),
                    (
                        f"{STATE_SHAPES[d.shown_state]} {STATE_WORDS[d.shown_state]} · "
                        f"by {_short_day(d.needed_by)}",
                        "edge__meta",
                    ),
                ]
            else:
                key = f"p{r}-{p}"
                lines = [
                    (f"{len(group)} dependencies", "edge__title"),
                    (_state_counts(group), "edge__meta"),
                ]
            if risk:
                lines.append(("▲ At-risk chain", "edge__risk"))
            edge_specs.append((key, group, lines))
            boxes.append(_text_box(key, lines))

    table = [
        MapPair(
            key=f"pair-{r}-{p}",
            requester_name=names[r],
            provider_name=names[p],
            requester_url=filters.url(unit=str(r)),
            provider_url=filters.url(unit=str(p)),
            rows=[MapRow(d, _risk_lines(d)) for d in deps],
        )
        for (r, p), deps in sorted(
            pairs.items(), key=lambda kv: (names[kv[0][0]].lower(), names[kv[0][1]].lower())
        )
    ]
    if len(edge_specs) > MOST_LINES_DRAWN or found.cut:
        # Part of a map would be a wrong map: draw all of it or none.
        return MapDrawing([], [], None, table, len(edge_specs))

    links: list[tuple[str, str]] = []
    for key, group, _ in edge_specs:
        links += [(f"u{group[0].requester_unit_id}", key), (key, f"u{group[0].provider_unit_id}")]
    layout = layered_layout(boxes, links, layer_gap=44.0, node_gap=16.0, margin=16.0)

    nodes = [
        MapNode(
            unit_id=u,
            name=names[u],
            href=filters.url(unit=str(u)),
            label=(
                f"{names[u]}: needs {needs[u]}, owes {owes[u]}"
                + ("; on an at-risk chain" if u in found.risky_unit_ids else "")
                + (
                    ". Shown now"
                    if filters.unit and filters.unit.pk == u
                    else f". Show {names[u]} and its dependencies only"
                )
            ),
            box=layout.boxes[f"u{u}"],
            lines=_box_lines(layout.boxes[f"u{u}"], unit_lines[u], centre=True),
            at_risk=u in found.risky_unit_ids,
            current=bool(filters.unit and filters.unit.pk == u),
        )
        for u in unit_ids
    ]
    edges: list[MapEdge] = []
    for n, (key, group, lines) in enumerate(edge_specs):
        into, out = layout.routes[2 * n], layout.routes[2 * n + 1]
        first = group[0]
        requester, provider = names[first.requester_unit_id], names[first.provider_unit_id]
        risk = any(d.at_risk for d in group)
        box = layout.boxes[key]
        if len(group) == 1:
            href = reverse("dependency-detail", args=[first.id])
            label = (
                f"{requester} needs “{first.title}” from {provider} by {long_day(first.needed_by)}: "
                f"{STATE_WORDS[first.shown_state].lower()}"
                + ("; on an at-risk chain" if risk else "")
                + ". Open the dependency"
            )
        else:
            href = f"#pair-{first.requester_unit_id}-{first.provider_unit_id}"
            label = (
                f"{requester} needs {len(group)} things from {provider}: "
                + "; ".join(
                    f"“{d.title}” by {long_day(d.needed_by)}, {STATE_WORDS[d.shown_state].lower()}"
                    for d in group
                )
                + ("; some on an at-risk chain" if risk else "")
                + ". List them"
            )
        edge = MapEdge(
            key=key,
            href=href,
            label=label,
            state=_state_of_group(group),
            at_risk=risk,
            grouped=len(group) > 1,
            into=_path(into.points),
            out=_path(out.points),
            box=box,
            lines=_box_lines(box, lines),
        )
        if len(group) > 1:
            tip_text = [
                (
                    f"{STATE_SHAPES[d.shown_state]} {_cut(d.title, LABEL_CHARS)} · "
                    f"{_short_day(d.needed_by)}",
                    "edge__tip-line",
                )
                for d in group[:TIP_LINES]
            ]
            if len(group) > TIP_LINES:
                tip_text.append((f"and {len(group) - TIP_LINES} more", "edge__tip-line"))
            size = _text_box("tip", tip_text)
            # Below the label if it fits in the picture, else above it; never past its edge.
            top = box.bottom + 4
            if top + size.height > layout.height:
                top = max(0.0, box.y - 4 - size.height)
            left = max(0.0, min(box.x, layout.width - size.width))
            edge.tip = Placed("tip", box.layer, left, round(top, 1), size.width, size.height)
            edge.tip_lines = _box_lines(edge.tip, tip_text)
        edges.append(edge)
    # Grouped edges last: their lists, shown on hover and focus, then cover what is below.
    edges.sort(key=lambda e: e.grouped)
    return MapDrawing(nodes, edges, layout, table, len(edge_specs))
