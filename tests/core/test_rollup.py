"""Objective roll-up through contribution links, cycles and unit shares, without a database."""

from __future__ import annotations

import signal
from collections.abc import Hashable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from itertools import pairwise
from types import FrameType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.core.progress import Status, combined_status
from lockstep.core.rollup import (
    ContributionCycleError,
    KRScore,
    Link,
    ObjectiveScore,
    find_cycle,
    roll_up,
    unit_shares,
    would_create_cycle,
)

ON, RISK, OFF, DONE, NS = (
    Status.ON_TRACK,
    Status.AT_RISK,
    Status.OFF_TRACK,
    Status.DONE,
    Status.NOT_STARTED,
)
relaxed = settings(deadline=None)


def kr(objective: str, weight: float, progress: float, status: Status = ON) -> KRScore:
    return KRScore(objective=objective, weight=weight, progress=progress, status=status)


def assert_closed_path_along(
    path: Sequence[Hashable], edges: AbstractSet[tuple[Hashable, Hashable]]
) -> None:
    """`path` is a cycle: it ends where it starts, follows edges, and repeats no node."""
    assert len(path) >= 2
    assert path[0] == path[-1]
    assert len(set(path[:-1])) == len(path) - 1
    for step in pairwise(path):
        assert step in edges


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail instead of hanging if the block runs longer than `seconds`."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- roll_up: hand-computed graphs -------------------------------------------------------

# C (company) <- P (product) <- T (team)
#             <- M (marketing) <- T      T feeds both P and M: a diamond
#                              <- S (support team)
DIAMOND_KRS = [
    kr("T", 1, 0.2, ON),
    kr("T", 3, 0.6, RISK),
    kr("P", 1, 1.0, DONE),
    kr("S", 1, 0.2, OFF),
    kr("C", 2, 0.0, NS),
]
DIAMOND_LINKS = [
    Link("T", "P", 1),
    Link("T", "M", 2),
    Link("S", "M", 1),
    Link("P", "C", 1),
    Link("M", "C", 3),
]


@pytest.fixture
def diamond() -> dict[Hashable, ObjectiveScore]:
    return roll_up(["C"], DIAMOND_KRS, DIAMOND_LINKS)


@pytest.mark.parametrize(
    ("objective", "progress"),
    [
        # T = (1*0.2 + 3*0.6) / (1+3) = 2.0 / 4 = 0.5
        pytest.param("T", 0.5, id="team-kr-weights"),
        # S = 1*0.2 / 1 = 0.2
        pytest.param("S", 0.2, id="support-single-kr"),
        # P = (1*1.0 [own KR] + 1*0.5 [T]) / (1+1) = 0.75
        pytest.param("P", 0.75, id="product-own-kr-and-child"),
        # M = (2*0.5 [T] + 1*0.2 [S]) / (2+1) = 1.2 / 3 = 0.4
        pytest.param("M", 0.4, id="marketing-link-weights"),
        # C = (2*0.0 [own KR] + 1*0.75 [P] + 3*0.4 [M]) / (2+1+3) = 1.95 / 6 = 0.325
        pytest.param("C", 0.325, id="company-three-levels"),
    ],
)
def test_roll_up_progress_on_a_diamond(
    diamond: dict[Hashable, ObjectiveScore], objective: str, progress: float
) -> None:
    assert diamond[objective].progress == pytest.approx(progress)


@pytest.mark.parametrize(
    ("objective", "status"),
    [
        # T: on_track and at_risk KRs -> at_risk
        pytest.param("T", RISK, id="team-worst-kr"),
        # P: own KR done (set aside), child T at_risk -> at_risk
        pytest.param("P", RISK, id="product-child-status"),
        # M: T at_risk, S off_track -> off_track
        pytest.param("M", OFF, id="marketing-worst-child"),
        # C: own KR not_started (aside), P at_risk, M off_track -> off_track
        pytest.param("C", OFF, id="company-worst-through-two-levels"),
    ],
)
def test_roll_up_status_on_a_diamond(
    diamond: dict[Hashable, ObjectiveScore], objective: str, status: Status
) -> None:
    assert diamond[objective].status is status


def test_roll_up_scores_every_objective_reached_through_links(
    diamond: dict[Hashable, ObjectiveScore],
) -> None:
    assert set(diamond) == {"C", "P", "M", "T", "S"}


