"""A layered (Sugiyama-style) layout: boxes in columns, every edge running left to right.

Plain data in (boxes with a size, directed edges between them), coordinates out. The steps
are the classic ones, each kept simple because the graphs drawn here are small (a map of
units holds tens of boxes, not thousands):

1. Break cycles: a depth-first walk in input order reverses each edge that closes a loop,
   so the rest can treat the graph as acyclic; a reversed edge is still drawn from its
   source to its target, only against the flow of the columns.
2. Layers by longest path: a box sits one column right of the furthest box that points to
   it; then a box with more edges out than in moves right, next to the nearest box it
   points to, so its edges get shorter.
3. Edges that skip columns get a point-sized stand-in in every column they cross, so no
   line runs through a box.
4. Order within columns: a few sweeps right and left, each sorting a column by the mean
   position of its neighbours in the column before (the barycentre heuristic), keeping the
   order with the fewest crossings seen.
5. Vertical positions: each box as close as possible to the mean height of its neighbours
   while keeping the order and the gaps; the least-squares answer to that is an isotonic
   regression (pool adjacent violators), exact and linear in the column's size.

Everything is deterministic: ties keep the input order, so the same graph always gets the
same picture.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """Something to place: an id and its size."""

    id: str
    width: float
    height: float


@dataclass(frozen=True)
class Placed:
    """A box where the layout put it: column (layer) and its top-left corner."""

    id: str
    layer: int
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class Route:
    """One edge as a line: from the side of its source box to the side of its target box.

    `reversed` says the edge closed a cycle, so it runs right to left.
    """

    source: str
    target: str
    points: tuple[Point, ...]
    reversed: bool


@dataclass(frozen=True)
class Layout:
    boxes: dict[str, Placed]
    routes: tuple[Route, ...]
    width: float
    height: float


# A stand-in's height: room between lines that cross the same column.
_STANDIN = 6.0


@dataclass
class _Node:
    id: str
    width: float
    height: float
    real: bool
    layer: int = 0
    order: int = 0
    cy: float = 0.0


def _acyclic(ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[bool]:
    """For each edge, whether it must be reversed to break a cycle (DFS back edges)."""
    out: dict[str, list[tuple[str, int]]] = {i: [] for i in ids}
    for n, (s, t) in enumerate(edges):
        out[s].append((t, n))
    flip = [False] * len(edges)
    state: dict[str, int] = {}  # 1 on the walk's path, 2 finished
    for root in ids:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            if i < len(out[node]):
                stack[-1] = (node, i + 1)
                nxt, n = out[node][i]
                if state.get(nxt) == 1:
                    flip[n] = True
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                stack.pop()
    return flip


def _layers(ids: Sequence[str], dag: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layers, with sources pulled right next to their nearest successor."""
    preds: dict[str, list[str]] = {i: [] for i in ids}
    succs: dict[str, list[str]] = {i: [] for i in ids}
    indegree = dict.fromkeys(ids, 0)
    for s, t in dag:
        preds[t].append(s)
        succs[s].append(t)
        indegree[t] += 1
    ready = [i for i in ids if indegree[i] == 0]
    topo: list[str] = []
    while ready:
        node = ready.pop(0)
        topo.append(node)
        for t in succs[node]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    layer: dict[str, int] = {}
    for node in topo:
        layer[node] = max((layer[p] + 1 for p in preds[node]), default=0)
    # Moving a box one column right shortens each edge out of it and lengthens each edge
    # into it; worth it while more leave than arrive (a source always qualifies).
    for node in reversed(topo):
        if succs[node] and len(succs[node]) > len(preds[node]):
            layer[node] = max(layer[node], min(layer[t] for t in succs[node]) - 1)
    return layer


def _crossings(upper: list[_Node], lower_of: dict[str, list[_Node]], width: int) -> int:
    """Crossings between two adjacent columns: pairs of edges whose ends swap order.

    Edges sorted by their upper end cross where their lower ends are out of order, so
    counting inversions (with a Fenwick tree) counts crossings in O(E log V).
    """
    ends = sorted((u.order, v.order) for u in upper for v in lower_of.get(u.id, []))
    tree = [0] * (width + 1)
    crossings = 0
    for seen, (_, lower) in enumerate(ends):
        i, at_most = lower + 1, 0
        while i > 0:  # edges seen so far whose lower end is at or before this one
            at_most += tree[i]
            i -= i & -i
        crossings += seen - at_most
        i = lower + 1
        while i <= width:
            tree[i] += 1
            i += i & -i
    return crossings


