"""Objective roll-up: progress and status through many-to-many contribution links.

An objective's progress is the weighted mean of its own KRs' progress (KR weights) and of
the progress of the objectives that contribute to it (link weights). Links form a DAG of
any depth in which a child may feed several parents; each objective is computed once
(memoised depth-first walk), so the cost grows with objectives + KRs + links. A cycle in
the links is refused with the path that closes it rather than looping forever.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from lockstep.core.progress import Status, combined_status

Key = Hashable
# A node of the graph find_cycle walks: any hashable, and the path it returns holds the same.
K = TypeVar("K", bound=Hashable)


class ContributionCycleError(ValueError):
    """The contribution links loop back on themselves."""

    def __init__(self, path: list[Key]) -> None:
        self.path = path
        super().__init__("contribution links form a cycle: " + " -> ".join(map(str, path)))


@dataclass(frozen=True)
class KRScore:
    """What the roll-up needs of one key result."""

    objective: Key
    weight: float
    progress: float
    status: Status
    owner_units: frozenset[Key] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Link:
    """`child` contributes to `parent` with `weight`."""

    child: Key
    parent: Key
    weight: float = 1.0


@dataclass(frozen=True)
class ObjectiveScore:
    progress: float
    status: Status


def find_cycle(edges: Iterable[tuple[K, K]]) -> list[K] | None:
    """Return one cycle in a directed graph as a closed path, or None if it has none."""
    graph: dict[K, list[K]] = defaultdict(list)
    nodes: list[K] = []
    for a, b in edges:
        graph[a].append(b)
        nodes.extend((a, b))
    state: dict[K, int] = {}  # 1 = on the current path, 2 = finished
    for root in nodes:
        if state.get(root):
            continue
        path: list[K] = [root]
        stack = [iter(graph[root])]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                state[path.pop()] = 2
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(graph[nxt]))
    return None


def would_create_cycle(links: Iterable[tuple[K, K]], child: K, parent: K) -> list[K] | None:
    """The cycle that adding the link child -> parent would close, or None."""
    return find_cycle([*links, (child, parent)])


def roll_up(
    objectives: Iterable[Key], krs: Iterable[KRScore], links: Iterable[Link]
) -> dict[Key, ObjectiveScore]:
    """Progress and status of every objective, children included, through the links."""
    own: dict[Key, list[KRScore]] = defaultdict(list)
    for kr in krs:
        own[kr.objective].append(kr)
    children: dict[Key, list[Link]] = defaultdict(list)
    for link in links:
        children[link.parent].append(link)

    result: dict[Key, ObjectiveScore] = {}

    def score(obj: Key) -> ObjectiveScore:
        total = weighted = 0.0
        statuses: list[Status] = []
        for kr in own.get(obj, ()):
            total += kr.weight
            weighted += kr.weight * kr.progress
            statuses.append(kr.status)
        for link in children.get(obj, ()):
            child = result[link.child]
            total += link.weight
            weighted += link.weight * child.progress
            statuses.append(child.status)
        return ObjectiveScore(
            progress=weighted / total if total > 0 else 0.0, status=combined_status(statuses)
        )

    # An explicit stack rather than recursion, so a deep chain of links cannot exhaust
    # Python's recursion limit; an objective is scored once all its children are.
    for root in objectives:
        if root in result:
            continue
        path: list[Key] = [root]
        on_path = {root}
        stack = [iter(children.get(root, ()))]
        while stack:
            edge = next(stack[-1], None)
            if edge is None:
                stack.pop()
                obj = path.pop()
                on_path.discard(obj)
                result[obj] = score(obj)
                continue
            child = edge.child
            if child in result:
                continue
            if child in on_path:
                # The path runs parent -> child; report it the way contributions flow
                # (child -> parent), as find_cycle and would_create_cycle do.
                loop = [*path[path.index(child) :], child]
                raise ContributionCycleError(loop[::-1])
            path.append(child)
            on_path.add(child)
            stack.append(iter(children.get(child, ())))
    return result


def unit_shares(krs: Iterable[KRScore]) -> dict[Key, float]:
    """Each unit's share of one (shared) objective: the weighted mean of the KRs it owns.

    A jointly owned KR counts for its accountable unit and for each co-owner unit.
    """
    total: dict[Key, float] = defaultdict(float)
    weighted: dict[Key, float] = defaultdict(float)
    for kr in krs:
        for unit in kr.owner_units:
            total[unit] += kr.weight
            weighted[unit] += kr.weight * kr.progress
    return {u: (weighted[u] / total[u] if total[u] > 0 else 0.0) for u in total}