def test_roll_up_gives_the_same_scores_whichever_objectives_are_asked_for(
    diamond: dict[Hashable, ObjectiveScore],
) -> None:
    asked_bottom_up = roll_up(["S", "T", "M", "P", "C"], DIAMOND_KRS, DIAMOND_LINKS)
    assert asked_bottom_up == diamond


def test_roll_up_leaves_out_objectives_not_reached() -> None:
    result = roll_up(["A"], [kr("A", 1, 0.5), kr("B", 1, 0.9)], [])
    assert set(result) == {"A"}


def test_a_child_feeding_two_parents_counts_fully_in_each() -> None:
    # X = 0.5 with weight 1 in A and weight 3 in B; nothing else feeds A or B, so each
    # parent is 0.5 (a split child would give 0.25 and 0.375).
    result = roll_up(["A", "B"], [kr("X", 1, 0.5)], [Link("X", "A", 1), Link("X", "B", 3)])
    assert result["A"].progress == pytest.approx(0.5)
    assert result["B"].progress == pytest.approx(0.5)


def test_a_shared_child_weighs_the_same_as_an_own_kr() -> None:
    # A = (1*1.0 [own KR] + 1*0.0 [X, who also feeds B]) / 2 = 0.5
    result = roll_up(
        ["A", "B"],
        [kr("A", 1, 1.0), kr("X", 1, 0.0)],
        [Link("X", "A", 1), Link("X", "B", 1)],
    )
    assert result["A"].progress == pytest.approx(0.5)
    assert result["B"].progress == pytest.approx(0.0)


def test_an_objective_with_no_krs_and_no_children_has_progress_0() -> None:
    assert roll_up(["E"], [], []) == {"E": ObjectiveScore(progress=0.0, status=NS)}


def test_a_finished_kr_raises_its_objective_and_the_parents() -> None:
    links = [Link("A", "B", 1)]
    before = roll_up(["B"], [kr("A", 1, 0.5), kr("B", 1, 0.0)], links)
    after = roll_up(["B"], [kr("A", 1, 0.5), kr("A", 1, 1.0), kr("B", 1, 0.0)], links)
    # A: 0.5 -> (0.5 + 1.0) / 2 = 0.75;  B: (0.0 + 0.5) / 2 = 0.25 -> (0.0 + 0.75) / 2 = 0.375
    assert (before["A"].progress, after["A"].progress) == pytest.approx((0.5, 0.75))
    assert (before["B"].progress, after["B"].progress) == pytest.approx((0.25, 0.375))


def test_an_empty_child_counts_as_0_in_its_parent() -> None:
    # A = (1*1.0 [own KR] + 1*0.0 [empty child E]) / 2 = 0.5
    result = roll_up(["A"], [kr("A", 1, 1.0)], [Link("E", "A", 1)])
    assert result["A"].progress == pytest.approx(0.5)
    assert result["E"] == ObjectiveScore(progress=0.0, status=NS)


@pytest.mark.parametrize(
    ("leaf", "middle", "top", "expected"),
    [
        pytest.param(OFF, ON, DONE, OFF, id="off-track-leaf-two-levels-down"),
        pytest.param(RISK, ON, ON, RISK, id="at-risk-leaf"),
        pytest.param(ON, RISK, ON, RISK, id="middle-worse-than-leaf"),
        pytest.param(DONE, DONE, DONE, DONE, id="all-done"),
        pytest.param(NS, NS, NS, NS, id="nothing-begun"),
        pytest.param(DONE, NS, NS, ON, id="done-below-not-started"),
    ],
)
def test_status_propagates_the_worst_child_status(
    leaf: Status, middle: Status, top: Status, expected: Status
) -> None:
    result = roll_up(
        ["top"],
        [kr("leaf", 1, 0.5, leaf), kr("middle", 1, 0.5, middle), kr("top", 1, 0.5, top)],
        [Link("leaf", "middle"), Link("middle", "top")],
    )
    assert result["top"].status is expected


def test_roll_up_follows_a_chain_deeper_than_the_recursion_limit() -> None:
    depth = 5000
    result = roll_up(
        [depth - 1], [KRScore(0, 1, 0.25, RISK)], [Link(i, i + 1) for i in range(depth - 1)]
    )
    assert result[depth - 1] == ObjectiveScore(progress=0.25, status=RISK)
    assert len(result) == depth


