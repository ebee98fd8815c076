"""The alignment engine: the findings catalogue of PRODUCT.md section 5.

`analyse` reads a `Snapshot` and returns the problems it holds, each with a stable code and
key, the units concerned, the chain of evidence and a suggested action. Every code is one
small function registered in `_RULES`. `analyse(codes=...)` runs only some of them: the
database layer refreshes findings that way over a partial snapshot after a change, so no
rule assumes that an id it follows is present. What is missing is skipped, and a name that
cannot be found is written as "unit #12".

Cost stays close to linear in the size of the snapshot: everything is indexed once into
dicts (lazily, so a partial run builds only what its codes read) and each rule is one pass
over the items it concerns. The graph rules are linear too: upstream risk is one
multi-source breadth-first search (`propagation.upstream_risk`), and dependency loops are
found as strongly connected components, one finding per knot naming a shortest loop through
its lowest-id dependency, since listing every elementary cycle can take exponential time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from operator import attrgetter
from typing import Any

import numpy as np

from lockstep.core import assess
from lockstep.core.forecast import checkin_overdue, cycle_origin
from lockstep.core.progress import (
    Commitment,
    KRKind,
    Status,
    expected_progress,
    kr_progress,
    success_threshold,
)
from lockstep.core.propagation import shortest_cycle, strongly_connected, upstream_risk
from lockstep.core.snapshot import (
    CycleSnap,
    DependencySnap,
    DependencyState,
    InitiativeSnap,
    KRSnap,
    ObjectiveSnap,
    Ref,
    Snapshot,
    cyclic_gc_paused,
)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(slots=True)  # not frozen: built by the hundred thousand (see snapshot.py)
class Finding:
    """A problem the engine found, with the evidence and what to do about it."""

    code: str
    severity: Severity
    subject: Ref
    key: str  # stable identity: code, subject and, when one subject has several, a suffix
    unit_ids: tuple[int, ...]  # the units concerned, sorted
    title: str
    explanation: tuple[str, ...]  # the chain of evidence, one readable step per line
    suggestion: str
    links: tuple[Ref, ...]  # every item the explanation mentions, subject first


@dataclass(slots=True)  # not frozen: built by the hundred thousand (see snapshot.py)
class KRAssessment:
    """Where a key result stands today and where its trend leads by its due date."""

    progress: float
    expected: float
    status: Status
    forecast_value: float | None
    forecast_progress: float | None
    likely_miss: bool  # never for a KR that is done


CATALOGUE: dict[str, tuple[Severity, str]] = {
    "ORPHAN_OBJECTIVE": (Severity.WARNING, "a non-company objective contributes to nothing"),
    "UNCOVERED_COMPANY_OBJECTIVE": (
        Severity.ERROR,
        "a company objective has no contributing objective and no KR",
    ),
    "SILENT_CONTRIBUTOR": (
        Severity.WARNING,
        "a unit listed on a shared objective owns none of its KRs",
    ),
    "NO_OWNER": (Severity.ERROR, "a KR has no accountable unit"),
    "DEPENDENCY_UNANSWERED": (
        Severity.WARNING,
        "a dependency has waited longer than the org's answer window",
    ),
    "DEPENDENCY_DECLINED": (
        Severity.ERROR,
        "a declined dependency still underpins a committed KR",
    ),
    "DEPENDENCY_TOO_LATE": (
        Severity.ERROR,
        "what is needed is due after the date it is needed by, or is overdue",
    ),
    "DEPENDENCY_CYCLE": (Severity.ERROR, "dependencies form a cycle"),
    "UPSTREAM_AT_RISK": (
        Severity.WARNING,
        "an item's dependency chain holds a likely miss, off-track, blocked, overdue, "
        "declined, missed or late item",
    ),
    "BUBBLE_GOAL": (
        Severity.WARNING,
        "a published objective relies on other units that have not endorsed it",
    ),
    "STALE_CHECKIN": (Severity.WARNING, "a KR has no check-in within its cadence"),
    "OFF_PACE": (Severity.WARNING, "a KR is off track against the pace line"),
    "LIKELY_MISS": (
        Severity.WARNING,
        "the forecast says the KR will miss (committed < 1.0, aspirational < 0.7)",
    ),
    "LOW_CONFIDENCE": (Severity.WARNING, "the owner's last confidence is at or below the limit"),
    "CONFLICTING_TARGETS": (
        Severity.ERROR,
        "two KRs of one cycle push the same KPI in opposite directions",
    ),
    "OVER_CAPACITY": (
        Severity.ERROR,
        "a unit's accepted work for a week exceeds its weekly capacity",
    ),
    "OVERLOADED_UNIT": (
        Severity.WARNING,
        "a unit has too many objectives in one cycle, or an objective too many KRs",
    ),
    "SINGLE_POINT_OF_FAILURE": (
        Severity.INFO,
        "committed KRs of many units depend on one provider unit",
    ),
    "TASK_NOT_OUTCOME": (
        Severity.INFO,
        "most KRs of an objective are milestones (tasks) rather than outcomes",
    ),
    "UNOWNED_SHARED_KPI": (
        Severity.WARNING,
        "a KPI that several units' KRs follow has no owner",
    ),
}

_CLOSED = "closed"
_OPEN_DEPENDENCY = frozenset(
    {DependencyState.REQUESTED, DependencyState.ACCEPTED, DependencyState.COUNTERED}
)
_NOT_RELIED_ON = frozenset({DependencyState.DECLINED, DependencyState.CANCELLED})
# Dependencies that no longer hold anyone up: out of the risk graph.
_SETTLED = frozenset({DependencyState.DELIVERED, DependencyState.CANCELLED})
# Dependencies that can close a loop: still binding, or failed but not withdrawn.
_IN_LOOPS = frozenset(
    {
        DependencyState.REQUESTED,
        DependencyState.ACCEPTED,
        DependencyState.COUNTERED,
        DependencyState.MISSED,
    }
)
_PUSH_UP = frozenset({KRKind.INCREASE, KRKind.AT_LEAST})
_PUSH_DOWN = frozenset({KRKind.DECREASE, KRKind.AT_MOST})
_FINISHED_INITIATIVE = frozenset({"done", "cancelled"})
_DAY = dt.timedelta(days=1)


def _num(x: float) -> str:
    """A number as people write it: 5,000 / 4.2 / 0.33."""
    text = f"{x:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _join(names: Iterable[str]) -> str:
    items = list(names)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class _Index:
    """The snapshot indexed once for the rules; lazy parts are built on first use."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.th = snap.thresholds
        self.now = _aware(snap.now, snap.tz).astimezone(dt.UTC)
        self.today = self.now.astimezone(snap.tz).date()
        self.units = {u.id: u for u in snap.units}
        self.cycles = {c.id: c for c in snap.cycles}
        self.objectives = {o.id: o for o in snap.objectives}
        self.krs = {k.id: k for k in snap.krs}
        self.initiatives = {i.id: i for i in snap.initiatives}
        self.dependencies = {d.id: d for d in snap.dependencies}
        self.kpis = {k.id: k for k in snap.kpis}

    # --- indexes -----------------------------------------------------------------------

    @cached_property
    def live_objectives(self) -> list[ObjectiveSnap]:
        return [o for o in self.snap.objectives if o.state != _CLOSED]

    @cached_property
    def live_krs(self) -> list[KRSnap]:
        """KRs whose objective is in the snapshot and not closed."""
        objectives = self.objectives
        return [
            k
            for k in self.snap.krs
            if (o := objectives.get(k.objective_id)) is not None and o.state != _CLOSED
        ]

    @cached_property
    def live_kr_ids(self) -> set[int]:
        return {k.id for k in self.live_krs}

    @cached_property
    def krs_by_objective(self) -> dict[int, list[KRSnap]]:
        out: dict[int, list[KRSnap]] = defaultdict(list)
        for k in self.snap.krs:
            out[k.objective_id].append(k)
        return out

    @cached_property
    def children(self) -> dict[int, list[ObjectiveSnap]]:
        out: dict[int, list[ObjectiveSnap]] = defaultdict(list)
        for o in self.snap.objectives:
            for parent_id, _weight in o.parents:
                out[parent_id].append(o)
        return out

    @cached_property
    def initiatives_by_kr(self) -> dict[int, list[InitiativeSnap]]:
        out: dict[int, list[InitiativeSnap]] = defaultdict(list)
        for i in self.snap.initiatives:
            for kr_id in dict.fromkeys(i.kr_ids):
                out[kr_id].append(i)
        return out

    @cached_property
    def deps_by_requester(self) -> dict[Ref, list[DependencySnap]]:
        out: dict[Ref, list[DependencySnap]] = defaultdict(list)
        for d in self.snap.dependencies:
            if d.requester_item is not None:
                out[d.requester_item].append(d)
        return out

    @cached_property
    def endorsed(self) -> set[tuple[int, int]]:
        return {(e.objective_id, e.unit_id) for e in self.snap.endorsements if e.endorsed}

    @cached_property
    def assessments(self) -> dict[int, KRAssessment]:
        return _assess(self)

    # --- questions the rules share -----------------------------------------------------

    def cycle_of(self, kr: KRSnap) -> CycleSnap | None:
        o = self.objectives.get(kr.objective_id)
        return None if o is None else self.cycles.get(o.cycle_id)

    def progress(self, kr: KRSnap) -> float:
        return kr_progress(kr.kind, kr.start, kr.target, kr.current_value)

    def is_done(self, kr: KRSnap) -> bool:
        return self.progress(kr) >= 1.0

    def committed_krs_served(self, item: Ref | None) -> list[KRSnap]:
        """The live committed KRs that `item` is (a KR) or drives (an initiative)."""
        if item is None:
            return []
        kind, item_id = item
        if kind == "kr":
            ids: Iterable[int] = (item_id,)
        elif kind == "initiative" and (i := self.initiatives.get(item_id)) is not None:
            ids = sorted(set(i.kr_ids))
        else:
            return []
        live = self.live_kr_ids
        return [
            kr
            for kr_id in ids
            if kr_id in live and (kr := self.krs[kr_id]).commitment == Commitment.COMMITTED
        ]

    def item_due(self, item: Ref | None) -> dt.date | None:
        if item is None:
            return None
        kind, item_id = item
        if kind == "kr" and (kr := self.krs.get(item_id)) is not None:
            return kr.due
        if kind == "initiative" and (i := self.initiatives.get(item_id)) is not None:
            return i.due
        return None

    def lateness(self, d: DependencySnap) -> tuple[dt.date | None, bool]:
        """(the provider item's due date if it falls after `needed_by`, accepted but overdue)."""
        if d.state not in _OPEN_DEPENDENCY:
            return None, False
        due = self.item_due(d.provider_item)
        return (
            due if due is not None and due > d.needed_by else None,
            d.state == DependencyState.ACCEPTED and d.needed_by < self.today,
        )

    def is_too_late(self, d: DependencySnap) -> bool:
        """Whether `too_late` has a reason, without writing it (asked of every dependency)."""
        due_after, overdue = self.lateness(d)
        return due_after is not None or overdue

    def too_late(self, d: DependencySnap) -> list[str]:
        """Why a dependency comes too late for its requester (empty when it does not)."""
        due_after, overdue = self.lateness(d)
        reasons = []
        if due_after is not None and d.provider_item is not None:
            late = (due_after - d.needed_by).days
            reasons.append(
                f"{self.label(d.provider_item)} is due {due_after}, {_days(late)} after "
                f"{self.unit(d.requester_unit_id)} needs '{d.title}' on {d.needed_by}"
            )
        if overdue:
            days_ago = (self.today - d.needed_by).days
            reasons.append(
                f"{self.unit(d.provider_unit_id)} accepted '{d.title}' but has not delivered "
                f"it; it was needed by {d.needed_by}, {_days(days_ago)} ago"
            )
        return reasons

    def age(self, moment: dt.datetime) -> dt.timedelta:
        """Time elapsed from `moment` (naive: read in the snapshot's zone) to now."""
        # In UTC: two datetimes sharing one tzinfo subtract as wall-clock times.
        return self.now - _aware(moment, self.snap.tz).astimezone(dt.UTC)

    def local_date(self, moment: dt.datetime) -> dt.date:
        return _aware(moment, self.snap.tz).astimezone(self.snap.tz).date()

    # --- names -------------------------------------------------------------------------

    def unit(self, unit_id: int | None) -> str:
        if unit_id is None:
            return "no unit"
        u = self.units.get(unit_id)
        return u.name if u is not None else f"unit #{unit_id}"

    def _owned(self, unit_id: int | None, title: str) -> str:
        return title if unit_id is None else f"{self.unit(unit_id)}: {title}"

    def cycle(self, cycle_id: int) -> str:
        c = self.cycles.get(cycle_id)
        return f"cycle {c.key}" if c is not None else f"cycle #{cycle_id}"

    def kpi(self, kpi_id: int) -> str:
        k = self.kpis.get(kpi_id)
        return k.name if k is not None else f"KPI #{kpi_id}"

    def objective_label(self, o: ObjectiveSnap) -> str:
        return self._owned(o.owner_unit_id, o.title)

    def kr_label(self, kr: KRSnap) -> str:
        return self._owned(kr.owner_unit_id, kr.title)

    def label(self, ref: Ref) -> str:
        """A readable name for any item: "Operations: SOPs written by week 4"."""
        kind, item_id = ref
        if kind == "kr":
            kr = self.krs.get(item_id)
            return self.kr_label(kr) if kr is not None else f"key result #{item_id}"
        if kind == "initiative":
            i = self.initiatives.get(item_id)
            return self._owned(i.owner_unit_id, i.title) if i else f"initiative #{item_id}"
        if kind == "objective":
            o = self.objectives.get(item_id)
            return self.objective_label(o) if o is not None else f"objective #{item_id}"
        if kind == "dependency":
            d = self.dependencies.get(item_id)
            return (
                f"'{d.title}' from {self.unit(d.provider_unit_id)}"
                if d
                else f"dependency #{item_id}"
            )
        if kind == "unit":
            return self.unit(item_id)
        if kind == "kpi":
            return self.kpi(item_id)
        return f"{kind} #{item_id}"

    def units_of(self, ref: Ref) -> list[int | None]:
        kind, item_id = ref
        if kind == "kr" and (kr := self.krs.get(item_id)) is not None:
            return [kr.owner_unit_id, *kr.co_owner_ids]
        if kind == "initiative" and (i := self.initiatives.get(item_id)) is not None:
            return [i.owner_unit_id]
        if kind == "dependency" and (d := self.dependencies.get(item_id)) is not None:
            return [d.requester_unit_id, d.provider_unit_id]
        return []

    # --- building findings -------------------------------------------------------------

    def finding(
        self,
        code: str,
        subject: Ref,
        *,
        units: Iterable[int | None],
        title: str,
        explanation: Iterable[str],
        suggestion: str,
        links: Iterable[Ref] = (),
        key_suffix: str = "",
    ) -> Finding:
        return Finding(
            code=code,
            severity=CATALOGUE[code][0],
            subject=subject,
            key=f"{code}:{subject[0]}:{subject[1]}{key_suffix}",
            unit_ids=tuple(sorted({u for u in units if u is not None})),
            title=title,
            explanation=tuple(explanation),
            suggestion=suggestion,
            links=tuple(dict.fromkeys((subject, *links))) if links else (subject,),
        )


