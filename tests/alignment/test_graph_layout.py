"""The layered layout behind the dependency map: pure data, no database."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.alignment.graph_layout import Box, Layout, Placed, _crossings, _Node, layered_layout


def boxes(*ids: str, width: float = 80, height: float = 30) -> list[Box]:
    return [Box(i, width, height) for i in ids]


def overlap(a: Placed, b: Placed) -> bool:
    return a.x < b.right and b.x < a.right and a.y < b.bottom and b.y < a.bottom


def crossings(layout: Layout) -> int:
    """Segments of different routes that cross between the same two columns."""
    segments = []
    for n, r in enumerate(layout.routes):
        pts = r.points if not r.reversed else tuple(reversed(r.points))
        for (x1, y1), (x2, y2) in itertools.pairwise(pts):
            if x2 > x1 + 1e-6 and (x2 - x1) > 0:
                segments.append((n, round(x1), round(x2), y1, y2))
    out = 0
    for a, b in itertools.combinations(segments, 2):
        if a[0] != b[0] and a[1:3] == b[1:3] and (a[3] - b[3]) * (a[4] - b[4]) < 0:
            out += 1
    return out


def check(layout: Layout, given_boxes: list[Box], edges: list[tuple[str, str]]) -> None:
    """The properties every layout keeps."""
    placed = layout.boxes
    assert set(placed) == {b.id for b in given_boxes}
    for b in given_boxes:
        assert (placed[b.id].width, placed[b.id].height) == (b.width, b.height)
    for a, b in itertools.combinations(placed.values(), 2):
        assert not overlap(a, b), (a, b)
    for p in placed.values():
        assert p.x >= 0 and p.y >= 0
        assert p.right <= layout.width and p.bottom <= layout.height
    assert len(layout.routes) == len(edges)
    for (s, t), r in zip(edges, layout.routes, strict=True):
        assert (r.source, r.target) == (s, t)
        src, dst = placed[s], placed[t]
        (x0, y0), (x1, y1) = r.points[0], r.points[-1]
        # Lines end on a box's side, within its height.
        assert src.y < y0 < src.bottom and dst.y < y1 < dst.bottom
        xs = [x for x, _ in r.points]
        if r.reversed:
            assert src.layer > dst.layer
            # Right to left: leaves the source's left side, reaches the target's right side.
            assert (x0, x1) == (src.x, dst.right)
            assert xs == sorted(xs, reverse=True)
        else:
            assert src.layer < dst.layer
            assert (x0, x1) == (src.right, dst.x)
            assert xs == sorted(xs)
        # A line crossing a column in between passes no box there.
        for (x1, y1), (x2, y2) in itertools.pairwise(r.points):
            if y1 == y2 and x1 != x2:
                lo, hi = sorted((x1, x2))
                for p in placed.values():
                    if p.x >= lo - 0.1 and p.right <= hi + 0.1:
                        assert not (p.y < y1 < p.bottom), (r, p)


def test_a_chain_sits_on_one_line_in_consecutive_columns():
    given_boxes = boxes("a", "b", "c", "d")
    edges = [("a", "b"), ("b", "c"), ("c", "d")]
    layout = layered_layout(given_boxes, edges)
    check(layout, given_boxes, edges)
    assert [layout.boxes[i].layer for i in "abcd"] == [0, 1, 2, 3]
    assert len({layout.boxes[i].cy for i in "abcd"}) == 1
    assert not any(r.reversed for r in layout.routes)
    assert all(len(r.points) == 2 for r in layout.routes)


def test_lines_meeting_one_side_of_a_box_are_spread_along_it_without_crossing():
    given_boxes = boxes("hub", "a", "b", "c", height=40)
    edges = [("hub", "a"), ("hub", "b"), ("hub", "c")]
    layout = layered_layout(given_boxes, edges)
    check(layout, given_boxes, edges)
    hub = layout.boxes["hub"]
    starts = [r.points[0][1] for r in layout.routes]
    ends = [layout.boxes[t].cy for t in "abc"]
    assert len(set(starts)) == 3
    # The order of the ends on the hub follows the order of the boxes they go to.
    assert sorted(range(3), key=starts.__getitem__) == sorted(range(3), key=ends.__getitem__)
    assert abs(sum(starts) / 3 - hub.cy) < 0.2
    # One line on a side keeps the side's centre.
    assert [r.points[-1][1] for r in layout.routes] == ends


def test_columns_are_as_wide_as_their_widest_box_and_boxes_are_centred_in_them():
    given_boxes = [Box("a", 100, 30), Box("b", 40, 30), Box("c", 160, 20)]
    edges = [("a", "b"), ("a", "c")]
    layout = layered_layout(given_boxes, edges, layer_gap=50, margin=10)
    check(layout, given_boxes, edges)
    a, b, c = (layout.boxes[i] for i in "abc")
    assert a.x == 10 and b.layer == c.layer == 1
    assert c.x == 10 + 100 + 50 and b.cx == c.cx
    assert layout.width == 10 + 100 + 50 + 160 + 10


def test_a_long_edge_goes_round_the_boxes_in_between():
    # a → b → c → d and a → d: the long edge crosses the columns of b and c.
    given_boxes = boxes("a", "b", "c", "d")
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]
    layout = layered_layout(given_boxes, edges)
    check(layout, given_boxes, edges)
    long = layout.routes[3]
    assert len(long.points) == 2 + 2 * 2  # in and out of each of the two columns between


def test_a_cycle_is_broken_by_reversing_one_edge():
    given_boxes = boxes("a", "b", "c")
    edges = [("a", "b"), ("b", "c"), ("c", "a")]
    layout = layered_layout(given_boxes, edges)
    check(layout, given_boxes, edges)
    assert [r.reversed for r in layout.routes] == [False, False, True]


def test_two_way_edges_between_a_pair():
    given_boxes = boxes("a", "b")
    edges = [("a", "b"), ("b", "a")]
    layout = layered_layout(given_boxes, edges)
    check(layout, given_boxes, edges)
    assert [r.reversed for r in layout.routes] == [False, True]


def test_sweeps_remove_the_crossing_an_unlucky_input_order_makes():
    # a→d and b→c would cross if the second column kept its input order c, d.
    given_boxes = boxes("a", "b", "c", "d")
    edges = [("a", "d"), ("b", "c")]
    layout = layered_layout(given_boxes, edges)
    check(layout, given_boxes, edges)
    assert crossings(layout) == 0
    assert layout.boxes["d"].cy < layout.boxes["c"].cy


def test_a_source_moves_next_to_what_it_points_to():
    # x only feeds d, which sits three columns right: x should not wait in the first column.
    given_boxes = boxes("a", "b", "c", "d", "x")
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("x", "d")]
    layout = layered_layout(given_boxes, edges)
    check(layout, given_boxes, edges)
    assert layout.boxes["x"].layer == layout.boxes["d"].layer - 1


def test_boxes_without_edges_and_an_empty_graph():
    layout = layered_layout(boxes("a", "b"), [])
    check(layout, boxes("a", "b"), [])
    assert {p.layer for p in layout.boxes.values()} == {0}
    empty = layered_layout([], [])
    assert empty.boxes == {} and empty.routes == ()
    assert empty.width > 0 and empty.height > 0


@pytest.mark.parametrize(
    "given_boxes, edges, problem",
    [
        (boxes("a", "a"), [], "unique"),
        (boxes("a"), [("a", "z")], "unknown"),
        (boxes("a"), [("a", "a")], "loop"),
    ],
)
def test_bad_input_is_refused(given_boxes, edges, problem):
    with pytest.raises(ValueError, match=problem):
        layered_layout(given_boxes, edges)


@st.composite
def graphs(draw):
    n = draw(st.integers(min_value=1, max_value=14))
    ids = [f"n{i}" for i in range(n)]
    sizes = st.tuples(st.integers(20, 220), st.integers(16, 70))
    given_boxes = [
        Box(i, float(w), float(h))
        for i, (w, h) in zip(ids, draw(st.lists(sizes, min_size=n, max_size=n)), strict=True)
    ]
    pairs = [(a, b) for a in ids for b in ids if a != b]
    edges = draw(st.lists(st.sampled_from(pairs), max_size=30)) if pairs else []
    return given_boxes, edges


def has_cycle(ids: list[str], edges: list[tuple[str, str]]) -> bool:
    succ = {i: [t for s, t in edges if s == i] for i in ids}
    seen: dict[str, int] = {}

    def visit(i: str) -> bool:
        seen[i] = 1
        for t in succ[i]:
            if seen.get(t) == 1 or (t not in seen and visit(t)):
                return True
        seen[i] = 2
        return False

    return any(i not in seen and visit(i) for i in ids)


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_every_layout_keeps_its_properties(graph):
    given_boxes, edges = graph
    layout = layered_layout(given_boxes, edges)
    check(layout, given_boxes, edges)
    # Edges are reversed only to break cycles: an acyclic graph keeps every direction.
    if not has_cycle([b.id for b in given_boxes], edges):
        assert not any(r.reversed for r in layout.routes)
    # Reversing the flagged edges leaves an acyclic graph.
    fixed = [
        (t, s) if r.reversed else (s, t) for (s, t), r in zip(edges, layout.routes, strict=True)
    ]
    assert not has_cycle([b.id for b in given_boxes], fixed)


@settings(max_examples=40, deadline=None)
@given(graphs())
def test_the_same_graph_always_gets_the_same_picture(graph):
    given_boxes, edges = graph
    assert layered_layout(given_boxes, edges) == layered_layout(list(given_boxes), list(edges))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=25),
)
def test_crossings_are_counted_as_every_pair_of_edges_would_say(upper_n, lower_n, pairs):
    upper = [_Node(f"u{i}", 1, 1, True, 0, i) for i in range(upper_n)]
    lower = [_Node(f"l{i}", 1, 1, True, 1, i) for i in range(lower_n)]
    edges = [(a % upper_n, b % lower_n) for a, b in pairs]
    lower_of: dict[str, list[_Node]] = {}
    for a, b in edges:
        lower_of.setdefault(f"u{a}", []).append(lower[b])
    brute = sum(
        1 for (a1, b1), (a2, b2) in itertools.combinations(edges, 2) if (a1 - a2) * (b1 - b2) < 0
    )
    assert _crossings(upper, lower_of, lower_n) == brute