def test_roll_up_scores_each_objective_once_on_a_lattice() -> None:
    # 40 levels of two objectives, each feeding both objectives of the level above: 2**40
    # paths from top to bottom, so only a walk that scores each objective once finishes.
    levels = 40
    links = [
        Link((level, a), (level + 1, b)) for level in range(levels) for a in (0, 1) for b in (0, 1)
    ]
    krs = [KRScore((0, 0), 1, 0.2, ON), KRScore((0, 1), 1, 0.6, RISK)]
    with within(5):
        result = roll_up([(levels, 0)], krs, links)
    # Level 0 averages to 0.4 and every level above is the mean of two copies of it.
    assert result[(levels, 0)].progress == pytest.approx(0.4)
    assert result[(levels, 0)].status is RISK
    assert len(result) == 2 * (levels + 1) - 1


# --- cycles ------------------------------------------------------------------------------

CYCLE_ABC = [Link("a", "b"), Link("b", "c"), Link("c", "a")]  # a feeds b feeds c feeds a


@pytest.mark.parametrize(
    ("objectives", "links", "path"),
    [
        pytest.param(["a"], CYCLE_ABC, ["a", "b", "c", "a"], id="three-from-a"),
        pytest.param(["b"], CYCLE_ABC, ["b", "c", "a", "b"], id="three-from-b"),
        # r sits above the cycle and is not part of it.
        pytest.param(["r"], [Link("a", "r"), *CYCLE_ABC], ["a", "b", "c", "a"], id="below-root"),
        pytest.param(["x"], [Link("x", "x")], ["x", "x"], id="self-link"),
        pytest.param(["x"], [Link("x", "y"), Link("y", "x")], ["x", "y", "x"], id="two-nodes"),
    ],
)
def test_roll_up_refuses_a_cycle_with_its_path(
    objectives: list[str], links: list[Link], path: list[str]
) -> None:
    with within(5), pytest.raises(ContributionCycleError) as err:
        roll_up(objectives, [], links)
    assert err.value.path == path
    assert " -> ".join(path) in str(err.value)


def test_cycle_paths_run_the_same_way_in_roll_up_and_find_cycle() -> None:
    with within(5), pytest.raises(ContributionCycleError) as err:
        roll_up(["a"], [], CYCLE_ABC)
    assert err.value.path == find_cycle((link.child, link.parent) for link in CYCLE_ABC)


def test_contribution_cycle_error_is_a_value_error() -> None:
    assert isinstance(ContributionCycleError(["a", "a"]), ValueError)


DAG_EDGES = [("t", "p"), ("t", "m"), ("p", "c"), ("m", "c"), ("s", "m")]


@pytest.mark.parametrize(
    "edges",
    [
        pytest.param([], id="empty"),
        pytest.param([("a", "b")], id="one-link"),
        pytest.param([("a", "b"), ("b", "c"), ("c", "d")], id="chain"),
        pytest.param(DAG_EDGES, id="diamond"),
        pytest.param([("a", "b"), ("a", "b")], id="repeated-link"),
    ],
)
def test_find_cycle_finds_none_in_a_dag(edges: list[tuple[str, str]]) -> None:
    assert find_cycle(edges) is None


@pytest.mark.parametrize(
    ("edges", "path"),
    [
        pytest.param([("a", "a")], ["a", "a"], id="self-loop"),
        pytest.param([("a", "b"), ("b", "a")], ["a", "b", "a"], id="two-nodes"),
        pytest.param([("a", "b"), ("b", "c"), ("c", "a")], ["a", "b", "c", "a"], id="three"),
        pytest.param(
            [("x", "a"), ("a", "b"), ("b", "c"), ("c", "a")], ["a", "b", "c", "a"], id="tail"
        ),
        pytest.param(
            [*DAG_EDGES, ("q", "r"), ("r", "q")], ["q", "r", "q"], id="separate-component"
        ),
        pytest.param([*DAG_EDGES, ("c", "t")], ["t", "p", "c", "t"], id="closing-the-diamond"),
    ],
)
def test_find_cycle_returns_the_closed_path(edges: list[tuple[str, str]], path: list[str]) -> None:
    found = find_cycle(edges)
    assert found == path
    assert_closed_path_along(found, set(edges))


