"""Reads for the signed-in person's own pages: "My week" and the weekly check-in.

Whose key results are "mine" is decided once, in `my_key_results`, so both pages list the
same ones: the KRs I own myself, and those a unit I belong to (as leader or member) owns or
co-owns, in a cycle that runs today and that can still take a check-in. A unit's sub-units
are not included: their people check in on their own KRs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from lockstep.alignment.models import Dependency, Finding, Review
from lockstep.alignment.selectors import dependency_findings, findings_hidden, findings_query
from lockstep.core.forecast import checkin_overdue, cycle_origin
from lockstep.core.progress import KRKind, Status
from lockstep.core.snapshot import DependencyState
from lockstep.goals import selectors as goal_selectors
from lockstep.goals.models import CheckIn, Cycle, Initiative, KeyResult, Objective
from lockstep.org.models import Membership, Organisation, Person, Unit
from lockstep.org.roles import WRITERS

S = DependencyState
# How far ahead "coming up" looks.
UPCOMING_DAYS = 14
# Findings shown on My week; the findings page has the rest.
FINDINGS_SHOWN = 8
# Finding codes about a dependency that put its delivery at risk (the rest are notes).
DEPENDENCY_RISKS = {"DEPENDENCY_TOO_LATE", "DEPENDENCY_DECLINED", "DEPENDENCY_UNANSWERED"}


# ---- whose things are mine ---------------------------------------------------------------


@dataclass(frozen=True)
class MyUnits:
    """The units the person belongs to, the ones they lead, and the ones they work in."""

    units: list[Unit]
    leads: set[int]
    works: set[int]  # leader or member: the units whose KRs they check in on

    @property
    def ids(self) -> set[int]:
        return {u.pk for u in self.units}


def my_units(me: Person) -> MyUnits:
    """The live units the person belongs to (any role), by name."""
    memberships = list(
        Membership.objects.filter(person=me, unit__archived_at__isnull=True)
        .select_related("unit")
        .order_by("unit__name")
    )
    return MyUnits(
        units=[m.unit for m in memberships],
        leads={m.unit_id for m in memberships if m.role == Membership.Role.LEADER},
        works={m.unit_id for m in memberships if m.role in WRITERS},
    )


def my_key_results(me: Person, unit_ids: Iterable[int], today: dt.date) -> QuerySet[KeyResult]:
    """The KRs the person must check in on (the rule in the module docstring)."""
    ids = list(unit_ids)
    return (
        goal_selectors.key_results_query(me.organisation)
        .filter(
            Q(owner_person=me) | Q(owner_unit_id__in=ids) | Q(co_owners__in=ids),
            archived_at__isnull=True,
            objective__archived_at__isnull=True,
            objective__cycle__start__lte=today,
            objective__cycle__end__gte=today,
        )
        .exclude(objective__state=Objective.State.CLOSED)
        .prefetch_related(None)  # neither page lists co-owners
        .distinct()
    )


# ---- key results to check in on ------------------------------------------------------------


@dataclass(frozen=True)
class KRDue:
    """A KR with its numbers and when its next check-in falls due (by its cadence)."""

    kr: KeyResult
    numbers: goal_selectors.KRNumbers
    due_at: dt.datetime
    now: dt.datetime

    @property
    def done(self) -> bool:
        return self.numbers.status is Status.DONE

    @property
    def overdue(self) -> bool:
        # The STALE_CHECKIN finding's rule: more than the cadence since the last check-in.
        since = self.due_at - dt.timedelta(days=self.kr.cadence_days)
        return not self.done and checkin_overdue(self.now - since, self.kr.cadence_days)

    @property
    def days_overdue(self) -> int:
        return max(0, (self.now - self.due_at).days)

    @property
    def days_left(self) -> int:
        # Whole days, rounded up: just checked in on a weekly KR, it is due "in 7 days".
        return max(0, -((self.now - self.due_at) // dt.timedelta(days=1)))


def checkin_due_at(kr: KeyResult, tz: dt.tzinfo) -> dt.datetime:
    """The moment a KR's next check-in is due: its cadence after the last one (or the cycle start)."""
    since = kr.last_checkin_at or cycle_origin(kr.objective.cycle.start, tz)
    return since + dt.timedelta(days=kr.cadence_days)


def krs_due(
    krs: Iterable[KeyResult], *, organisation: Organisation, now: dt.datetime
) -> list[KRDue]:
    """KRs with their numbers, overdue check-ins first (longest overdue first), done ones last."""
    tz = goal_selectors.org_tz(organisation)
    rows = [
        KRDue(
            kr=kr,
            numbers=goal_selectors.kr_numbers(kr, organisation=organisation, at=now),
            due_at=checkin_due_at(kr, tz),
            now=now,
        )
        for kr in krs
    ]
    return sorted(rows, key=lambda r: (r.done, r.due_at, r.kr.title, r.kr.pk))


