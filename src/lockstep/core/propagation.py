"""Risk propagation and loops along dependencies (PRODUCT.md sections 4 and 5).

`upstream_risk` answers "which items are at risk because of something they wait on, and
through which chain?". It is one breadth-first search run backwards from all bad nodes at
once (multi-source BFS over the reversed edges): the first time the search reaches a node,
it has come the shortest way from the nearest bad node, so every node is settled once and
the cost is linear in nodes + edges (plus the length of the chains it returns). A node is
never entered twice, so cycles in the graph cannot make it loop. Reachability only shrinks
when an edge goes, so removing an edge never puts a node at risk.

`strongly_connected` and `shortest_cycle` find loops: the components of the graph in which
every node reaches every other (Tarjan's algorithm, iterative so deep graphs cannot exhaust
the recursion limit), and one shortest loop through a chosen node of a component. Listing
every elementary cycle can take exponential time; one loop per component is linear and
names enough to act on.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Collection, Iterable, Iterator, Mapping

from lockstep.core.snapshot import Ref


def upstream_risk(
    depends_on: Mapping[Ref, Iterable[Ref]], bad: Mapping[Ref, str]
) -> dict[Ref, tuple[Ref, ...]]:
    """For every node that depends, directly or not, on a bad node: its shortest chain to one.

    A chain runs from the node (first) to a bad root (last) along `depends_on` edges and has
    at least two nodes; a bad node appears as a key only when it depends on another bad node.
    Self-edges are ignored. Ties between equally short chains go to the smaller refs.
    """
    dependents: dict[Ref, list[Ref]] = defaultdict(list)
    for node, targets in depends_on.items():
        for target in targets:
            if target != node:
                dependents[target].append(node)
    for waiting in dependents.values():
        waiting.sort()

    chains: dict[Ref, tuple[Ref, ...]] = {}
    # Bad nodes start the search with chains of their own; the queue keeps it level by level.
    queue: deque[tuple[Ref, tuple[Ref, ...]]] = deque((root, (root,)) for root in sorted(bad))
    while queue:
        node, chain = queue.popleft()
        for dependent in dependents.get(node, ()):
            if dependent in chains:
                continue
            chains[dependent] = (dependent, *chain)
            # A bad node already spread from level 0; its chain to another bad node is
            # reported, but nothing waiting on it should go through it.
            if dependent not in bad:
                queue.append((dependent, chains[dependent]))
    return chains


def strongly_connected(graph: Mapping[Ref, Iterable[Ref]]) -> list[list[Ref]]:
    """The strongly connected components of a directed graph that hold a cycle."""
    successors = {node: list(targets) for node, targets in graph.items()}
    index: dict[Ref, int] = {}
    low: dict[Ref, int] = {}
    on_stack: set[Ref] = set()
    stack: list[Ref] = []
    found: list[list[Ref]] = []

    for root in sorted(successors):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[Ref, Iterator[Ref]]] = [(root, iter(successors[root]))]
        while work:
            node, targets = work[-1]
            nxt = next(targets, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(successors.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[Ref] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in successors.get(node, ()):
                    found.append(sorted(component))
    return found


def shortest_cycle(
    graph: Mapping[Ref, Iterable[Ref]], through: Ref, within: Collection[Ref]
) -> tuple[Ref, ...] | None:
    """A shortest closed path `through` -> ... -> `through` using only nodes in `within`."""
    parent: dict[Ref, Ref] = {}
    queue: deque[Ref] = deque([through])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt == through:
                path = [node]
                while path[-1] != through:
                    path.append(parent[path[-1]])
                return (*reversed(path), through)
            if nxt in within and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None