@pytest.mark.parametrize(
    ("child", "parent", "closes"),
    [
        pytest.param("c", "t", True, id="top-back-to-bottom"),
        pytest.param("m", "t", True, id="middle-back-to-bottom"),
        pytest.param("c", "c", True, id="self"),
        pytest.param("t", "c", False, id="shortcut-down-to-up"),
        pytest.param("s", "p", False, id="sideways"),
        pytest.param("c", "new", False, id="new-parent"),
    ],
)
def test_would_create_cycle(child: str, parent: str, closes: bool) -> None:
    cycle = would_create_cycle(DAG_EDGES, child, parent)
    if not closes:
        assert cycle is None
        return
    assert cycle is not None
    edges = {*DAG_EDGES, (child, parent)}
    assert_closed_path_along(cycle, edges)
    # The existing links are acyclic, so any cycle must use the new link.
    assert (child, parent) in set(pairwise(cycle))


def test_would_create_cycle_names_the_nodes_in_contribution_order() -> None:
    # c feeds t, t feeds p, p feeds c: the message reads the way the links flow.
    cycle = would_create_cycle([("t", "p"), ("p", "c")], "c", "t")
    assert cycle == ["t", "p", "c", "t"]


# --- unit_shares -------------------------------------------------------------------------


def test_unit_shares_count_a_jointly_owned_kr_for_every_owner() -> None:
    krs = [
        KRScore("O", 1, 0.8, ON, frozenset({"P"})),
        KRScore("O", 2, 0.5, ON, frozenset({"P", "M"})),  # jointly owned
        KRScore("O", 1, 0.0, ON, frozenset({"M"})),
        KRScore("O", 5, 1.0, DONE, frozenset()),  # no owner unit: nobody's share
    ]
    shares = unit_shares(krs)
    assert set(shares) == {"P", "M"}
    # P = (1*0.8 + 2*0.5) / (1+2) = 1.8 / 3 = 0.6
    assert shares["P"] == pytest.approx(0.6)
    # M = (2*0.5 + 1*0.0) / (2+1) = 1.0 / 3
    assert shares["M"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("krs", "expected"),
    [
        pytest.param([], {}, id="no-krs"),
        pytest.param([KRScore("O", 1, 0.3, ON)], {}, id="no-owners"),
        pytest.param([KRScore("O", 2, 0.3, ON, frozenset({"U"}))], {"U": 0.3}, id="single"),
        pytest.param(
            [KRScore("O", 1, 0.2, ON, frozenset({"U", "V", "W"}))],
            {"U": 0.2, "V": 0.2, "W": 0.2},
            id="three-co-owners",
        ),
    ],
)
def test_unit_shares(krs: list[KRScore], expected: dict[str, float]) -> None:
    assert unit_shares(krs) == pytest.approx(expected)


# --- properties --------------------------------------------------------------------------

