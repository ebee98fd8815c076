"""Risk propagation and dependency loops over plain graphs, without a database."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.core.propagation import shortest_cycle, strongly_connected, upstream_risk
from lockstep.core.snapshot import Ref

relaxed = settings(deadline=None)


def n(i: int) -> Ref:
    return ("kr", i)


def graph(*edges: tuple[int, int]) -> dict[Ref, list[Ref]]:
    out: dict[Ref, list[Ref]] = {}
    for a, b in edges:
        out.setdefault(n(a), []).append(n(b))
    return out


def chains(edges: Sequence[tuple[int, int]], bad: Sequence[int]) -> dict[int, tuple[int, ...]]:
    got = upstream_risk(graph(*edges), {n(b): "bad" for b in bad})
    return {node[1]: tuple(ref[1] for ref in chain) for node, chain in got.items()}


# --- upstream_risk: hand-computed chains ---------------------------------------------------


@pytest.mark.parametrize(
    ("edges", "bad", "expected"),
    [
        pytest.param([], [1], {}, id="nothing-depends"),
        pytest.param([(1, 2)], [], {}, id="nothing-bad"),
        pytest.param([(1, 2)], [2], {1: (1, 2)}, id="direct"),
        # 1 -> 2 -> 3 -> 4, 4 bad: every node upstream gets the chain to 4.
        pytest.param(
            [(1, 2), (2, 3), (3, 4)],
            [4],
            {1: (1, 2, 3, 4), 2: (2, 3, 4), 3: (3, 4)},
            id="three-step-chain",
        ),
        # The shortest way wins: 1 -> 4 directly beats 1 -> 2 -> 3 -> 4.
        pytest.param(
            [(1, 2), (2, 3), (3, 4), (1, 4)],
            [4],
            {1: (1, 4), 2: (2, 3, 4), 3: (3, 4)},
            id="shortest",
        ),
        # The nearest bad node wins: 1 -> 2 (bad) -> 3 (bad).
        pytest.param([(1, 2), (2, 3)], [2, 3], {1: (1, 2), 2: (2, 3)}, id="bad-on-bad"),
        # Nobody depends on 5: 5 stays out although it is bad.
        pytest.param([(1, 2)], [2, 5], {1: (1, 2)}, id="bad-alone"),
        # A cycle with nothing bad: no chains, and it terminates.
        pytest.param([(1, 2), (2, 3), (3, 1)], [], {}, id="cycle-clean"),
        # A cycle feeding a bad node: 1 -> 2 -> 1, 2 -> 3 (bad).
        pytest.param([(1, 2), (2, 1), (2, 3)], [3], {1: (1, 2, 3), 2: (2, 3)}, id="cycle-out"),
        # A bad node on a cycle: 1 -> 2 -> 3 -> 1, 2 bad; 2 reaches itself through 3 and 1.
        pytest.param(
            [(1, 2), (2, 3), (3, 1)],
            [2],
            {1: (1, 2), 3: (3, 1, 2), 2: (2, 3, 1, 2)},
            id="bad-on-cycle",
        ),
        # A self-edge is not a dependency: 1 does not depend on itself.
        pytest.param([(1, 1)], [1], {}, id="self-edge"),
        # Ties go to the smaller ref: 1 -> 2 -> 9 and 1 -> 3 -> 9.
        pytest.param(
            [(1, 3), (1, 2), (2, 9), (3, 9)],
            [9],
            {1: (1, 2, 9), 2: (2, 9), 3: (3, 9)},
            id="tie",
        ),
    ],
)
def test_upstream_risk(
    edges: list[tuple[int, int]], bad: list[int], expected: dict[int, tuple[int, ...]]
) -> None:
    assert chains(edges, bad) == expected


def test_upstream_risk_on_mixed_refs() -> None:
    qc, ops, eng = ("kr", 3), ("kr", 2), ("kr", 1)
    d1, d2 = ("dependency", 11), ("dependency", 12)
    depends_on = {qc: [d1], d1: [ops], ops: [d2], d2: [eng]}
    got = upstream_risk(depends_on, {eng: "likely miss"})
    assert got[qc] == (qc, d1, ops, d2, eng)
    assert got[d2] == (d2, eng)
    assert eng not in got


# --- properties on random graphs -----------------------------------------------------------

nodes = st.integers(0, 11)
edge_lists = st.lists(st.tuples(nodes, nodes), max_size=40)
bad_sets = st.sets(nodes, max_size=5)


def distance_to_bad(edges: Sequence[tuple[int, int]], bad: set[int], start: int) -> int | None:
    """Brute force: the fewest edges (at least one) from `start` to a bad node."""
    succ: dict[int, set[int]] = {}
    for a, b in edges:
        if a != b:
            succ.setdefault(a, set()).add(b)
    seen = set()
    queue = deque((nxt, 1) for nxt in succ.get(start, ()))
    while queue:
        node, d = queue.popleft()
        if node in bad:
            return d
        if node in seen:
            continue
        seen.add(node)
        queue.extend((nxt, d + 1) for nxt in succ.get(node, ()))
    return None


@relaxed
@given(edges=edge_lists, bad=bad_sets)
def test_every_chain_is_a_real_shortest_path_to_a_bad_node(
    edges: list[tuple[int, int]], bad: set[int]
) -> None:
    got = chains(edges, sorted(bad))
    edge_set = set(edges)
    for node, chain in got.items():
        assert chain[0] == node
        assert chain[-1] in bad
        assert len(chain) >= 2
        assert all(step in edge_set for step in pairwise(chain))
        assert not any(x in bad for x in chain[1:-1])
    for node in range(12):
        d = distance_to_bad(edges, bad, node)
        assert (node in got) == (d is not None)
        if d is not None:
            assert len(got[node]) - 1 == d


@relaxed
@given(edges=edge_lists, bad=bad_sets, data=st.data())
def test_removing_an_edge_never_adds_a_node(
    edges: list[tuple[int, int]], bad: set[int], data: st.DataObject
) -> None:
    if not edges:
        return
    drop = data.draw(st.integers(0, len(edges) - 1))
    fewer = edges[:drop] + edges[drop + 1 :]
    assert set(chains(fewer, sorted(bad))) <= set(chains(edges, sorted(bad)))


# --- strongly_connected and shortest_cycle -------------------------------------------------


def components(g: Mapping[Ref, list[Ref]]) -> list[list[int]]:
    return sorted([ref[1] for ref in c] for c in strongly_connected(g))


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        pytest.param([(1, 2), (2, 3)], [], id="acyclic"),
        pytest.param([(1, 1)], [[1]], id="self-loop"),
        pytest.param([(1, 2), (2, 1), (2, 3)], [[1, 2]], id="two-cycle"),
        pytest.param(
            [(1, 2), (2, 1), (3, 4), (4, 5), (5, 3), (2, 3)], [[1, 2], [3, 4, 5]], id="two-knots"
        ),
        # Figure eight: two loops through 1 make one component.
        pytest.param([(1, 2), (2, 1), (1, 3), (3, 1)], [[1, 2, 3]], id="figure-eight"),
    ],
)
def test_strongly_connected(edges: list[tuple[int, int]], expected: list[list[int]]) -> None:
    assert components(graph(*edges)) == expected


def test_shortest_cycle_takes_the_short_way_round() -> None:
    g = graph((1, 2), (2, 3), (3, 1), (1, 4), (4, 1))
    within = {n(i) for i in range(1, 5)}
    assert shortest_cycle(g, n(1), within) == (n(1), n(4), n(1))
    assert shortest_cycle(g, n(2), within) == (n(2), n(3), n(1), n(2))
    assert shortest_cycle(g, n(1), {n(1), n(2), n(3)}) == (n(1), n(2), n(3), n(1))
    assert shortest_cycle(graph((1, 2)), n(1), {n(1), n(2)}) is None
    assert shortest_cycle(graph((1, 1)), n(1), {n(1)}) == (n(1), n(1))


@relaxed
@given(edges=edge_lists)
def test_every_component_node_lies_on_a_loop_within_it(edges: list[tuple[int, int]]) -> None:
    g = graph(*edges)
    seen: set[Ref] = set()
    for component in strongly_connected(g):
        assert not seen & set(component)
        seen |= set(component)
        for node in component:
            loop = shortest_cycle(g, node, set(component))
            assert loop is not None
            assert loop[0] == loop[-1] == node
            assert all(b in g[a] for a, b in pairwise(loop))
            assert set(loop) <= set(component)