def _isotonic(targets: list[float]) -> list[float]:
    """The non-decreasing sequence closest to `targets` in least squares (PAVA)."""
    blocks: list[list[float]] = []  # [mean, count]
    for t in targets:
        blocks.append([t, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks[-1]
            blocks[-1] = [(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2]
    out: list[float] = []
    for mean, count in blocks:
        out.extend([mean] * int(count))
    return out


def _place_column(column: list[_Node], wanted: list[float], gap: float) -> None:
    """Centres as near `wanted` as the order and the gaps allow."""
    offsets = [0.0]
    for a, b in itertools.pairwise(column):
        offsets.append(offsets[-1] + (a.height + b.height) / 2 + gap)
    free = _isotonic([w - o for w, o in zip(wanted, offsets, strict=True)])
    for node, z, o in zip(column, free, offsets, strict=True):
        node.cy = z + o


def layered_layout(
    boxes: Sequence[Box],
    edges: Sequence[tuple[str, str]],
    *,
    layer_gap: float = 56.0,
    node_gap: float = 18.0,
    margin: float = 12.0,
    sweeps: int = 8,
) -> Layout:
    """Place `boxes` in columns so `edges` run left to right with few crossings."""
    ids = [b.id for b in boxes]
    if len(set(ids)) != len(ids):
        raise ValueError("box ids must be unique")
    known = set(ids)
    for s, t in edges:
        if s not in known or t not in known:
            raise ValueError(f"edge {s!r} → {t!r} names an unknown box")
        if s == t:
            raise ValueError(f"edge {s!r} → {t!r} is a loop on one box")

    flip = _acyclic(ids, edges)
    dag = [(t, s) if f else (s, t) for (s, t), f in zip(edges, flip, strict=True)]
    layer_of = _layers(ids, dag)

    nodes = {b.id: _Node(b.id, b.width, b.height, True, layer_of[b.id]) for b in boxes}
    # Each edge as a chain of nodes, one per column, left to right.
    chains: list[list[str]] = []
    for n, (s, t) in enumerate(dag):
        chain = [s]
        for layer in range(layer_of[s] + 1, layer_of[t]):
            standin = f"\x00{n}:{layer}"
            nodes[standin] = _Node(standin, 0.0, _STANDIN, False, layer)
            chain.append(standin)
        chain.append(t)
        chains.append(chain)

    depth = max((node.layer for node in nodes.values()), default=-1) + 1
    columns: list[list[_Node]] = [[] for _ in range(depth)]
    for node in nodes.values():  # input order first, stand-ins after: a stable start
        columns[node.layer].append(node)
    right_of: dict[str, list[_Node]] = {}
    left_of: dict[str, list[_Node]] = {}
    for chain in chains:
        for a, b in itertools.pairwise(chain):
            right_of.setdefault(a, []).append(nodes[b])
            left_of.setdefault(b, []).append(nodes[a])

    def renumber() -> None:
        for column in columns:
            for i, node in enumerate(column):
                node.order = i

    def total_crossings() -> int:
        return sum(_crossings(columns[i], right_of, len(columns[i + 1])) for i in range(depth - 1))

    def sort_by(column: list[_Node], neighbours: dict[str, list[_Node]]) -> None:
        def key(node: _Node) -> float:
            near = neighbours.get(node.id)
            return sum(m.order for m in near) / len(near) if near else node.order

        column.sort(key=key)
        for i, node in enumerate(column):
            node.order = i

    renumber()
    best = total_crossings()
    best_orders = [list(c) for c in columns]
    for _ in range(sweeps):
        if best == 0:
            break
        for i in range(1, depth):
            sort_by(columns[i], left_of)
        for i in range(depth - 2, -1, -1):
            sort_by(columns[i], right_of)
        now = total_crossings()
        if now < best:
            best, best_orders = now, [list(c) for c in columns]
    columns = best_orders
    renumber()

    # Vertical positions: stacked first, then pulled towards neighbours, right and left.
    for column in columns:
        _place_column(column, [0.0] * len(column), node_gap)
    for _ in range(4):
        for i in range(1, depth):
            _pull(columns[i], left_of, node_gap)
        for i in range(depth - 2, -1, -1):
            _pull(columns[i], right_of, node_gap)
    for i in range(1, depth):
        _pull(columns[i], left_of, node_gap)

    top = min((n.cy - n.height / 2 for n in nodes.values()), default=0.0)
    shift = margin - top
    widths = [max((n.width for n in column), default=0.0) for column in columns]
    lefts: list[float] = []
    x = margin
    for w in widths:
        lefts.append(x)
        x += w + layer_gap

    placed: dict[str, Placed] = {}
    spans: dict[str, tuple[float, float]] = {}
    for node in nodes.values():
        left, w = lefts[node.layer], widths[node.layer]
        if node.real:
            placed[node.id] = Placed(
                node.id,
                node.layer,
                round(left + (w - node.width) / 2, 1),
                round(node.cy + shift - node.height / 2, 1),
                node.width,
                node.height,
            )
            spans[node.id] = (placed[node.id].x, placed[node.id].right)
        else:
            spans[node.id] = (left, left + w)

    def centre_y(node_id: str) -> float:
        # A box's own (rounded) centre, so lines meet boxes exactly.
        box = placed.get(node_id)
        return box.cy if box is not None else round(nodes[node_id].cy + shift, 1)

    lines: list[list[Point]] = []
    for chain in chains:
        points: list[Point] = [(spans[chain[0]][1], centre_y(chain[0]))]
        for standin in chain[1:-1]:
            y = centre_y(standin)
            points += [(spans[standin][0], y), (spans[standin][1], y)]
        points.append((spans[chain[-1]][0], centre_y(chain[-1])))
        lines.append(points)
    _spread_ports(lines, chains, placed)
    routes = [
        Route(s, t, tuple(reversed(points)) if f else tuple(points), f)
        for (s, t), points, f in zip(edges, lines, flip, strict=True)
    ]

    width = (x - layer_gap + margin) if depth else 2 * margin
    height = max((p.bottom for p in placed.values()), default=0.0) + margin
    return Layout(placed, tuple(routes), round(width, 1), round(height, 1))


def _pull(column: list[_Node], neighbours: dict[str, list[_Node]], gap: float) -> None:
    """Move a column's boxes towards the mean height of their neighbours on one side."""
    wanted = []
    for node in column:
        near = neighbours.get(node.id)
        wanted.append(sum(m.cy for m in near) / len(near) if near else node.cy)
    _place_column(column, wanted, gap)


# Lines meeting one side of a box keep at least this far apart, within this share of it.
_PORT_GAP = 7.0
_PORT_SHARE = 0.8


def _spread_ports(
    lines: list[list[Point]], chains: list[list[str]], placed: dict[str, Placed]
) -> None:
    """Where several lines meet one side of a box, spread their ends along that side.

    Ends are ordered by where each line comes from, so lines leaving a box do not cross
    each other at its edge; with one line a side keeps its centre.
    """
    sides: dict[tuple[str, int], list[tuple[float, int, int]]] = {}
    for n, (points, chain) in enumerate(zip(lines, chains, strict=True)):
        # The first point is on the right side of chain[0], the last on the left of chain[-1].
        sides.setdefault((chain[0], 1), []).append((points[1][1], n, 0))
        sides.setdefault((chain[-1], 0), []).append((points[-2][1], n, len(points) - 1))
    for (box_id, _), ends in sides.items():
        if len(ends) < 2:
            continue
        box = placed[box_id]
        ends.sort()
        step = min(_PORT_GAP, box.height * _PORT_SHARE / (len(ends) - 1))
        for i, (_, n, at) in enumerate(ends):
            x, _ = lines[n][at]
            lines[n][at] = (x, round(box.cy + (i - (len(ends) - 1) / 2) * step, 1))