# ---- dependencies --------------------------------------------------------------------------


@dataclass(frozen=True)
class DepLine:
    """An open dependency as My week shows it: who, by when, how long waiting, what risks it."""

    dep: Dependency
    today: dt.date
    tz: dt.tzinfo
    findings: list[Finding] = field(default_factory=list)

    @property
    def days_waiting(self) -> int:
        # A counter offer waits on the requester from when it was made.
        since = self.dep.answered_at if self.dep.state == S.COUNTERED else self.dep.requested_at
        return max(0, (self.today - timezone.localdate(since, self.tz)).days) if since else 0

    @property
    def late(self) -> bool:
        """Past the date it is needed by and still open (Dependency.is_late)."""
        return self.dep.is_late(self.today)

    @property
    def days_late(self) -> int:
        return (self.today - self.dep.needed_by).days

    @property
    def days_to_go(self) -> int:
        return (self.dep.needed_by - self.today).days

    @property
    def risks(self) -> list[Finding]:
        return [f for f in self.findings if f.code in DEPENDENCY_RISKS or f.severity == "error"]

    @property
    def at_risk(self) -> bool:
        return self.late or bool(self.risks) or self.dep.state == S.COUNTERED


@dataclass(frozen=True)
class MyDependencies:
    to_answer: list[DepLine]
    we_owe: list[DepLine]
    owed_to_us: list[DepLine]

    @property
    def open(self) -> list[DepLine]:
        seen: dict[int, DepLine] = {}
        for line in (*self.to_answer, *self.we_owe, *self.owed_to_us):
            seen.setdefault(line.dep.pk, line)
        return list(seen.values())


def my_dependencies(me: Person, unit_ids: set[int], today: dt.date) -> MyDependencies:
    """Open dependencies of the units, split as the dependency board splits them.

    To answer: requests made of my units, and new dates my units were offered. We owe:
    accepted (or re-dated) requests my units deliver. Owed to us: what my units asked for.
    """
    live = list(
        Dependency.objects.filter(organisation=me.organisation, state__in=Dependency.OPEN_STATES)
        .filter(Q(requester_unit_id__in=unit_ids) | Q(provider_unit_id__in=unit_ids))
        .select_related("requester_unit", "provider_unit", "requester_kr", "requester_initiative")
        .order_by("needed_by", "id")
    )
    about = dependency_findings(me.organisation, [d.pk for d in live], me)
    tz = goal_selectors.org_tz(me.organisation)

    def lines(keep: Callable[[Dependency], bool]) -> list[DepLine]:
        return [DepLine(d, today, tz, about.get(d.pk, [])) for d in live if keep(d)]

    def ours(unit_id: int) -> bool:
        return unit_id in unit_ids

    return MyDependencies(
        to_answer=lines(
            lambda d: (
                (ours(d.provider_unit_id) and d.state == S.REQUESTED)
                or (ours(d.requester_unit_id) and d.state == S.COUNTERED)
            )
        ),
        we_owe=lines(lambda d: ours(d.provider_unit_id) and d.state in (S.ACCEPTED, S.COUNTERED)),
        owed_to_us=lines(
            lambda d: ours(d.requester_unit_id) and d.state in (S.REQUESTED, S.ACCEPTED)
        ),
    )


# ---- findings and reviews ------------------------------------------------------------------


@dataclass(frozen=True)
class MyFindings:
    shown: list[Finding]
    total: int
    errors: int


def my_findings(organisation: Organisation, unit_ids: set[int], viewer: Person) -> MyFindings:
    """Stored findings naming any of the units, most severe first (the first few of them)."""
    about = Finding.objects.filter(organisation=organisation, units__in=unit_ids).filter(
        findings_hidden(organisation, viewer)
    )
    counts = dict(
        about.order_by()
        .values_list("severity")
        .annotate(n=Count("pk", distinct=True))
        .values_list("severity", "n")
    )
    shown = list(
        findings_query(organisation)
        .prefetch_related(None)  # the page names the finding, not its units
        .filter(pk__in=about.values("pk"))[:FINDINGS_SHOWN]
    )
    return MyFindings(
        shown=shown,
        total=sum(counts.values()),
        errors=counts.get(Finding.Severity.ERROR, 0),
    )


def reviews_waiting(organisation: Organisation, unit_ids: set[int]) -> list[Review]:
    """Peer reviews asked of the units that they have not answered yet, oldest first."""
    return list(
        Review.objects.filter(
            organisation=organisation, unit_id__in=unit_ids, state=Review.State.PENDING
        )
        .select_related("objective__owner_unit", "unit", "requested_by")
        .order_by("requested_at", "id")
    )


# ---- coming up -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DateAhead:
    """A date in the next two weeks that concerns the person's units."""

    day: dt.date
    kind: str  # "kr", "initiative", "dependency", "cycle"
    label: str
    title: str
    url_name: str = ""
    url_arg: int | None = None
    anchor: str = ""
    unit: str = ""