progress_values = st.floats(min_value=0.0, max_value=1.0)
# Stored weights are positive numbers a person types; this range keeps the sums finite.
weights = st.floats(min_value=1e-6, max_value=1e6)
statuses = st.sampled_from(Status)


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[int], list[KRScore], list[Link]]:
    """Objectives 0..n-1 where links only go from a lower to a higher number: no cycle."""
    n = draw(st.integers(min_value=1, max_value=8))
    pairs = [(c, p) for p in range(n) for c in range(p)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    links = [Link(c, p, draw(weights)) for c, p in chosen]
    krs = draw(
        st.lists(
            st.builds(
                KRScore,
                objective=st.integers(min_value=0, max_value=n - 1),
                weight=weights,
                progress=progress_values,
                status=statuses,
            ),
            max_size=12,
        )
    )
    return list(range(n)), krs, links


def reference_roll_up(
    objectives: list[int], krs: list[KRScore], links: list[Link]
) -> dict[Hashable, tuple[float, Status]]:
    """The definition in PRODUCT.md section 4, written out recursively on a small DAG."""
    memo: dict[Hashable, tuple[float, Status]] = {}

    def of(obj: Hashable) -> tuple[float, Status]:
        if obj not in memo:
            parts = [(k.weight, k.progress, k.status) for k in krs if k.objective == obj]
            parts += [(lk.weight, *of(lk.child)) for lk in links if lk.parent == obj]
            total = sum(w for w, _, _ in parts)
            mean = sum(w * p for w, p, _ in parts) / total if total else 0.0
            memo[obj] = (mean, combined_status(s for _, _, s in parts))
        return memo[obj]

    return {o: of(o) for o in objectives}


@relaxed
@given(dags())
def test_roll_up_matches_the_definition(dag: tuple[list[int], list[KRScore], list[Link]]) -> None:
    objectives, krs, links = dag
    result = roll_up(objectives, krs, links)
    for obj, (progress, status) in reference_roll_up(objectives, krs, links).items():
        assert result[obj].progress == pytest.approx(progress)
        assert result[obj].status is status


@relaxed
@given(dags())
def test_roll_up_progress_is_within_0_and_1(
    dag: tuple[list[int], list[KRScore], list[Link]],
) -> None:
    objectives, krs, links = dag
    result = roll_up(objectives, krs, links)
    assert set(objectives) <= set(result)
    assert all(0.0 <= score.progress <= 1.0 for score in result.values())


@relaxed
@given(
    p=progress_values,
    children=st.lists(
        st.tuples(weights, st.lists(weights, min_size=1, max_size=4)), min_size=1, max_size=8
    ),
    own_weights=st.lists(weights, max_size=4),
)
def test_roll_up_of_equal_children_is_their_progress(
    p: float, children: list[tuple[float, list[float]]], own_weights: list[float]
) -> None:
    # Every child reaches progress p through KRs of different weights, and the parent's
    # own KRs are at p too: any weighted mean of equal values is that value.
    krs = [KRScore("parent", w, p, ON) for w in own_weights]
    links = []
    for i, (link_weight, kr_weights) in enumerate(children):
        krs += [KRScore(("child", i), w, p, ON) for w in kr_weights]
        links.append(Link(("child", i), "parent", link_weight))
    result = roll_up(["parent"], krs, links)
    assert result["parent"].progress == pytest.approx(p, abs=1e-12)


@relaxed
@given(dag=dags(), data=st.data())
def test_adding_a_finished_kr_never_lowers_any_progress(
    dag: tuple[list[int], list[KRScore], list[Link]], data: st.DataObject
) -> None:
    objectives, krs, links = dag
    target = data.draw(st.sampled_from(objectives))
    finished = KRScore(target, data.draw(weights), 1.0, DONE)
    before = roll_up(objectives, krs, links)
    after = roll_up(objectives, [*krs, finished], links)
    for obj in objectives:
        assert after[obj].progress >= before[obj].progress - 1e-12


@relaxed
@given(
    st.lists(
        st.tuples(weights, progress_values, st.frozensets(st.sampled_from("PMS"))), max_size=10
    )
)
def test_a_unit_owning_every_kr_has_the_objectives_own_progress(
    rows: list[tuple[float, float, frozenset[str]]],
) -> None:
    # Unit "all" co-owns every KR; the others own a random subset each.
    krs = [KRScore("O", w, p, ON, owners | {"all"}) for w, p, owners in rows]
    shares = unit_shares(krs)
    assert set(shares) == set().union(*(k.owner_units for k in krs))
    if krs:
        assert shares["all"] == pytest.approx(roll_up(["O"], krs, [])["O"].progress)
    assert all(0.0 <= share <= 1.0 for share in shares.values())


@st.composite
def graphs_with_a_cycle(draw: st.DrawFn) -> tuple[list[int], list[Link]]:
    """Random links among n objectives plus one cycle drawn through some of them."""
    n = draw(st.integers(min_value=1, max_value=10))
    nodes = st.integers(min_value=0, max_value=n - 1)
    noise = draw(st.lists(st.tuples(nodes, nodes), max_size=20))
    loop = draw(st.lists(nodes, min_size=1, max_size=n, unique=True))
    closing = list(zip(loop, [*loop[1:], loop[0]], strict=True))
    links = [Link(c, p) for c, p in draw(st.permutations([*noise, *closing]))]
    return list(range(n)), links


@relaxed
@given(graphs_with_a_cycle())
def test_roll_up_stops_on_any_cycle_and_names_a_real_one(
    graph: tuple[list[int], list[Link]],
) -> None:
    objectives, links = graph
    edges = {(link.child, link.parent) for link in links}
    with within(5), pytest.raises(ContributionCycleError) as err:
        roll_up(objectives, [], links)
    assert_closed_path_along(err.value.path, edges)
    found = find_cycle(edges)
    assert found is not None
    assert_closed_path_along(found, edges)


@relaxed
@given(dags())
def test_find_cycle_and_roll_up_agree_on_dags(
    dag: tuple[list[int], list[KRScore], list[Link]],
) -> None:
    objectives, krs, links = dag
    assert find_cycle((link.child, link.parent) for link in links) is None
    with within(5):
        roll_up(objectives, krs, links)
