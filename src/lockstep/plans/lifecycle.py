"""A plan's dependency states and the lifecycle steps that lead from one to another.

A plan says where a dependency stands; the database only moves along the lifecycle the
services define (PRODUCT.md section 3):

    requested -> accepted | declined | countered | cancelled
    countered -> accepted (the counter date is taken) | requested (it is not) | cancelled
    accepted  -> delivered | missed | cancelled

`route` finds the shortest list of steps from what the database holds to what the plan
says, by a breadth-first search. Every step takes its arguments from the plan (the
delivering KR, the reason, the counter date), so only a handful of standings can be
reached and the search is tiny. None means the lifecycle cannot get there: a delivered
dependency cannot be requested again, an accepted one cannot change its date.

`Standing.shown` is what a plan sees of a standing: the counter date only while countered,
the delivering KR only once accepted, the reason only where a step sets it (declined,
countered, missed). Export writes what is shown, and `route` aims at it, so an apply that
arrives exports the plan's text again.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

REQUESTED, ACCEPTED, DECLINED, COUNTERED = "requested", "accepted", "declined", "countered"
DELIVERED, MISSED, CANCELLED = "delivered", "missed", "cancelled"
HAS_DELIVERER = frozenset({ACCEPTED, DELIVERED, MISSED, CANCELLED})
HAS_REASON = frozenset({DECLINED, COUNTERED, MISSED})


@dataclass(frozen=True)
class Standing:
    """Where a dependency stands: its state and the fields the lifecycle steps set."""

    state: str
    needed_by: dt.date
    counter_date: dt.date | None = None
    delivered_by: str | None = None  # key of the provider's KR
    reason: str = ""

    def shown(self) -> Standing:
        """The standing as a plan writes it (fields a state does not carry are blank)."""
        return Standing(
            self.state,
            self.needed_by,
            self.counter_date if self.state == COUNTERED else None,
            self.delivered_by if self.state in HAS_DELIVERER else None,
            self.reason if self.state in HAS_REASON else "",
        )


@dataclass(frozen=True)
class Step:
    """One lifecycle service call: accept, decline, counter, counter_accept,
    counter_reject, deliver, miss or cancel, with the arguments it takes from the plan."""

    verb: str
    delivered_by: str | None = None
    counter_date: dt.date | None = None
    reason: str = ""


def route(start: Standing, goal: Standing) -> list[Step] | None:
    """The shortest list of steps from `start` to a standing shown as `goal`, or None."""
    target = goal.shown()
    queue: deque[tuple[Standing, list[Step]]] = deque([(start, [])])
    seen = {start}
    while queue:
        standing, steps = queue.popleft()
        if standing.shown() == target:
            return steps
        for step, after in _moves(standing, goal):
            if after not in seen:
                seen.add(after)
                queue.append((after, [*steps, step]))
    return None


def _moves(now: Standing, goal: Standing) -> Iterator[tuple[Step, Standing]]:
    """Each step the services allow from `now`, with the standing it leads to."""
    if now.state == REQUESTED:
        yield (
            Step("accept", delivered_by=goal.delivered_by),
            replace(now, state=ACCEPTED, delivered_by=goal.delivered_by),
        )
        if goal.reason:
            yield (
                Step("decline", reason=goal.reason),
                replace(now, state=DECLINED, reason=goal.reason),
            )
        # Countering with the plan's date, then taking it, is how an agreed date moves.
        offer = goal.counter_date if goal.state == COUNTERED else goal.needed_by
        if offer is not None and offer != now.needed_by:
            yield (
                Step("counter", counter_date=offer, reason=goal.reason),
                replace(now, state=COUNTERED, counter_date=offer, reason=goal.reason),
            )
        yield Step("cancel"), replace(now, state=CANCELLED)
    elif now.state == COUNTERED:
        assert now.counter_date is not None  # the counter step sets it
        yield (
            Step("counter_accept"),
            replace(now, state=ACCEPTED, needed_by=now.counter_date, counter_date=None),
        )
        yield Step("counter_reject"), replace(now, state=REQUESTED, counter_date=None)
        yield Step("cancel"), replace(now, state=CANCELLED)
    elif now.state == ACCEPTED:
        yield Step("deliver"), replace(now, state=DELIVERED)
        # dependency_miss keeps the reason it had when given none.
        missed = replace(now, state=MISSED, reason=goal.reason or now.reason)
        yield Step("miss", reason=goal.reason), missed
        yield Step("cancel"), replace(now, state=CANCELLED)