def dates_ahead(
    me: Person,
    unit_ids: set[int],
    krs: Sequence[KeyResult],
    deps: Sequence[Dependency],
    today: dt.date,
) -> list[DateAhead]:
    """KR due dates, initiatives, needed-by dates and cycle ends from today to UPCOMING_DAYS."""
    last = today + dt.timedelta(days=UPCOMING_DAYS)
    out: list[DateAhead] = []
    for kr in krs:
        due = goal_selectors.kr_due(kr)
        if today <= due <= last:
            out.append(
                DateAhead(
                    due,
                    "kr",
                    "Key result due",
                    kr.title,
                    "objective-detail",
                    kr.objective_id,
                    f"#kr-{kr.pk}",
                    kr.owner_unit.name if kr.owner_unit else "",
                )
            )
    initiatives = (
        Initiative.objects.filter(
            Q(owner_unit_id__in=unit_ids) | Q(assignee=me),
            organisation=me.organisation,
            archived_at__isnull=True,
            due__gte=today,
            due__lte=last,
        )
        .exclude(state__in=(Initiative.State.DONE, Initiative.State.CANCELLED))
        .select_related("owner_unit")
    )
    for i in initiatives:
        assert i.due is not None  # filtered on
        out.append(
            DateAhead(i.due, "initiative", "Initiative due", i.title, unit=i.owner_unit.name)
        )
    for d in deps:
        if today <= d.needed_by <= last:
            out.append(
                DateAhead(
                    d.needed_by,
                    "dependency",
                    "Dependency needed",
                    d.title,
                    "dependency-detail",
                    d.pk,
                    unit=f"{d.provider_unit.name} → {d.requester_unit.name}",
                )
            )
    for c in Cycle.objects.filter(organisation=me.organisation, end__gte=today, end__lte=last):
        out.append(DateAhead(c.end, "cycle", "Cycle ends", c.name))
    kinds = ("cycle", "kr", "dependency", "initiative")
    return sorted(out, key=lambda a: (a.day, kinds.index(a.kind), a.title))


# ---- the pages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MyWeek:
    """Everything the My week page shows."""

    mine: MyUnits
    checkins: list[KRDue]
    dependencies: MyDependencies
    findings: MyFindings
    reviews: list[Review]
    ahead: list[DateAhead]
    today: dt.date

    @property
    def overdue(self) -> int:
        return sum(1 for r in self.checkins if r.overdue)

    @property
    def late_dependencies(self) -> int:
        return sum(1 for line in self.dependencies.open if line.late)


def my_week(me: Person, *, now: dt.datetime | None = None) -> MyWeek:
    """What the person must do this week and what waits on or for their units."""
    org = me.organisation
    now = now or timezone.now()
    today = timezone.localdate(now, timezone=goal_selectors.org_tz(org))
    mine = my_units(me)
    krs = list(my_key_results(me, mine.works, today))
    deps = my_dependencies(me, mine.ids, today)
    return MyWeek(
        mine=mine,
        checkins=krs_due(krs, organisation=org, now=now),
        dependencies=deps,
        findings=my_findings(org, mine.ids, me),
        reviews=reviews_waiting(org, mine.ids),
        ahead=dates_ahead(me, mine.ids, krs, [line.dep for line in deps.open], today),
        today=today,
    )


def steps_last_done(krs: Iterable[KeyResult]) -> dict[int, list[int]]:
    """The steps the latest check-in of each milestone-with-steps KR left done, in one query."""
    ids = [kr.pk for kr in krs if kr.kind == KRKind.MILESTONE and kr.steps and kr.checkin_count]
    if not ids:
        return {}
    latest = (
        CheckIn.objects.filter(key_result_id__in=ids)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("key_result_id"),
                order_by=[F("at").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .values_list("key_result_id", "steps_done")
    )
    return {kr_id: list(steps or []) for kr_id, steps in latest}


def checkin_preview(
    kr: KeyResult, *, organisation: Organisation, value: float, at: dt.datetime | None = None
) -> goal_selectors.KRNumbers:
    """Progress, pace and status the KR would have if `value` were checked in now; writes nothing.

    The same kr_pace the check-in service stores its numbers with, on the KR as it would
    stand: the new value current and one check-in more.
    """
    at = at or timezone.now()
    progress, expected, status = goal_selectors.kr_pace(
        kind=kr.kind,
        start=kr.start,
        target=kr.target,
        current_value=value,
        checkin_count=kr.checkin_count + 1,
        cycle_start=kr.objective.cycle.start,
        due=goal_selectors.kr_due(kr),
        tz=goal_selectors.org_tz(organisation),
        margins=goal_selectors.margins_of(organisation),
        at=at,
    )
    return goal_selectors.KRNumbers(progress=progress, expected=expected, status=status)