def _aware(moment: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _assess(ix: _Index) -> dict[int, KRAssessment]:
    """Every KR with a cycle in the snapshot, assessed column-wise (core/assess.py)."""
    snap = ix.snap
    tz = snap.tz
    now_utc = ix.now
    # Many KRs share a cycle start and a due date: convert each day to an instant once.
    midnights: dict[dt.date, dt.datetime] = {}

    def midnight(day: dt.date) -> dt.datetime:
        m = midnights.get(day)
        if m is None:
            m = midnights[day] = cycle_origin(day, tz).astimezone(dt.UTC)
        return m

    # Thousands of KRs share a cycle and a due date: their pace line is worked out once.
    windows: dict[tuple[dt.date, dt.date], tuple[float, float]] = {}
    kinds = assess.KIND_CODES
    nan = math.nan
    ids: list[int] = []
    columns: list[tuple[Any, ...]] = []
    for kr in snap.krs:
        cycle = ix.cycle_of(kr)
        if cycle is None:
            continue
        window = windows.get((cycle.start, kr.due))
        if window is None:
            opens = midnight(cycle.start)
            due_end = midnight(kr.due + _DAY)
            window = windows[(cycle.start, kr.due)] = (
                expected_progress(now_utc, opens, due_end),
                (due_end - opens).total_seconds() / 86_400,
            )
        sums = kr.sums
        ids.append(kr.id)
        columns.append(
            (
                kinds[kr.kind],
                kr.start,
                kr.target,
                nan if kr.current_value is None else kr.current_value,
                kr.last_checkin_at is not None or sums.n > 0,
                *window,
                sums.n,
                sums.st,
                sums.sv,
                sums.stt,
                sums.stv,
                success_threshold(kr.commitment),
            )
        )
    if not ids:
        return {}
    kind, start, target, value, checked, expected, due_t, n, st, sv, stt, stv, success = (
        np.array(c) for c in zip(*columns, strict=True)
    )
    a = assess.assess_many(
        kind=kind.astype(np.int8),
        start=start.astype(np.float64),
        target=target.astype(np.float64),
        value=value.astype(np.float64),
        checked_in=checked.astype(np.bool_),
        expected=expected.astype(np.float64),
        sums=tuple(c.astype(np.float64) for c in (n, st, sv, stt, stv)),  # type: ignore[arg-type]
        due_t=due_t.astype(np.float64),
        success=success.astype(np.float64),
        margins=snap.thresholds.margins,
    )
    statuses = assess.STATUSES
    has_forecast = (n > 0).tolist()
    return {
        kr_id: KRAssessment(
            progress=p,
            expected=e,
            status=statuses[code],
            forecast_value=fv if has else None,
            forecast_progress=fp if has else None,
            likely_miss=miss,
        )
        for kr_id, p, e, code, fv, fp, miss, has in zip(
            ids,
            a.progress.tolist(),
            expected.tolist(),
            a.statuses.tolist(),
            a.forecast_value.tolist(),
            a.forecast_progress.tolist(),
            a.likely_miss.tolist(),
            has_forecast,
            strict=True,
        )
    }


def kr_assessment(snapshot: Snapshot) -> dict[int, KRAssessment]:
    """Progress, pace, status and forecast of every KR whose objective and cycle are present."""
    return _assess(_Index(snapshot))


# --- the rules, one per code -----------------------------------------------------------


def _orphan_objective(ix: _Index) -> Iterator[Finding]:
    for o in ix.live_objectives:
        if o.level == "company" or o.parents:
            continue
        name = ix.objective_label(o)
        yield ix.finding(
            "ORPHAN_OBJECTIVE",
            ("objective", o.id),
            units=(o.owner_unit_id, *o.contributor_ids),
            title=f"{name} contributes to no objective",
            explanation=(
                f"{name} is a {o.level} objective of {ix.cycle(o.cycle_id)} "
                "with no link to a parent objective",
            ),
            suggestion="Link it to the company or unit objective it serves, or drop it.",
        )


def _uncovered_company_objective(ix: _Index) -> Iterator[Finding]:
    for o in ix.live_objectives:
        if o.level != "company" or ix.krs_by_objective.get(o.id):
            continue
        if any(c.state != _CLOSED for c in ix.children.get(o.id, ())):
            continue
        name = ix.objective_label(o)
        yield ix.finding(
            "UNCOVERED_COMPANY_OBJECTIVE",
            ("objective", o.id),
            units=(o.owner_unit_id,),
            title=f"{name} has no contributing objective and no key result",
            explanation=(
                f"{name} is a company objective of {ix.cycle(o.cycle_id)}",
                "No open objective contributes to it and it has no key result of its own, "
                "so nothing measures it",
            ),
            suggestion="Add key results, or ask units to link the objectives that serve it.",
        )


def _silent_contributor(ix: _Index) -> Iterator[Finding]:
    for o in ix.live_objectives:
        if o.level != "shared" or not o.contributor_ids:
            continue
        krs = ix.krs_by_objective.get(o.id, [])
        owners = {k.owner_unit_id for k in krs} | {u for k in krs for u in k.co_owner_ids}
        name = ix.objective_label(o)
        for unit_id in sorted(set(o.contributor_ids) - owners):
            unit = ix.unit(unit_id)
            if krs:
                owned_by = _join(sorted({ix.unit(k.owner_unit_id) for k in krs}))
                held = f"Its {len(krs)} key result(s) are owned by {owned_by}"
            else:
                held = "It has no key results yet"
            yield ix.finding(
                "SILENT_CONTRIBUTOR",
                ("objective", o.id),
                units=(unit_id,),
                title=f"{unit} is listed on {name} but owns none of its key results",
                explanation=(
                    f"{unit} is a contributor of the shared objective {name} "
                    f"({ix.cycle(o.cycle_id)})",
                    held,
                ),
                suggestion=f"Give {unit} a key result of its own, or take it off the contributors.",
                key_suffix=f":unit:{unit_id}",
            )


def _no_owner(ix: _Index) -> Iterator[Finding]:
    for kr in ix.live_krs:
        if kr.owner_unit_id is not None:
            continue
        o = ix.objectives[kr.objective_id]
        lines = [
            f"Key result '{kr.title}' of {ix.objective_label(o)} ({ix.cycle(o.cycle_id)}) "
            "names no accountable unit"
        ]
        if kr.co_owner_ids:
            co = _join(ix.unit(u) for u in kr.co_owner_ids)
            lines.append(f"It has co-owners ({co}) but nobody answers for it")
        yield ix.finding(
            "NO_OWNER",
            ("kr", kr.id),
            units=(o.owner_unit_id, *o.contributor_ids, *kr.co_owner_ids),
            title=f"{kr.title} has no accountable unit",
            explanation=lines,
            suggestion="Name the unit accountable for it.",
            links=(("objective", o.id),),
        )


def _dependency_unanswered(ix: _Index) -> Iterator[Finding]:
    window = dt.timedelta(days=ix.th.answer_window_days)
    for d in ix.snap.dependencies:
        if d.state not in (DependencyState.REQUESTED, DependencyState.COUNTERED):
            continue
        waited = ix.age(d.requested_at)
        if waited <= window:
            continue
        requester, provider = ix.unit(d.requester_unit_id), ix.unit(d.provider_unit_id)
        asked = ix.local_date(d.requested_at)
        purpose = f" for {ix.label(d.requester_item)}" if d.requester_item else ""
        lines = [
            f"{requester} asked {provider} for '{d.title}'{purpose} on {asked}, "
            f"needed by {d.needed_by}"
        ]
        if d.state == DependencyState.REQUESTED:
            title = f"{provider} has not answered {requester}'s request: {d.title}"
            lines.append(
                f"{_days(waited.days)} without an answer; the answer window is "
                f"{_days(ix.th.answer_window_days)}"
            )
            suggestion = f"{provider} to accept, decline or counter the request."
        else:
            title = f"{requester} and {provider} have not settled '{d.title}'"
            countered = f" on {ix.local_date(d.answered_at)}" if d.answered_at else ""
            lines.append(
                f"{provider} proposed another date{countered}; {_days(waited.days)} after the "
                f"request it is still not agreed (answer window {_days(ix.th.answer_window_days)})"
            )
            suggestion = f"{requester} to accept the counter-offer or agree another date."
        yield ix.finding(
            "DEPENDENCY_UNANSWERED",
            ("dependency", d.id),
            units=(d.requester_unit_id, d.provider_unit_id),
            title=title,
            explanation=lines,
            suggestion=suggestion,
            links=[d.requester_item] if d.requester_item else [],
        )


def _dependency_declined(ix: _Index) -> Iterator[Finding]:
    for d in ix.snap.dependencies:
        if d.state != DependencyState.DECLINED or d.requester_item is None:
            continue
        served = ix.committed_krs_served(d.requester_item)
        if not served:
            continue
        requester, provider = ix.unit(d.requester_unit_id), ix.unit(d.provider_unit_id)
        when = f" on {ix.local_date(d.answered_at)}" if d.answered_at else ""
        lines = [
            f"{requester} asked {provider} for '{d.title}' by {d.needed_by}; "
            f"{provider} declined{when}"
        ]
        if d.requester_item[0] == "initiative":
            lines.append(f"It was asked for the initiative {ix.label(d.requester_item)}")
            lead = "… which drives"
        else:
            lead = "It was asked for"
        lines += [
            f"{lead} {ix.kr_label(kr)}, a committed key result that must reach 100% by {kr.due}"
            for kr in served
        ]
        first = ix.kr_label(served[0])
        more = f" and {len(served) - 1} more" if len(served) > 1 else ""
        yield ix.finding(
            "DEPENDENCY_DECLINED",
            ("dependency", d.id),
            units=(d.requester_unit_id, d.provider_unit_id, *(k.owner_unit_id for k in served)),
            title=f"{provider} declined '{d.title}', which {first}{more} relies on",
            explanation=lines,
            suggestion=f"Find another provider, agree a smaller scope with {provider}, or "
            "make the key result aspirational.",
            links=[d.requester_item, *(("kr", k.id) for k in served)],
        )


def _dependency_too_late(ix: _Index) -> Iterator[Finding]:
    for d in ix.snap.dependencies:
        reasons = ix.too_late(d)
        if not reasons:
            continue
        requester, provider = ix.unit(d.requester_unit_id), ix.unit(d.provider_unit_id)
        purpose = f" for {ix.label(d.requester_item)}" if d.requester_item else ""
        yield ix.finding(
            "DEPENDENCY_TOO_LATE",
            ("dependency", d.id),
            units=(d.requester_unit_id, d.provider_unit_id),
            title=f"'{d.title}' from {provider} comes too late for {requester}",
            explanation=[
                f"{requester} needs '{d.title}' from {provider}{purpose} by {d.needed_by}",
                *reasons,
            ],
            suggestion=f"{provider} to bring the work forward, or agree a later date with "
            f"{requester} and re-plan what waits on it.",
            links=[r for r in (d.requester_item, d.provider_item) if r is not None],
        )


def _dependency_cycle(ix: _Index) -> Iterator[Finding]:
    graph: dict[Ref, list[Ref]] = defaultdict(list)
    for d in ix.snap.dependencies:
        if d.state not in _IN_LOOPS or d.requester_item is None or d.provider_item is None:
            continue
        graph[d.requester_item].append(("dependency", d.id))
        graph[("dependency", d.id)].append(d.provider_item)
    for component in strongly_connected(graph):
        lowest: Ref = ("dependency", min(i for kind, i in component if kind == "dependency"))
        loop = shortest_cycle(graph, lowest, set(component))
        if loop is None:  # pragma: no cover - every node of such a component lies on a loop
            continue
        # Items and dependencies alternate: dependency, its provider item, the next
        # dependency, ..., and last the item that requested the first one.
        nodes = loop[:-1]
        steps = [
            (nodes[j - 1], ix.dependencies[nodes[j][1]], nodes[j + 1])
            for j in range(0, len(nodes), 2)
        ]
        lines = [
            f"{ix.label(req)} needs '{d.title}' from {ix.label(prov)} by {d.needed_by}"
            for req, d, prov in steps
        ]
        first_item = nodes[-1]
        lines.append(f"… so {ix.label(first_item)} ends up waiting on itself")
        in_loop = {d.id for _, d, _ in steps}
        others = sorted(i for kind, i in component if kind == "dependency" and i not in in_loop)
        if others:
            tangled = _join(f"'{ix.dependencies[i].title}'" for i in others)
            lines.append(f"Also tangled in the same knot: {tangled}")
        n = len(steps)
        yield ix.finding(
            "DEPENDENCY_CYCLE",
            lowest,
            units=[u for _, d, _ in steps for u in (d.requester_unit_id, d.provider_unit_id)],
            title=f"{ix.label(first_item)} depends on itself through "
            f"{n} dependenc{'y' if n == 1 else 'ies'}",
            explanation=lines,
            suggestion="Break the loop: decide which of these can go first, and drop or "
            "re-date the request that closes the loop.",
            links=[*nodes, *(("dependency", i) for i in others)],
        )


def _risk_roots(ix: _Index) -> dict[Ref, str]:
    """The bad roots of upstream risk, each with a short reason for `_why_bad`."""
    bad: dict[Ref, str] = {}
    assessed = ix.assessments
    for kr in ix.live_krs:
        a = assessed.get(kr.id)
        if a is not None and a.likely_miss:
            bad[("kr", kr.id)] = "likely miss"
        elif a is not None and a.status == Status.OFF_TRACK:
            bad[("kr", kr.id)] = "off track"
    for i in ix.snap.initiatives:
        if i.state == "blocked":
            bad[("initiative", i.id)] = "blocked"
        elif i.due is not None and i.due < ix.today and i.state not in _FINISHED_INITIATIVE:
            bad[("initiative", i.id)] = "overdue"
    for d in ix.snap.dependencies:
        if d.state == DependencyState.DECLINED:
            bad[("dependency", d.id)] = "declined"
        elif d.state == DependencyState.MISSED:
            bad[("dependency", d.id)] = "missed"
        elif ix.is_too_late(d):
            bad[("dependency", d.id)] = "too late"
    return bad


def _why_bad(ix: _Index, ref: Ref, reason: str) -> str:
    """The line that says why a bad root is bad (written only for roots a chain reaches)."""
    name = ix.label(ref)
    kind, item_id = ref
    if kind == "kr":
        kr, a = ix.krs[item_id], ix.assessments[item_id]
        if reason == "likely miss" and a.forecast_progress is not None:
            return (
                f"{name} is forecast to reach {_pct(a.forecast_progress)} by its due date "
                f"{kr.due} ({kr.commitment}: likely miss)"
            )
        return (
            f"{name} is off track: {_pct(a.progress)} done where the pace line expects "
            f"{_pct(a.expected)}"
        )
    if kind == "initiative":
        i = ix.initiatives[item_id]
        if reason == "blocked":
            return f"{name} is blocked"
        return f"{name} was due {i.due} and is still {i.state}"
    d = ix.dependencies[item_id]
    provider = ix.unit(d.provider_unit_id)
    if reason == "declined":
        return f"{provider} declined '{d.title}'"
    if reason == "missed":
        return f"{provider} missed '{d.title}', which was needed by {d.needed_by}"
    return "; ".join(ix.too_late(d))


def _upstream_at_risk(ix: _Index) -> Iterator[Finding]:
    depends_on: dict[Ref, list[Ref]] = defaultdict(list)
    for d in ix.snap.dependencies:
        if d.state in _SETTLED:
            continue
        node: Ref = ("dependency", d.id)
        if d.requester_item is not None:
            depends_on[d.requester_item].append(node)
        if d.provider_item is not None:
            depends_on[node].append(d.provider_item)
    bad = _risk_roots(ix)
    live_krs = ix.live_kr_ids
    risk = upstream_risk(depends_on, bad)
    for subject, nearest in sorted(risk.items()):
        kind, item_id = subject
        if not (
            (kind == "kr" and item_id in live_krs)
            or (kind == "initiative" and item_id in ix.initiatives)
        ):
            continue
        chain = _whole_chain(nearest, risk)
        roots = [ref for ref in chain[1:] if ref in bad]
        lines = _chain_lines(ix, chain, _why_bad(ix, chain[-1], bad[chain[-1]]))
        # Every bad item on the way says why, nearest first; the origin's line stays last.
        lines[-1:-1] = [_why_bad(ix, ref, bad[ref]) for ref in roots[:-1]]
        yield ix.finding(
            "UPSTREAM_AT_RISK",
            subject,
            units=[u for ref in chain for u in ix.units_of(ref)],
            title=f"{ix.label(subject)} is at risk upstream",
            explanation=lines,
            suggestion=_upstream_suggestion(ix, nearest[-1]),
            links=chain,
        )


def _whole_chain(nearest: tuple[Ref, ...], risk: Mapping[Ref, tuple[Ref, ...]]) -> tuple[Ref, ...]:
    """Follow the chain past bad items that are themselves at risk upstream, to the origin.

    The shortest chain stops at the first bad item; the finding names the whole chain, so a
    team sees both the neighbour it waits on and the problem further up that holds it back.
    """
    chain = list(nearest)
    seen = set(chain)
    while (further := risk.get(chain[-1])) is not None:
        extension = further[1:]
        if not extension or any(ref in seen for ref in extension):
            break  # a loop of bad items: stop where it closes
        chain.extend(extension)
        seen.update(extension)
    return tuple(chain)


def _chain_lines(ix: _Index, chain: tuple[Ref, ...], why: str) -> list[str]:
    """One line per dependency on the chain, then why its last node is bad."""
    lines: list[str] = []
    lead = ix.label(chain[0])
    for pos, ref in enumerate(chain):
        if ref[0] != "dependency" or (d := ix.dependencies.get(ref[1])) is None:
            continue
        if pos + 1 < len(chain):
            what = ix.label(chain[pos + 1])
        else:
            what = f"'{d.title}' from {ix.unit(d.provider_unit_id)}"
        lines.append(f"{lead} depends on {what} (needed by {d.needed_by})")
        lead = "… which"
    lines.append(why)
    return lines


def _upstream_suggestion(ix: _Index, root: Ref) -> str:
    kind, item_id = root
    if kind == "dependency" and (d := ix.dependencies.get(item_id)) is not None:
        who, what = ix.unit(d.provider_unit_id), f"'{d.title}'"
    elif kind == "kr" and (kr := ix.krs.get(item_id)) is not None:
        who, what = ix.unit(kr.owner_unit_id), kr.title
    elif kind == "initiative" and (i := ix.initiatives.get(item_id)) is not None:
        who, what = ix.unit(i.owner_unit_id), i.title
    else:  # pragma: no cover - a root is always an item of the snapshot
        who, what = "the provider", ix.label(root)
    return (
        f"Talk to {who} about {what}: agree a recovery plan or a new date, or find another "
        "way to get what is needed."
    )


def _relied_units(ix: _Index) -> dict[int, set[int]]:
    """Per objective, the units it may rely on (co-owners, live dependencies' providers).

    One pass over co-owned KRs and dependencies; a superset of what _bubble_goal reports,
    so an objective absent here, or relying only on endorsers, needs no closer look.
    """
    out: dict[int, set[int]] = defaultdict(set)
    for kr in ix.snap.krs:
        if kr.co_owner_ids:
            out[kr.objective_id].update(kr.co_owner_ids)
    for d in ix.snap.dependencies:
        if d.state in _NOT_RELIED_ON or d.requester_item is None:
            continue
        kind, item_id = d.requester_item
        if kind == "kr":
            kr_ids: Iterable[int] = (item_id,)
        elif (i := ix.initiatives.get(item_id)) is not None:
            kr_ids = i.kr_ids
        else:
            continue
        for kr_id in kr_ids:
            if (served := ix.krs.get(kr_id)) is not None:
                out[served.objective_id].add(d.provider_unit_id)
    return out


def _bubble_goal(ix: _Index) -> Iterator[Finding]:
    relied_units = _relied_units(ix)
    for o in ix.snap.objectives:
        if o.state != "published":
            continue
        # Most objectives are endorsed by all they rely on: decide before writing evidence.
        if all(u == o.owner_unit_id or (o.id, u) in ix.endorsed for u in relied_units[o.id]):
            continue
        relied: dict[int, list[str]] = defaultdict(list)
        links: list[Ref] = []
        items: dict[Ref, None] = {}
        for kr in ix.krs_by_objective.get(o.id, ()):
            for co in kr.co_owner_ids:
                if co != kr.owner_unit_id:
                    relied[co].append(f"{ix.unit(co)} co-owns {ix.kr_label(kr)}")
                    links.append(("kr", kr.id))
            items[("kr", kr.id)] = None
            for i in ix.initiatives_by_kr.get(kr.id, ()):
                items[("initiative", i.id)] = None
        for item in items:
            for d in ix.deps_by_requester.get(item, ()):
                if d.state in _NOT_RELIED_ON:
                    continue
                relied[d.provider_unit_id].append(
                    f"{ix.unit(d.provider_unit_id)} is to provide '{d.title}' for "
                    f"{ix.label(item)} by {d.needed_by}"
                )
                links += [("dependency", d.id), item]
        silent = sorted(u for u in relied if u != o.owner_unit_id and (o.id, u) not in ix.endorsed)
        if not silent:
            continue
        names = _join(ix.unit(u) for u in silent)
        name = ix.objective_label(o)
        yield ix.finding(
            "BUBBLE_GOAL",
            ("objective", o.id),
            units=(o.owner_unit_id, *silent),
            title=f"{name} relies on {names} without their endorsement",
            explanation=[
                *(line for u in silent for line in relied[u]),
                f"{names} {'has' if len(silent) == 1 else 'have'} not endorsed {name}",
            ],
            suggestion=f"Send it to {names} for peer review and ask for their endorsement.",
            links=links,
        )


def _stale_checkin(ix: _Index) -> Iterator[Finding]:
    tz = ix.snap.tz
    for kr in ix.live_krs:
        cycle = ix.cycle_of(kr)
        if cycle is None or not (cycle.start <= ix.today <= kr.due):
            continue
        a = ix.assessments.get(kr.id)
        if (a.progress if a is not None else ix.progress(kr)) >= 1.0:
            continue
        owner = ix.unit(kr.owner_unit_id)
        every = f"{owner} checks in every {_days(kr.cadence_days)}"
        if kr.last_checkin_at is not None:
            age = ix.age(kr.last_checkin_at)
            if not checkin_overdue(age, kr.cadence_days):
                continue
            last = ix.local_date(kr.last_checkin_at)
            title = f"{ix.kr_label(kr)} has had no check-in for {_days(age.days)}"
            line = f"The last check-in was on {last}, {_days(age.days)} ago; {every}"
        else:
            age = ix.age(cycle_origin(cycle.start, tz))
            if not checkin_overdue(age, kr.cadence_days):
                continue
            title = f"{ix.kr_label(kr)} has had no check-in yet"
            line = (
                f"No check-in since {ix.cycle(cycle.id)} began on {cycle.start}, "
                f"{_days(age.days)} ago; {every}"
            )
        yield ix.finding(
            "STALE_CHECKIN",
            ("kr", kr.id),
            units=(kr.owner_unit_id, *kr.co_owner_ids),
            title=title,
            explanation=(line,),
            suggestion=f"{owner} to check in: the current value, a confidence and any blockers.",
        )


def _off_pace(ix: _Index) -> Iterator[Finding]:
    # ~100,000 of these in the enterprise profile: what every one says the same is made once.
    margin = (
        f"More than {ix.th.margins.at_risk * 100:.0f} points below the pace line counts as "
        "off track"
    )
    assessments = ix.assessments
    for kr in ix.live_krs:
        a = assessments.get(kr.id)
        if a is None or a.status != Status.OFF_TRACK:
            continue
        cycle = ix.cycle_of(kr)
        start = cycle.start if cycle is not None else "the cycle start"
        label, progress, expected = ix.kr_label(kr), _pct(a.progress), _pct(a.expected)
        yield ix.finding(
            "OFF_PACE",
            ("kr", kr.id),
            units=(kr.owner_unit_id, *kr.co_owner_ids),
            title=f"{label} is off pace: {progress} where {expected} is expected",
            explanation=(
                f"{label} stands at {progress} on {ix.today}",
                f"The pace line from {start} to its due date {kr.due} expects {expected} by now",
                margin,
            ),
            suggestion="Agree a recovery plan with the owner, or re-scope the key result.",
        )


def _likely_miss(ix: _Index) -> Iterator[Finding]:
    for kr in ix.live_krs:
        a = ix.assessments.get(kr.id)
        if a is None or not a.likely_miss:
            continue
        if a.forecast_value is None or a.forecast_progress is None:  # pragma: no cover
            continue
        cycle = ix.cycle_of(kr)
        start = cycle.start if cycle is not None else "the cycle start"
        if kr.sums.n == 1:
            trend = (
                f"The line from the start value {_num(kr.start)} on {start} through the "
                f"only check-in projects {_num(a.forecast_value)} by {kr.due}"
            )
        else:
            trend = (
                f"The trend line through {kr.sums.n} check-ins since {start} projects "
                f"{_num(a.forecast_value)} by {kr.due}"
            )
        need = success_threshold(kr.commitment)
        yield ix.finding(
            "LIKELY_MISS",
            ("kr", kr.id),
            units=(kr.owner_unit_id, *kr.co_owner_ids),
            title=f"{ix.kr_label(kr)} is likely to miss: forecast {_pct(a.forecast_progress)} "
            f"by {kr.due}",
            explanation=(
                trend,
                f"That is {_pct(a.forecast_progress)} progress towards the target "
                f"{_num(kr.target)}; a {kr.commitment} key result needs {_pct(need)}",
            ),
            suggestion="Review the plan with the owner: add initiatives, clear blockers, or "
            "re-scope the target.",
        )


def _low_confidence(ix: _Index) -> Iterator[Finding]:
    for kr in ix.live_krs:
        c = kr.last_confidence
        if c is None or c > ix.th.low_confidence or ix.is_done(kr):
            continue
        when = ""
        if kr.last_checkin_at is not None:
            when = f" on {ix.local_date(kr.last_checkin_at)}"
        yield ix.finding(
            "LOW_CONFIDENCE",
            ("kr", kr.id),
            units=(kr.owner_unit_id, *kr.co_owner_ids),
            title=f"{ix.kr_label(kr)}: the owner's confidence is {c}/10",
            explanation=(
                f"The last check-in{when} gave confidence {c} out of 10",
                f"{ix.th.low_confidence} or less counts as low",
            ),
            suggestion="Ask the owner what stands in the way and who can help.",
        )


def _target_text(kr: KRSnap) -> str:
    if kr.kind == KRKind.AT_LEAST:
        return f"keep it at least {_num(kr.target)}"
    if kr.kind == KRKind.AT_MOST:
        return f"keep it at most {_num(kr.target)}"
    return f"{kr.kind} from {_num(kr.start)} to {_num(kr.target)}"


def _conflicting_targets(ix: _Index) -> Iterator[Finding]:
    groups: dict[tuple[int, int], tuple[list[KRSnap], list[KRSnap]]] = {}
    for kr in ix.live_krs:
        if kr.kpi_id is None:
            continue
        cycle_id = ix.objectives[kr.objective_id].cycle_id
        pushing_up, pushing_down = groups.setdefault((cycle_id, kr.kpi_id), ([], []))
        if kr.kind in _PUSH_UP:
            pushing_up.append(kr)
        elif kr.kind in _PUSH_DOWN:
            pushing_down.append(kr)
    for (cycle_id, kpi_id), (ups, downs) in groups.items():
        kpi = ix.kpi(kpi_id)
        for up in ups:
            for down in downs:
                low, high = sorted((up, down), key=lambda k: k.id)
                owners = sorted({ix.unit(up.owner_unit_id), ix.unit(down.owner_unit_id)})
                who = f"Bring {_join(owners)} together" if len(owners) > 1 else owners[0]
                yield ix.finding(
                    "CONFLICTING_TARGETS",
                    ("kr", low.id),
                    units=(up.owner_unit_id, down.owner_unit_id),
                    title=f"{ix.kr_label(up)} and {ix.kr_label(down)} push {kpi} in opposite "
                    "directions",
                    explanation=(
                        f"{ix.kr_label(up)} pushes {kpi} up ({_target_text(up)})",
                        f"{ix.kr_label(down)} pushes {kpi} down ({_target_text(down)})",
                        f"Both are in {ix.cycle(cycle_id)}",
                    ),
                    suggestion=f"{who} to agree which way {kpi} should go, or follow "
                    "different metrics.",
                    links=(("kr", high.id), ("kpi", kpi_id)),
                    key_suffix=f":kr:{high.id}",
                )


def _over_capacity(ix: _Index) -> Iterator[Finding]:
    weeks: dict[tuple[int, dt.date], list[DependencySnap]] = defaultdict(list)
    for d in ix.snap.dependencies:
        if d.state != DependencyState.ACCEPTED:
            continue
        u = ix.units.get(d.provider_unit_id)
        if u is None or u.weekly_capacity is None:
            continue
        monday = d.needed_by - dt.timedelta(days=d.needed_by.weekday())
        weeks[(u.id, monday)].append(d)
    for (unit_id, monday), deps in sorted(weeks.items()):
        u = ix.units[unit_id]
        capacity = u.weekly_capacity or 0.0
        total = sum(d.effort for d in deps)
        if total <= capacity:
            continue
        year, week, _ = monday.isocalendar()
        measure = u.capacity_unit
        yield ix.finding(
            "OVER_CAPACITY",
            ("unit", unit_id),
            units=(unit_id, *(d.requester_unit_id for d in deps)),
            title=f"{u.name} is over capacity in week {year}-W{week:02d}: {_num(total)} of "
            f"{_num(capacity)} {measure}",
            explanation=[
                *(
                    f"'{d.title}' for {ix.unit(d.requester_unit_id)}, needed by {d.needed_by}: "
                    f"{_num(d.effort)} {measure}"
                    for d in sorted(deps, key=lambda d: (d.needed_by, d.id))
                ),
                f"Together {_num(total)} {measure} in the week of {monday}, against a weekly "
                f"capacity of {_num(capacity)} {measure}",
            ],
            suggestion=f"Move some of this work to another week or unit, or raise {u.name}'s "
            "capacity for that week.",
            links=[("dependency", d.id) for d in deps],
            key_suffix=f":week:{year}-W{week:02d}",
        )


def _overloaded_unit(ix: _Index) -> Iterator[Finding]:
    carried: dict[tuple[int, int], dict[int, str]] = defaultdict(dict)
    for o in ix.live_objectives:
        for unit_id in o.contributor_ids:
            carried[(unit_id, o.cycle_id)][o.id] = "contributes to"
        if o.owner_unit_id is not None:
            carried[(o.owner_unit_id, o.cycle_id)][o.id] = "owns"
    limit = ix.th.max_objectives_per_unit
    for (unit_id, cycle_id), objectives in sorted(carried.items()):
        if len(objectives) <= limit:
            continue
        unit = ix.unit(unit_id)
        yield ix.finding(
            "OVERLOADED_UNIT",
            ("unit", unit_id),
            units=(unit_id,),
            title=f"{unit} carries {len(objectives)} objectives in {ix.cycle(cycle_id)}, "
            f"more than {limit}",
            explanation=[
                *(
                    f"{unit} {role} {ix.objective_label(ix.objectives[oid])}"
                    for oid, role in sorted(objectives.items())
                ),
                f"The limit is {limit} objectives per unit and cycle",
            ],
            suggestion=f"Help {unit} focus: merge, drop or move objectives to a later cycle.",
            links=[("objective", oid) for oid in sorted(objectives)],
            key_suffix=f":cycle:{cycle_id}",
        )
    kr_limit = ix.th.max_krs_per_objective
    for o in ix.live_objectives:
        krs = ix.krs_by_objective.get(o.id, [])
        if len(krs) <= kr_limit:
            continue
        name = ix.objective_label(o)
        yield ix.finding(
            "OVERLOADED_UNIT",
            ("objective", o.id),
            units=(o.owner_unit_id, *(k.owner_unit_id for k in krs)),
            title=f"{name} has {len(krs)} key results, more than {kr_limit}",
            explanation=[
                f"{name} has {len(krs)} key results: "
                + "; ".join(k.title for k in sorted(krs, key=lambda k: k.id)),
                f"The limit is {kr_limit} key results per objective",
            ],
            suggestion="Keep the few key results that matter most; track the rest as "
            "initiatives or move them to another objective.",
            links=[("kr", k.id) for k in krs],
        )


def _single_point_of_failure(ix: _Index) -> Iterator[Finding]:
    leaning: dict[int, dict[int, list[tuple[KRSnap, DependencySnap]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for d in ix.snap.dependencies:
        if d.state in _NOT_RELIED_ON:
            continue
        for kr in ix.committed_krs_served(d.requester_item):
            owner = kr.owner_unit_id
            if owner is not None and owner != d.provider_unit_id:
                leaning[d.provider_unit_id][owner].append((kr, d))
    for provider_id, by_unit in sorted(leaning.items()):
        if len(by_unit) < ix.th.single_point_min_units:
            continue
        provider = ix.unit(provider_id)
        pairs = sorted(
            (pair for pairs in by_unit.values() for pair in pairs),
            key=lambda p: (p[0].owner_unit_id or 0, p[0].id, p[1].id),
        )
        yield ix.finding(
            "SINGLE_POINT_OF_FAILURE",
            ("unit", provider_id),
            units=(provider_id, *by_unit),
            title=f"Committed key results of {len(by_unit)} units depend on {provider}",
            explanation=[
                f"{ix.kr_label(kr)} (committed) needs '{d.title}' from {provider} by {d.needed_by}"
                for kr, d in pairs
            ],
            suggestion=f"Make sure {provider} has the capacity and a fallback for these "
            "requests; consider a second provider for the most critical ones.",
            links=[ref for kr, d in pairs for ref in (("kr", kr.id), ("dependency", d.id))],
        )


def _task_not_outcome(ix: _Index) -> Iterator[Finding]:
    for o in ix.live_objectives:
        krs = ix.krs_by_objective.get(o.id, [])
        if len(krs) < 2:
            continue
        tasks = [k for k in krs if k.kind == KRKind.MILESTONE]
        if len(tasks) / len(krs) <= ix.th.task_share:
            continue
        name = ix.objective_label(o)
        yield ix.finding(
            "TASK_NOT_OUTCOME",
            ("objective", o.id),
            units=(o.owner_unit_id, *(k.owner_unit_id for k in tasks)),
            title=f"{name}: {len(tasks)} of {len(krs)} key results are tasks, not outcomes",
            explanation=(
                f"{len(tasks)} of its {len(krs)} key results are milestones: "
                + "; ".join(k.title for k in sorted(tasks, key=lambda k: k.id)),
                f"More than {_pct(ix.th.task_share)} milestones reads as a to-do list rather "
                "than measurable outcomes",
            ),
            suggestion="Replace some milestones with the outcome they should produce (a number "
            "that moves), and track the tasks as initiatives.",
            links=[("kr", k.id) for k in tasks],
        )


def _unowned_shared_kpi(ix: _Index) -> Iterator[Finding]:
    following: dict[int, list[KRSnap]] = defaultdict(list)
    for kr in ix.live_krs:
        if kr.kpi_id is not None:
            following[kr.kpi_id].append(kr)
    for kpi_id, krs in sorted(following.items()):
        kpi = ix.kpis.get(kpi_id)
        if kpi is None or kpi.owner_unit_ids:
            continue
        units = sorted({k.owner_unit_id for k in krs if k.owner_unit_id is not None})
        if len(units) < 2:
            continue
        names = _join(ix.unit(u) for u in units)
        yield ix.finding(
            "UNOWNED_SHARED_KPI",
            ("kpi", kpi_id),
            units=units,
            title=f"{kpi.name} is followed by {len(units)} units but owned by none",
            explanation=[
                *(f"{ix.kr_label(k)} follows {kpi.name}" for k in sorted(krs, key=lambda k: k.id)),
                f"No unit owns {kpi.name}",
            ],
            suggestion=f"Name the owners of {kpi.name}: {names} jointly, or one of them.",
            links=[("kr", k.id) for k in krs],
        )


_RULES: dict[str, Callable[[_Index], Iterable[Finding]]] = {
    "ORPHAN_OBJECTIVE": _orphan_objective,
    "UNCOVERED_COMPANY_OBJECTIVE": _uncovered_company_objective,
    "SILENT_CONTRIBUTOR": _silent_contributor,
    "NO_OWNER": _no_owner,
    "DEPENDENCY_UNANSWERED": _dependency_unanswered,
    "DEPENDENCY_DECLINED": _dependency_declined,
    "DEPENDENCY_TOO_LATE": _dependency_too_late,
    "DEPENDENCY_CYCLE": _dependency_cycle,
    "UPSTREAM_AT_RISK": _upstream_at_risk,
    "BUBBLE_GOAL": _bubble_goal,
    "STALE_CHECKIN": _stale_checkin,
    "OFF_PACE": _off_pace,
    "LIKELY_MISS": _likely_miss,
    "LOW_CONFIDENCE": _low_confidence,
    "CONFLICTING_TARGETS": _conflicting_targets,
    "OVER_CAPACITY": _over_capacity,
    "OVERLOADED_UNIT": _overloaded_unit,
    "SINGLE_POINT_OF_FAILURE": _single_point_of_failure,
    "TASK_NOT_OUTCOME": _task_not_outcome,
    "UNOWNED_SHARED_KPI": _unowned_shared_kpi,
}


def analyse(snapshot: Snapshot, *, codes: Collection[str] | None = None) -> list[Finding]:
    """Every finding in the snapshot (only those of `codes` when given), errors first."""
    chosen = list(CATALOGUE) if codes is None else sorted(set(codes))
    unknown = [c for c in chosen if c not in _RULES]
    if unknown:
        raise ValueError(f"unknown finding codes: {', '.join(unknown)}")
    # Errors first, then by code and key: each code has one severity, so each rule's
    # findings are sorted by key alone and the rules are taken in (severity, code) order.
    chosen.sort(key=lambda code: (_SEVERITY_ORDER[CATALOGUE[code][0]], code))
    with cyclic_gc_paused():
        ix = _Index(snapshot)
        found = []
        for code in chosen:
            found.extend(sorted(_RULES[code](ix), key=attrgetter("key")))
    return found


def ref_key(ref: Ref, keys: Mapping[Ref, str]) -> str:
    """A finding's subject or link as the plan names it: "kr:fx-visits"."""
    return f"{ref[0]}:{keys.get(ref, f'#{ref[1]}')}"


def finding_row(finding: Finding, keys: Mapping[Ref, str]) -> dict[str, Any]:
    """A finding as plain data, naming its subject, units and links by key (kind, id) -> key."""
    return {
        "severity": finding.severity.value,
        "code": finding.code,
        "subject": ref_key(finding.subject, keys),
        "title": finding.title,
        "units": [keys.get(("unit", u), f"#{u}") for u in finding.unit_ids],
        "explanation": list(finding.explanation),
        "suggestion": finding.suggestion,
        "links": [ref_key(ref, keys) for ref in finding.links],
    }
