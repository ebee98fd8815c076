"""A deterministic synthetic organisation of any size, for scale tests and benchmarks.

`synth_generate` builds a believable organisation around `now`: a unit tree (company →
divisions → departments → teams of about eight people) sized so that every unit carries
three to five objectives in the quarter; one quarter cycle with its weekly micro-cycles;
three to five key results per objective of every kind, a fifth of them jointly owned;
shared objectives across departments; contribution links up to the company objectives
(a DAG by construction: a link always points to a higher level, team → department →
division → company, and a week's goal to its team's quarter goal); KPIs with owners and
weekly data points; initiatives driving key results; about one cross-unit dependency per
seven key results, in every state of its lifecycle; peer reviews of the objectives that
rely on other units; and weekly check-ins from 20 to 60 % of the key results up to `now`.

This is a bulk path, not a service. It writes with `bulk_create` in batches inside one
transaction and bypasses the services on purpose: they validate, lock and record an
activity event per row, which would take hours for 50,000 key results. Instead every
database constraint holds by construction, and each key result's running fields
(current value, last check-in and confidence, count and least-squares sums) are computed
exactly as `goals.services.checkin_record` would have left them after recording the same
check-ins in time order: t in days since the cycle start in the organisation's time zone,
through `core.forecast.days_since` and `sums_add`. No activity event is recorded per item;
one `organisation.synthesised` event is written at the end, directly rather than through
`activity.services.event_record`, so that the findings store's subscriber does not run a
full analysis inside the generator. Call `alignment.services.findings_refresh_full`
afterwards to store the findings. On PostgreSQL the written tables are analysed once
committed (`bulk.tables_analyze`), so the planner sees their real sizes.

Everything is planned in memory first from one `random.Random(seed)` consumed in a fixed
order, then written; so the same seed, size, `now`, `weeks` and time zone give the same
rows, apart from database ids and creation timestamps.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
import unicodedata
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from lockstep.activity.models import ActivityEvent
from lockstep.alignment.models import Dependency, Review
from lockstep.bulk import bulk_insert, ids_reserve, tables_analyze
from lockstep.core.forecast import cycle_origin, days_since, sums_add
from lockstep.core.progress import Commitment, KRKind
from lockstep.core.snapshot import CheckInSums, DependencyState
from lockstep.errors import ValidationFailed
from lockstep.goals.models import (
    KPI,
    CheckIn,
    ContributionLink,
    Cycle,
    Initiative,
    KeyResult,
    KPIDataPoint,
    Objective,
    ObjectiveContributor,
)
from lockstep.keys import is_valid_key
from lockstep.org.models import Membership, Organisation, Person, Unit
from lockstep.synth import names
from lockstep.synth.names import Metric

MIN_KRS = 60
# Every table `_write` fills, for ANALYZE once they are written.
WRITTEN: tuple[type[models.Model], ...] = (
    Organisation,
    Unit,
    Person,
    Membership,
    Cycle,
    KPI,
    KPI.owner_units.through,
    KPIDataPoint,
    Objective,
    ObjectiveContributor,
    ContributionLink,
    KeyResult,
    KeyResult.co_owners.through,
    CheckIn,
    Initiative,
    Initiative.key_results.through,
    Dependency,
    Review,
    ActivityEvent,
)
# Every objective gets this many key results, and each unit this many objectives a quarter.
KRS_PER_OBJECTIVE = (3, 5)
OBJECTIVES_PER_UNIT = (3, 5)
KRS_PER_DEPENDENCY = 7
CO_OWNED_SHARE = 0.2
SHARED_SLOT_SHARE = 0.15
# Each week a share of key results drawn from this range checks in (a KR's diligence
# scales it), so weekly coverage stays inside 20-60 % once early due dates are counted.
WEEKLY_CHECKIN_RATE = (0.35, 0.5)


@dataclass(frozen=True)
class Profile:
    """A named size of synthetic organisation: its key results and how much of the quarter is over."""

    name: str
    krs: int
    elapsed_weeks: int
    about: str


# `now` falls in the quarter's last week, so twelve weeks of check-ins lie behind it.
PROFILES = {
    p.name: p
    for p in (
        Profile("small", 1_000, 12, "about 1,000 KRs, 60 units"),
        Profile("enterprise", 350_000, 12, "about 350,000 KRs, 80,000 objectives, 22,000 units"),
        Profile("planet", 1_000_000, 12, "about 1,000,000 KRs, 62,000 units"),
    )
}

S = DependencyState
_DAY = dt.timedelta(days=1)
_UTC = dt.UTC


@dataclass(frozen=True)
class SynthStats:
    """What `synth_generate` wrote."""

    organisation_id: int
    slug: str
    units: int
    people: int
    cycles: int
    objectives: int
    shared_objectives: int
    contribution_links: int
    key_results: int
    co_owned_key_results: int
    checkins: int
    kpis: int
    kpi_points: int
    initiatives: int
    dependencies: int
    reviews: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- the plan: plain records, indexes instead of foreign keys ---------------------------


@dataclass(slots=True)
class _Unit:
    key: str
    name: str
    kind: str
    parent: int | None
    department: int | None  # the department it sits in (itself for a department)
    division: int | None
    capacity: float | None = None
    capacity_unit: str = "hours"
    people: list[int] = field(default_factory=list)  # the first one leads
    krs: list[int] = field(default_factory=list)  # quarter KRs it owns
    initiatives: list[int] = field(default_factory=list)
    objectives: list[int] = field(default_factory=list)  # quarter objectives it owns


@dataclass(slots=True)
class _Person:
    name: str
    email: str
    unit: int
    role: str
    admin: bool = False


@dataclass(slots=True)
class _Cycle:
    key: str
    name: str
    kind: str
    start: dt.date
    end: dt.date
    parent: int | None


@dataclass(slots=True)
class _Objective:
    key: str
    title: str
    level: str
    owner: int | None
    contributors: list[int]
    cycle: int
    state: str
    parents: list[tuple[int, float]] = field(default_factory=list)
    n_krs: int = 0
    krs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _KPI:
    key: str
    name: str
    metric: Metric
    base: float
    owners: list[int]


# (at in UTC, value, steps done, confidence, note, blockers, blocking unit, author, source)
_CheckIn = tuple[dt.datetime, float, list[int] | None, int, str, str, int | None, int | None, str]


@dataclass(slots=True)
class _KR:
    key: str
    title: str
    objective: int
    kind: KRKind
    start: float
    target: float
    measure: str
    steps: list[str]
    weight: float
    due: dt.date | None
    commitment: str
    owner: int | None
    owner_person: int | None
    co_owners: list[int]
    cadence: int
    kpi: int | None
    fate: float  # the progress its trend reaches by the due date
    diligence: float  # how readily its owner checks in (0: never)
    ceiling: float | None = None
    checkins: list[_CheckIn] = field(default_factory=list)


@dataclass(slots=True)
class _Initiative:
    title: str
    owner: int
    assignee: int | None
    state: str
    due: dt.date
    krs: list[int]


@dataclass(slots=True)
class _Dependency:
    key: str
    title: str
    requester_unit: int
    provider_unit: int
    requester_kr: int | None
    requester_initiative: int | None
    provider_kr: int | None
    provider_initiative: int | None
    needed_by: dt.date
    state: str
    requested_at: dt.datetime
    counter_date: dt.date | None = None
    answered_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    effort: float = 0.0
    reason: str = ""
    requested_by: int | None = None
    answered_by: int | None = None


@dataclass(slots=True)
class _Review:
    objective: int
    unit: int
    state: str
    requested_at: dt.datetime
    answered_at: dt.datetime | None
    requested_by: int | None


# ---- the public entry point -------------------------------------------------------------


def synth_generate(
    *,
    slug: str,
    krs: int,
    seed: int = 1,
    now: dt.datetime | None = None,
    weeks: int = 13,
    elapsed_weeks: int | None = None,
    timezone_name: str = "Europe/Berlin",
) -> SynthStats:
    """Create organisation `slug` with exactly `krs` key results and all around them."""
    began = time.perf_counter()
    if not is_valid_key(slug):
        raise ValidationFailed.on("slug", "use lower-case letters, digits, '-' or '_'")
    if krs < MIN_KRS:
        raise ValidationFailed.on("krs", f"must be at least {MIN_KRS}")
    if not 1 <= weeks <= 53:
        raise ValidationFailed.on("weeks", "must be from 1 to 53")
    if elapsed_weeks is not None and not 0 <= elapsed_weeks < weeks:
        raise ValidationFailed.on("elapsed_weeks", f"must be from 0 to {weeks - 1}")
    try:
        tz = zoneinfo.ZoneInfo(timezone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.on("timezone_name", "unknown time zone") from None
    now = now or timezone.now()
    if timezone.is_naive(now):
        now = timezone.make_aware(now, tz)
    plan = _Plan(
        slug=slug,
        krs=krs,
        seed=seed,
        now=now.astimezone(_UTC),
        weeks=weeks,
        tz=tz,
        elapsed_weeks=elapsed_weeks,
    )
    plan.build()
    with transaction.atomic():
        if Organisation.objects.filter(slug=slug).exists():
            raise ValidationFailed.on("slug", f"{slug!r} is already used")
        stats = _write(plan, timezone_name, began)
    # Once the rows are committed, so the planner's statistics count them (bulk.py).
    tables_analyze(WRITTEN)
    return stats


# ---- planning ---------------------------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _unique(name: str, seen: dict[str, int]) -> str:
    n = seen.get(name, 0) + 1
    seen[name] = n
    return name if n == 1 else f"{name} {n}"


def _fit(counts: list[int], total: int, rng: random.Random, low: int, high: int) -> None:
    """Move the counts one by one, within [low, high], until they add up to `total`."""
    diff = total - sum(counts)
    order = list(range(len(counts)))
    while diff:
        rng.shuffle(order)
        moved = False
        for i in order:
            if diff > 0 and counts[i] < high:
                counts[i] += 1
                diff -= 1
                moved = True
            elif diff < 0 and counts[i] > low:
                counts[i] -= 1
                diff += 1
                moved = True
            if not diff:
                break
        if not moved:
            raise ValueError(f"cannot reach {total} within [{low}, {high}] per item")


class _Plan:
    """Every row of the organisation, decided in memory before anything is written."""

    def __init__(
        self,
        *,
        slug: str,
        krs: int,
        seed: int,
        now: dt.datetime,
        weeks: int,
        tz: zoneinfo.ZoneInfo,
        elapsed_weeks: int | None = None,
    ) -> None:
        self.slug, self.total_krs, self.seed, self.now, self.weeks, self.tz = (
            slug,
            krs,
            seed,
            now,
            weeks,
            tz,
        )
        self.today = now.astimezone(tz).date()
        # By default two thirds of the quarter lie behind `now`.
        elapsed = min(weeks - 1, (weeks * 2) // 3) if elapsed_weeks is None else elapsed_weeks
        self.q_start = self.today - dt.timedelta(days=self.today.weekday(), weeks=elapsed)
        self.q_end = self.q_start + dt.timedelta(days=7 * weeks - 1)
        # The week `now` falls in; weeks after it have no check-ins yet.
        self.current_week = (self.today - self.q_start).days // 7
        self.rng = random.Random(seed)
        self.name = f"Synthetic {slug.replace('-', ' ').replace('_', ' ').title()}"
        self.units: list[_Unit] = []
        self.people: list[_Person] = []
        self.cycles: list[_Cycle] = []
        self.kpis: list[_KPI] = []
        self.kpi_points: list[tuple[int, dt.datetime, float]] = []
        self.objectives: list[_Objective] = []
        self.krs: list[_KR] = []
        self.initiatives: list[_Initiative] = []
        self.dependencies: list[_Dependency] = []
        self.reviews: list[_Review] = []
        self.children: dict[int, list[int]] = defaultdict(list)
        self._midnights: dict[dt.date, dt.datetime] = {}

    def midnight(self, day: dt.date) -> dt.datetime:
        """The start of `day` in the organisation's zone, in UTC."""
        m = self._midnights.get(day)
        if m is None:
            m = self._midnights[day] = cycle_origin(day, self.tz).astimezone(_UTC)
        return m

    def build(self) -> None:
        units_wanted = max(4, round(self.total_krs / 16))
        for attempt in range(50):
            # Each attempt starts from its own seed so a retry is as reproducible as the first.
            self.rng = random.Random(self.seed * 1_000_003 + attempt)
            self.units, self.people, self.objectives = [], [], []
            self._plan_units(units_wanted)
            self._plan_cycles()
            self._plan_objectives()
            n = len(self.objectives)
            low, high = KRS_PER_OBJECTIVE
            if low * n <= self.total_krs <= high * n:
                break
            units_wanted = max(4, round(units_wanted * self.total_krs / (4 * n)))
        else:  # pragma: no cover - the sizing converges in one or two attempts
            raise ValueError(f"could not size an organisation for {self.total_krs} key results")
        counts = [self.rng.randint(*KRS_PER_OBJECTIVE) for _ in self.objectives]
        _fit(counts, self.total_krs, self.rng, *KRS_PER_OBJECTIVE)
        for o, n in zip(self.objectives, counts, strict=True):
            o.n_krs = n
        self._plan_people()
        self._plan_kpis()
        self._plan_krs()
        self._plan_checkins()
        self._plan_initiatives()
        self._plan_dependencies()
        self._plan_reviews()

    # -- units, people, cycles -------------------------------------------------------------

    def _plan_units(self, total: int) -> None:
        rng = self.rng
        n_dept = max(1, round((total - 1) / 6.2))
        n_div = max(1, round(n_dept / 6))
        n_team = max(1, total - 1 - n_div - n_dept)
        units = [_Unit("hq", self.name, Unit.Kind.COMPANY, None, None, None)]
        seen: dict[str, int] = {}
        for d in range(n_div):
            base = names.DIVISIONS[d % len(names.DIVISIONS)]
            region = d // len(names.DIVISIONS)
            if region:
                base = f"{base} {names.REGIONS[(region - 1) % len(names.REGIONS)]}"
            units.append(
                _Unit(f"div-{d + 1:03d}", _unique(base, seen), Unit.Kind.DIVISION, 0, None, 1 + d)
            )
        dept_div = list(range(n_div)) + [rng.randrange(n_div) for _ in range(n_dept - n_div)]
        dept_div.sort()
        first_dept = len(units)
        for i, d in enumerate(dept_div):
            base = names.DEPARTMENTS[(i * 7 + d) % len(names.DEPARTMENTS)]
            idx = len(units)
            capacity: float | None = None
            cap_unit = "hours"
            roll = rng.random()
            if roll < 0.5:
                capacity = float(rng.randint(150, 600))
            elif roll < 0.7:
                capacity, cap_unit = float(rng.randint(30, 150)), "jobs"
            units.append(
                _Unit(
                    f"dept-{i + 1:04d}",
                    _unique(base, seen),
                    Unit.Kind.DEPARTMENT,
                    1 + d,
                    idx,
                    1 + d,
                    capacity,
                    cap_unit,
                )
            )
        weights = [rng.uniform(0.5, 1.5) for _ in range(n_dept)]
        spread = min(n_team, n_dept)
        team_dept = list(range(spread)) + rng.choices(
            range(n_dept), weights=weights, k=n_team - spread
        )
        team_dept.sort()
        for i, d in enumerate(team_dept):
            dept = units[first_dept + d]
            word = names.TEAM_WORDS[i % len(names.TEAM_WORDS)]
            units.append(
                _Unit(
                    f"team-{i + 1:05d}",
                    _unique(f"{dept.name} {word}", seen),
                    Unit.Kind.TEAM,
                    first_dept + d,
                    first_dept + d,
                    dept.division,
                )
            )
        self.units = units
        self.children = defaultdict(list)
        for i, u in enumerate(units):
            if u.parent is not None:
                self.children[u.parent].append(i)

    def _plan_people(self) -> None:
        rng = self.rng
        sizes = {"company": 3, "division": 2, "department": 3}
        for u_idx, unit in enumerate(self.units):
            size = sizes.get(unit.kind) or rng.randint(6, 10)
            for j in range(size):
                first = rng.choice(names.FIRST_NAMES)
                last = rng.choice(names.LAST_NAMES)
                idx = len(self.people)
                self.people.append(
                    _Person(
                        f"{first} {last}",
                        f"{_ascii(first)}.{_ascii(last)}.{idx}@{self.slug}.example",
                        u_idx,
                        Membership.Role.LEADER if j == 0 else Membership.Role.MEMBER,
                        admin=idx == 0,
                    )
                )
                unit.people.append(idx)
            if unit.kind == Unit.Kind.TEAM:
                unit.capacity = float(size * rng.choice((24, 30, 32)))

    def _plan_cycles(self) -> None:
        self.cycles = [
            _Cycle(
                "quarter",
                f"Quarter from {self.q_start:%d %b %Y}",
                Cycle.Kind.QUARTER,
                self.q_start,
                self.q_end,
                None,
            )
        ]
        for w in range(self.weeks):
            start = self.q_start + dt.timedelta(weeks=w)
            self.cycles.append(
                _Cycle(
                    f"week-{w + 1:02d}",
                    f"Week {w + 1} ({start:%d %b})",
                    Cycle.Kind.WEEK,
                    start,
                    start + dt.timedelta(days=6),
                    0,
                )
            )

    # -- objectives --------------------------------------------------------------------------

    def _plan_objectives(self) -> None:
        rng = self.rng
        units = self.units
        remaining = [rng.randint(*OBJECTIVES_PER_UNIT) for _ in units]
        shareable = [i for i, u in enumerate(units) if u.kind in ("department", "team")]
        objectives: list[_Objective] = []
        by_owner: dict[int, list[int]] = defaultdict(list)

        def add(o: _Objective) -> int:
            objectives.append(o)
            return len(objectives) - 1

        def weight() -> float:
            roll = rng.random()
            return 1.0 if roll < 0.8 else 2.0 if roll < 0.9 else 0.5

        def parents_among(pool: Sequence[int], orphan: float) -> list[tuple[int, float]]:
            if not pool or rng.random() < orphan:
                return []
            chosen = [rng.choice(pool)]
            if len(pool) > 1 and rng.random() < 0.15:
                chosen.append(rng.choice([p for p in pool if p != chosen[0]]))
            return [(p, weight()) for p in chosen]

        company_objectives: list[int] = []
        for i, unit in enumerate(units):
            while remaining[i] > 0:
                remaining[i] -= 1
                n = len(objectives)
                key = f"obj-{n + 1:06d}"
                if unit.kind == Unit.Kind.COMPANY:
                    k = len(company_objectives)
                    title = names.COMPANY_OBJECTIVES[k % len(names.COMPANY_OBJECTIVES)]
                    if k >= len(names.COMPANY_OBJECTIVES):
                        title = f"{title} ({k // len(names.COMPANY_OBJECTIVES) + 1})"
                    company_objectives.append(
                        add(_Objective(key, title, Objective.Level.COMPANY, i, [], 0, "published"))
                    )
                    continue
                title = f"{rng.choice(names.OBJECTIVE_VERBS)} {rng.choice(names.OBJECTIVE_THEMES)}"
                peers: list[int] = []
                if unit.kind != Unit.Kind.DIVISION and rng.random() < SHARED_SLOT_SHARE:
                    wanted = rng.randint(1, 2)
                    for _ in range(8):
                        p = rng.choice(shareable)
                        if (
                            remaining[p] > 0
                            and units[p].department != unit.department
                            and p not in peers
                        ):
                            peers.append(p)
                            if len(peers) == wanted:
                                break
                if peers:
                    for p in peers:
                        remaining[p] -= 1
                    pool = (
                        company_objectives
                        if rng.random() < 0.6 or unit.division is None
                        else by_owner[unit.division]
                    )
                    add(
                        _Objective(
                            key,
                            f"{title} together",
                            Objective.Level.SHARED,
                            None,
                            [i, *peers],
                            0,
                            "published",
                            parents_among(pool, 0.03),
                        )
                    )
                    continue
                if unit.kind == Unit.Kind.DIVISION:
                    pool, orphan = company_objectives, 0.03
                elif unit.kind == Unit.Kind.DEPARTMENT:
                    assert unit.division is not None
                    pool, orphan = by_owner[unit.division], 0.04
                else:
                    assert unit.department is not None
                    pool, orphan = by_owner[unit.department], 0.05
                links = parents_among(pool, orphan)
                if (
                    unit.kind == Unit.Kind.TEAM
                    and unit.division is not None
                    and links
                    and rng.random() < 0.1
                    and by_owner[unit.division]
                ):
                    # Many-to-many alignment: a team also serves its division directly.
                    links.append((rng.choice(by_owner[unit.division]), weight()))
                state = "draft" if rng.random() < 0.02 else "published"
                o_idx = add(_Objective(key, title, Objective.Level.UNIT, i, [], 0, state, links))
                by_owner[i].append(o_idx)
        # Micro-OKRs: some teams also set a goal for one week, feeding a quarter goal.
        for i, unit in enumerate(units):
            if unit.kind != Unit.Kind.TEAM or rng.random() >= 0.25:
                continue
            w = rng.randrange(self.weeks)
            pool = by_owner[i] or by_owner[unit.department or 0]
            week_over = self.cycles[1 + w].end < self.today
            state = "closed" if week_over and rng.random() < 0.5 else "published"
            title = f"This week: {rng.choice(names.OBJECTIVE_VERBS).lower()} {rng.choice(names.OBJECTIVE_THEMES)}"
            add(
                _Objective(
                    f"obj-{len(objectives) + 1:06d}",
                    title,
                    Objective.Level.UNIT,
                    i,
                    [],
                    1 + w,
                    state,
                    [(rng.choice(pool), 1.0)] if pool else [],
                )
            )
        self.objectives = objectives
        for o_idx, o in enumerate(objectives):
            if o.cycle == 0 and o.owner is not None:
                units[o.owner].objectives.append(o_idx)

    # -- KPIs ------------------------------------------------------------------------------

    def _plan_kpis(self) -> None:
        rng = self.rng
        departments = [i for i, u in enumerate(self.units) if u.kind == Unit.Kind.DEPARTMENT]
        n = max(6, self.total_krs // 150)
        weeks_seen = min(self.current_week, self.weeks - 1)
        for k in range(n):
            metric = names.KPI_METRICS[k % len(names.KPI_METRICS)]
            name = metric.name
            if k >= len(names.KPI_METRICS):
                name = f"{name} ({self.units[departments[k % len(departments)]].name})"
            base = round(rng.uniform(metric.low, metric.high), 1)
            roll = rng.random()
            count = 0 if roll < 0.12 else 1 if roll < 0.6 else rng.randint(2, 3)
            owners = sorted(set(rng.sample(departments, min(count, len(departments)))))
            self.kpis.append(_KPI(f"kpi-{k + 1:04d}", name, metric, base, owners))
            drift = rng.uniform(-0.12, 0.12)
            for w in range(weeks_seen + 1):
                day = self.q_start + dt.timedelta(weeks=w, days=3)
                at = dt.datetime.combine(day, dt.time(9, 0), tzinfo=self.tz).astimezone(_UTC)
                if at >= self.now:
                    break
                value = base * (1 + drift * w / self.weeks) * rng.uniform(0.98, 1.02)
                if metric.ceiling is not None:
                    value = min(value, metric.ceiling)
                self.kpi_points.append((k, at, round(value, 2)))

    # -- key results -----------------------------------------------------------------------

    def _pick_kind(self, micro: bool) -> KRKind:
        roll = self.rng.random()
        if micro:
            return KRKind.MILESTONE if roll < 0.4 else KRKind.INCREASE
        for kind, cut in (
            (KRKind.INCREASE, 0.33),
            (KRKind.DECREASE, 0.48),
            (KRKind.AT_LEAST, 0.63),
            (KRKind.AT_MOST, 0.73),
        ):
            if roll < cut:
                return kind
        return KRKind.MILESTONE

    def _co_owners(self, owner: int | None) -> list[int]:
        rng, units = self.rng, self.units
        if rng.random() >= CO_OWNED_SHARE:
            return []
        wanted = 1 if rng.random() < 0.75 else 2
        out: list[int] = []
        for _ in range(8):
            candidate = rng.randrange(len(units))
            parent = units[owner].parent if owner is not None else None
            if parent is not None and rng.random() < 0.6:
                # Jointly owned work is mostly local: the parent unit or a sibling.
                siblings = self.children[parent]
                candidate = parent if rng.random() < 0.3 else rng.choice(siblings)
            if candidate != owner and candidate not in out:
                out.append(candidate)
                if len(out) == wanted:
                    break
        return sorted(out)

    def _plan_krs(self) -> None:
        rng = self.rng
        up = [m for m in names.METRICS if m.up]
        down = [m for m in names.METRICS if not m.up]
        q_weeks_end = [
            self.q_start + dt.timedelta(days=7 * k - 1) for k in range(1, self.weeks + 1)
        ]
        for o_idx, o in enumerate(self.objectives):
            micro = o.cycle != 0
            owners: list[int | None]
            if o.level == Objective.Level.SHARED:
                rotation = list(o.contributors)
                rng.shuffle(rotation)
                if len(rotation) > 1 and rng.random() < 0.03:
                    rotation.pop()  # a silent contributor
                owners = [rotation[j % len(rotation)] for j in range(o.n_krs)]
            else:
                owners = [None if rng.random() < 0.003 else o.owner for _ in range(o.n_krs)]
            for owner in owners:
                kind = self._pick_kind(micro)
                kpi: int | None = None
                if not micro and kind != KRKind.MILESTONE and rng.random() < 0.06:
                    kpi = rng.randrange(len(self.kpis))
                    kpi_up = self.kpis[kpi].metric.up
                    if rng.random() < 0.03:
                        kpi_up = not kpi_up  # rare: a target that pulls against the others
                    if kpi_up:
                        kind = KRKind.INCREASE if rng.random() < 0.7 else KRKind.AT_LEAST
                    else:
                        kind = KRKind.DECREASE if rng.random() < 0.7 else KRKind.AT_MOST
                kr = self._kr(o_idx, owner, kind, kpi, up, down, micro, q_weeks_end)
                idx = len(self.krs)
                self.krs.append(kr)
                o.krs.append(idx)
                if not micro and owner is not None:
                    self.units[owner].krs.append(idx)

    def _kr(
        self,
        o_idx: int,
        owner: int | None,
        kind: KRKind,
        kpi: int | None,
        up: Sequence[Metric],
        down: Sequence[Metric],
        micro: bool,
        week_ends: Sequence[dt.date],
    ) -> _KR:
        rng = self.rng
        steps: list[str] = []
        ceiling: float | None = None
        if kind == KRKind.MILESTONE:
            deliverable = rng.choice(names.DELIVERABLES)
            if rng.random() < 0.8:
                steps = list(names.MILESTONE_STEPS[: rng.randint(2, 5)])
            start, target, measure = 0.0, float(len(steps) or 1), "steps" if steps else ""
            title = f"{deliverable} ready"
        else:
            if kpi is not None:
                k = self.kpis[kpi]
                metric, base = k.metric, k.base
                follows = f" ({k.name})"
            else:
                metric = rng.choice(up if kind in (KRKind.INCREASE, KRKind.AT_LEAST) else down)
                base = rng.uniform(metric.low, metric.high)
                follows = ""
            ceiling, measure = metric.ceiling, metric.measure
            cap = ceiling if ceiling is not None else math.inf
            if kind == KRKind.INCREASE:
                start = round(min(base, cap * 0.9), 2)
                target = round(min(start * rng.uniform(1.1, 1.6), cap), 2)
                if target <= start:
                    target = round(start + 1, 2)
                    ceiling = None
                title = f"Grow {metric.name} from {start:g} to {target:g} {measure}{follows}"
            elif kind == KRKind.DECREASE:
                start = round(base, 2)
                target = round(start * rng.uniform(0.6, 0.9), 2)
                if target >= start:
                    target = round(start - 0.01, 2)
                title = f"Cut {metric.name} from {start:g} to {target:g} {measure}{follows}"
            elif kind == KRKind.AT_LEAST:
                target = round(min(base * rng.uniform(1.0, 1.1), cap), 2)
                start = round(target * 0.9, 2)
                title = f"Keep {metric.name} at or above {target:g} {measure}{follows}"
            else:
                target = round(base * rng.uniform(0.8, 1.0), 2)
                start = round(target * 1.15, 2)
                title = f"Keep {metric.name} at or below {target:g} {measure}{follows}"
        due: dt.date | None = None
        if not micro and rng.random() < (0.5 if kind == KRKind.MILESTONE else 0.15):
            due = week_ends[rng.randint(min(3, self.weeks), self.weeks) - 1]
        roll = rng.random()
        if roll < 0.4:
            fate = rng.uniform(1.0, 1.15)
        elif roll < 0.7:
            fate = rng.uniform(0.85, 1.0)
        elif roll < 0.88:
            fate = rng.uniform(0.6, 0.85)
        else:
            fate = rng.uniform(0.15, 0.6)
        diligence = 0.0 if rng.random() < 0.08 else rng.uniform(0.3, 1.7)
        weight_roll = rng.random()
        people = self.units[owner].people if owner is not None else []
        return _KR(
            key=f"kr-{len(self.krs) + 1:07d}",
            title=title[:300],
            objective=o_idx,
            kind=kind,
            start=start,
            target=target,
            measure=measure,
            steps=steps,
            weight=1.0 if weight_roll < 0.8 else 2.0 if weight_roll < 0.9 else 0.5,
            due=due,
            commitment=Commitment.COMMITTED.value
            if rng.random() < 0.7
            else Commitment.ASPIRATIONAL.value,
            owner=owner,
            owner_person=rng.choice(people) if people and rng.random() < 0.85 else None,
            co_owners=self._co_owners(owner),
            cadence=7 if rng.random() < 0.85 else 14,
            kpi=kpi,
            fate=fate,
            diligence=diligence,
            ceiling=ceiling,
        )

    # -- check-ins -------------------------------------------------------------------------

    def _when(self, week: int) -> dt.datetime | None:
        """A working-hours moment in `week` of the quarter, before now; None if none is left."""
        rng = self.rng
        week_start = self.q_start + dt.timedelta(weeks=week)
        day = week_start + dt.timedelta(days=rng.randint(0, 4))
        local = dt.datetime.combine(day, dt.time(rng.randint(8, 17), rng.randint(0, 59)))
        at = local.replace(tzinfo=self.tz).astimezone(_UTC)
        latest = self.now - dt.timedelta(minutes=1)
        if at <= latest:
            return at
        lo = self.midnight(week_start)
        if latest - lo < dt.timedelta(hours=1):
            return None
        return (lo + (latest - lo) * rng.random()).replace(microsecond=0)

    def _value(self, kr: _KR, elapsed: float, previous: float | None) -> float:
        """The value a check-in reports when `elapsed` of the KR's time has gone."""
        rng = self.rng
        # Teams front-load a little: most work shows early, the last stretch is slower.
        pace = kr.fate * elapsed**0.85
        if kr.kind == KRKind.MILESTONE:
            p = pace + rng.uniform(-0.05, 0.05)
            done = round(max(0.0, min(1.0, p)) * kr.target)
            return float(max(done, int(previous or 0)))
        if kr.kind in (KRKind.INCREASE, KRKind.DECREASE):
            p = max(0.0, min(1.15, pace + rng.uniform(-0.03, 0.03)))
            value = kr.start + p * (kr.target - kr.start)
        else:
            # Thresholds hover around the line rather than travel: better fates sit above it.
            q = 0.62 + 0.4 * kr.fate + rng.uniform(-0.03, 0.03)
            value = kr.target * q if kr.kind == KRKind.AT_LEAST else kr.target / q
        if kr.ceiling is not None:
            value = min(value, kr.ceiling)
        return round(max(value, 0.01), 2)

    def _confidence(self, fate: float) -> int:
        low, high = (8, 10) if fate >= 1 else (6, 9) if fate >= 0.85 else (4, 7)
        if fate < 0.6:
            low, high = 2, 5
        return self.rng.randint(low, high)

    def _plan_checkins(self) -> None:
        rng = self.rng
        last_week = min(self.current_week, self.weeks - 1)
        rates = [rng.uniform(*WEEKLY_CHECKIN_RATE) for _ in range(last_week + 1)]
        sources = (CheckIn.Source.WEB, CheckIn.Source.WEB, CheckIn.Source.WEB, CheckIn.Source.API)
        for kr in self.krs:
            o = self.objectives[kr.objective]
            cycle = self.cycles[o.cycle]
            start = self.midnight(cycle.start)
            span = (self.midnight((kr.due or cycle.end) + _DAY) - start).total_seconds()
            if o.cycle == 0:
                weeks = [
                    w
                    for w in range(last_week + 1)
                    if kr.due is None or self.q_start + dt.timedelta(weeks=w) <= kr.due
                ]
            else:
                weeks = [o.cycle - 1] if o.cycle - 1 <= last_week else []
            people = self.units[kr.owner].people if kr.owner is not None else []
            previous: float | None = None
            for w in weeks:
                chance = min(1.0, rates[w] * kr.diligence)
                if o.cycle != 0:
                    chance = min(1.0, 0.6 * kr.diligence)  # a one-week goal is watched closely
                if rng.random() >= chance:
                    continue
                at = self._when(w)
                if at is None or (kr.checkins and at <= kr.checkins[-1][0]):
                    continue
                elapsed = max(0.0, min(1.0, (at - start).total_seconds() / span))
                value = self._value(kr, elapsed, previous)
                previous = value
                blockers, blocking = "", None
                if kr.fate < 0.6 and rng.random() < 0.25:
                    blockers = rng.choice(names.BLOCKERS)
                    if kr.co_owners and rng.random() < 0.5:
                        blocking = rng.choice(kr.co_owners)
                author = kr.owner_person
                if author is None and people:
                    author = rng.choice(people)
                kr.checkins.append(
                    (
                        at,
                        value,
                        list(range(int(value))) if kr.steps else None,
                        self._confidence(kr.fate),
                        rng.choice(names.NOTES) if rng.random() < 0.12 else "",
                        blockers,
                        blocking,
                        author,
                        CheckIn.Source.KPI if kr.kpi is not None else rng.choice(sources),
                    )
                )

    # -- initiatives, dependencies, reviews --------------------------------------------------

    def _plan_initiatives(self) -> None:
        rng = self.rng
        quarter_days = (self.q_end - self.q_start).days
        for idx, kr in enumerate(self.krs):
            if kr.owner is None or self.objectives[kr.objective].cycle != 0:
                continue
            if rng.random() >= 0.3:
                continue
            siblings = [
                k
                for k in self.objectives[kr.objective].krs
                if k != idx and self.krs[k].owner == kr.owner
            ]
            driven = [idx]
            if siblings and rng.random() < 0.2:
                driven.append(rng.choice(siblings))
            due = self.q_start + dt.timedelta(days=rng.randint(min(14, quarter_days), quarter_days))
            roll = rng.random()
            if due < self.today:
                states = ("done", "in_progress", "cancelled", "blocked", "planned")
                cuts = (0.55, 0.75, 0.85, 0.95)
            else:
                states = ("planned", "in_progress", "blocked", "done", "cancelled")
                cuts = (0.35, 0.8, 0.88, 0.98)
            state = next((s for s, c in zip(states, cuts, strict=False) if roll < c), states[-1])
            people = self.units[kr.owner].people
            self.initiatives.append(
                _Initiative(
                    title=f"{rng.choice(names.INITIATIVE_VERBS)} {rng.choice(names.DELIVERABLES).lower()}",
                    owner=kr.owner,
                    assignee=rng.choice(people) if people and rng.random() < 0.8 else None,
                    state=state,
                    due=due,
                    krs=driven,
                )
            )
            self.units[kr.owner].initiatives.append(len(self.initiatives) - 1)

    def _due_of(self, kr: _KR) -> dt.date:
        return kr.due or self.cycles[self.objectives[kr.objective].cycle].end

    def _plan_dependencies(self) -> None:
        rng, units, now = self.rng, self.units, self.now
        requesters = [
            i
            for i, kr in enumerate(self.krs)
            if kr.owner is not None and self.objectives[kr.objective].cycle == 0
        ]
        if not requesters:
            return
        candidates = list(range(1, len(units)))
        # A few units everyone needs something from (a platform team, the lab): hubs.
        hubs = rng.sample(candidates, max(1, len(candidates) // 33))
        pool = candidates + hubs * 15
        quarter_days = (self.q_end - self.q_start).days
        earliest = self.q_start + dt.timedelta(days=min(7, quarter_days))
        forced = list(S)  # the first dependencies cover every state, whatever the size
        rng.shuffle(forced)
        elapsed = now - self.midnight(self.q_start)
        for n in range(round(self.total_krs / KRS_PER_DEPENDENCY)):
            if self.initiatives and rng.random() < 0.2:
                ini = rng.randrange(len(self.initiatives))
                req_kr, req_ini = None, ini
                req_unit = self.initiatives[ini].owner
            else:
                req_kr, req_ini = rng.choice(requesters), None
                owner = self.krs[req_kr].owner
                assert owner is not None
                req_unit = owner
            provider = rng.choice(pool)
            while provider == req_unit:
                provider = rng.choice(pool)
            prov_kr: int | None = None
            prov_ini: int | None = None
            roll = rng.random()
            if roll < 0.65 and units[provider].krs:
                prov_kr = rng.choice(units[provider].krs)
                item_due: dt.date | None = self._due_of(self.krs[prov_kr])
            elif roll < 0.8 and units[provider].initiatives:
                prov_ini = rng.choice(units[provider].initiatives)
                item_due = self.initiatives[prov_ini].due
            else:
                item_due = None
            if item_due is None:
                needed_by = self.q_start + dt.timedelta(
                    days=rng.randint(min(14, quarter_days), quarter_days)
                )
            elif rng.random() < 0.12:
                needed_by = item_due - dt.timedelta(days=rng.randint(3, 20))  # too late
            else:
                needed_by = item_due + dt.timedelta(days=rng.randint(0, 10))
            needed_by = min(max(needed_by, earliest), self.q_end)
            roll = rng.random()
            if n < len(forced):
                state = forced[n]
            elif needed_by < self.today:
                state = next(
                    s
                    for s, c in (
                        (S.DELIVERED, 0.6),
                        (S.MISSED, 0.72),
                        (S.ACCEPTED, 0.78),
                        (S.DECLINED, 0.88),
                        (S.CANCELLED, 0.95),
                        (S.COUNTERED, 0.98),
                        (S.REQUESTED, 1.01),
                    )
                    if roll < c
                )
            else:
                state = next(
                    s
                    for s, c in (
                        (S.REQUESTED, 0.25),
                        (S.ACCEPTED, 0.67),
                        (S.COUNTERED, 0.77),
                        (S.DECLINED, 0.87),
                        (S.CANCELLED, 0.92),
                        (S.DELIVERED, 1.01),
                    )
                    if roll < c
                )
            keeps_item = state in (S.ACCEPTED, S.DELIVERED, S.MISSED) or (
                state == S.CANCELLED and rng.random() < 0.3
            )
            if not keeps_item:
                prov_kr = prov_ini = None
            if state == S.REQUESTED:
                waited = dt.timedelta(days=min(rng.expovariate(1 / 4), elapsed / _DAY))
                requested_at = now - waited
            else:
                window = min(now, self.midnight(needed_by)) - self.midnight(self.q_start)
                window = max(window - dt.timedelta(days=2), dt.timedelta(hours=1))
                requested_at = self.midnight(self.q_start) + window * rng.random()
                requested_at = min(requested_at, now - dt.timedelta(hours=1))
            requested_at = requested_at.replace(microsecond=0)
            latest = now - dt.timedelta(minutes=1)
            answered_at = closed_at = None
            if state != S.REQUESTED and (state != S.CANCELLED or keeps_item):
                answered_at = min(
                    requested_at + dt.timedelta(hours=rng.uniform(2, 144)), latest
                ).replace(microsecond=0)
                answered_at = max(answered_at, requested_at)
            if state in (S.DELIVERED, S.MISSED, S.CANCELLED):
                since = answered_at or requested_at
                closed_at = max(
                    since, min(since + dt.timedelta(hours=rng.uniform(4, 400)), latest)
                ).replace(microsecond=0)
            reason = ""
            counter_date = None
            if state == S.DECLINED:
                reason = rng.choice(names.DECLINE_REASONS)
            elif state == S.COUNTERED:
                counter_date = needed_by + dt.timedelta(days=rng.randint(7, 14))
                reason = f"We can deliver by {counter_date:%d %b}"
            elif state == S.MISSED:
                reason = "Slipped behind other commitments"
            effort = (
                float(rng.randint(80, 200)) if rng.random() < 0.05 else float(rng.randint(2, 40))
            )
            self.dependencies.append(
                _Dependency(
                    key=f"dep-{n + 1:06d}",
                    title=rng.choice(names.DELIVERABLES),
                    requester_unit=req_unit,
                    provider_unit=provider,
                    requester_kr=req_kr,
                    requester_initiative=req_ini,
                    provider_kr=prov_kr,
                    provider_initiative=prov_ini,
                    needed_by=needed_by,
                    state=state.value,
                    requested_at=requested_at,
                    counter_date=counter_date,
                    answered_at=answered_at,
                    closed_at=closed_at,
                    effort=effort,
                    reason=reason,
                    requested_by=units[req_unit].people[0] if units[req_unit].people else None,
                    answered_by=units[provider].people[0]
                    if answered_at is not None and units[provider].people
                    else None,
                )
            )

    def _plan_reviews(self) -> None:
        """Peers asked to review the objectives that rely on them; most have endorsed."""
        rng = self.rng
        relied: dict[int, set[int]] = defaultdict(set)
        for kr in self.krs:
            for co in kr.co_owners:
                if co != kr.owner:
                    relied[kr.objective].add(co)
        for d in self.dependencies:
            if d.state in (S.DECLINED, S.CANCELLED):
                continue
            if d.requester_kr is not None:
                objectives = {self.krs[d.requester_kr].objective}
            else:
                assert d.requester_initiative is not None
                ini = self.initiatives[d.requester_initiative]
                objectives = {self.krs[k].objective for k in ini.krs}
            for o_idx in objectives:
                relied[o_idx].add(d.provider_unit)
        start = self.midnight(self.q_start)
        latest = self.now - dt.timedelta(minutes=1)
        for o_idx in sorted(relied):
            o = self.objectives[o_idx]
            if o.state == "closed":
                continue
            for unit in sorted(relied[o_idx] - {o.owner} if o.owner is not None else relied[o_idx]):
                if rng.random() >= 0.85:
                    continue
                requested_at = min(start + dt.timedelta(hours=rng.uniform(0, 240)), latest).replace(
                    microsecond=0
                )
                roll = rng.random()
                state = (
                    Review.State.ENDORSED
                    if roll < 0.85
                    else Review.State.COMMENTED
                    if roll < 0.91
                    else Review.State.CHANGES_PROPOSED
                    if roll < 0.94
                    else Review.State.PENDING
                )
                answered_at = None
                if state != Review.State.PENDING:
                    answered_at = max(
                        requested_at,
                        min(requested_at + dt.timedelta(hours=rng.uniform(4, 120)), latest),
                    ).replace(microsecond=0)
                owner = o.owner if o.owner is not None else o.contributors[0]
                people = self.units[owner].people
                self.reviews.append(
                    _Review(
                        o_idx,
                        unit,
                        state.value,
                        requested_at,
                        answered_at,
                        people[0] if people else None,
                    )
                )


# ---- writing ----------------------------------------------------------------------------


def _ids(model: type[models.Model], count: int) -> list[int]:
    """Primary keys for `count` new rows, so rows can name each other before they exist."""
    first = ids_reserve(model)
    return list(range(first, first + count))


def _kr_running_fields(plan: _Plan, kr: _KR) -> dict[str, Any]:
    """What checkin_record leaves on the KR after recording its check-ins in time order."""
    if not kr.checkins:
        return {}
    cycle_start = plan.cycles[plan.objectives[kr.objective].cycle].start
    sums = CheckInSums()
    for at, value, *_ in kr.checkins:
        sums = sums_add(sums, days_since(at, cycle_start, plan.tz), value)
    at, value, _, confidence, *_ = kr.checkins[-1]
    return {
        "current_value": value,
        "last_checkin_at": at,
        "last_confidence": confidence,
        "checkin_count": sums.n,
        "sum_t": sums.st,
        "sum_v": sums.sv,
        "sum_tt": sums.stt,
        "sum_tv": sums.stv,
    }


def _write(plan: _Plan, timezone_name: str, began: float) -> SynthStats:
    org = Organisation.objects.create(slug=plan.slug, name=plan.name, timezone=timezone_name)
    oid = org.pk

    unit_pk = _ids(Unit, len(plan.units))
    bulk_insert(
        Unit,
        (
            {
                "id": unit_pk[i],
                "organisation_id": oid,
                "parent_id": unit_pk[u.parent] if u.parent is not None else None,
                "key": u.key,
                "name": u.name,
                "kind": u.kind,
                "weekly_capacity": u.capacity,
                "capacity_unit": u.capacity_unit,
            }
            for i, u in enumerate(plan.units)
        ),
    )
    person_pk = _ids(Person, len(plan.people))
    bulk_insert(
        Person,
        (
            {
                "id": person_pk[i],
                "organisation_id": oid,
                "name": p.name,
                "email": p.email,
                "is_org_admin": p.admin,
            }
            for i, p in enumerate(plan.people)
        ),
    )
    bulk_insert(
        Membership,
        (
            {"person_id": person_pk[i], "unit_id": unit_pk[p.unit], "role": p.role}
            for i, p in enumerate(plan.people)
        ),
    )

    cycle_pk = _ids(Cycle, len(plan.cycles))
    bulk_insert(
        Cycle,
        (
            {
                "id": cycle_pk[i],
                "organisation_id": oid,
                "parent_id": cycle_pk[c.parent] if c.parent is not None else None,
                "key": c.key,
                "name": c.name,
                "kind": c.kind,
                "start": c.start,
                "end": c.end,
            }
            for i, c in enumerate(plan.cycles)
        ),
    )

    kpi_pk = _ids(KPI, len(plan.kpis))
    bulk_insert(
        KPI,
        (
            {
                "id": kpi_pk[i],
                "organisation_id": oid,
                "key": k.key,
                "name": k.name,
                "measure": k.metric.measure,
                "healthy_min": round(k.base * 0.9, 2) if k.metric.up else 0.0,
                "healthy_max": (k.metric.ceiling or round(k.base * 1.5, 2))
                if k.metric.up
                else round(k.base * 1.1, 2),
            }
            for i, k in enumerate(plan.kpis)
        ),
    )
    bulk_insert(
        KPI.owner_units.through,
        (
            {"kpi_id": kpi_pk[i], "unit_id": unit_pk[u]}
            for i, k in enumerate(plan.kpis)
            for u in k.owners
        ),
    )
    kpi_points = bulk_insert(
        KPIDataPoint,
        ({"kpi_id": kpi_pk[k], "at": at, "value": v} for k, at, v in plan.kpi_points),
    )

    objective_pk = _ids(Objective, len(plan.objectives))
    bulk_insert(
        Objective,
        (
            {
                "id": objective_pk[i],
                "organisation_id": oid,
                "cycle_id": cycle_pk[o.cycle],
                "key": o.key,
                "title": o.title,
                "level": o.level,
                "owner_unit_id": unit_pk[o.owner] if o.owner is not None else None,
                "state": o.state,
            }
            for i, o in enumerate(plan.objectives)
        ),
    )
    bulk_insert(
        ObjectiveContributor,
        (
            {"objective_id": objective_pk[i], "unit_id": unit_pk[u]}
            for i, o in enumerate(plan.objectives)
            for u in o.contributors
        ),
    )
    links = bulk_insert(
        ContributionLink,
        (
            {"child_id": objective_pk[i], "parent_id": objective_pk[p], "weight": w}
            for i, o in enumerate(plan.objectives)
            for p, w in o.parents
        ),
    )

    kr_pk = _ids(KeyResult, len(plan.krs))
    bulk_insert(
        KeyResult,
        (
            {
                "id": kr_pk[i],
                "organisation_id": oid,
                "objective_id": objective_pk[kr.objective],
                "key": kr.key,
                "title": kr.title,
                "kind": kr.kind.value,
                "start": kr.start,
                "target": kr.target,
                "measure": kr.measure,
                "steps": kr.steps,
                "weight": kr.weight,
                "due": kr.due,
                "commitment": kr.commitment,
                "owner_unit_id": unit_pk[kr.owner] if kr.owner is not None else None,
                "owner_person_id": person_pk[kr.owner_person]
                if kr.owner_person is not None
                else None,
                "cadence_days": kr.cadence,
                "kpi_id": kpi_pk[kr.kpi] if kr.kpi is not None else None,
                **_kr_running_fields(plan, kr),
            }
            for i, kr in enumerate(plan.krs)
        ),
    )
    bulk_insert(
        KeyResult.co_owners.through,
        (
            {"keyresult_id": kr_pk[i], "unit_id": unit_pk[u]}
            for i, kr in enumerate(plan.krs)
            for u in kr.co_owners
        ),
    )
    checkins = bulk_insert(
        CheckIn,
        (
            {
                "organisation_id": oid,
                "key_result_id": kr_pk[i],
                "at": at,
                "value": value,
                "steps_done": steps_done,
                "confidence": confidence,
                "note": note,
                "blockers": blockers,
                "blocking_unit_id": unit_pk[blocking] if blocking is not None else None,
                "author_id": person_pk[author] if author is not None else None,
                "source": source,
            }
            for i, kr in enumerate(plan.krs)
            for at, value, steps_done, confidence, note, blockers, blocking, author, source in (
                kr.checkins
            )
        ),
    )

    initiative_pk = _ids(Initiative, len(plan.initiatives))
    bulk_insert(
        Initiative,
        (
            {
                "id": initiative_pk[i],
                "organisation_id": oid,
                "title": ini.title,
                "owner_unit_id": unit_pk[ini.owner],
                "assignee_id": person_pk[ini.assignee] if ini.assignee is not None else None,
                "state": ini.state,
                "due": ini.due,
            }
            for i, ini in enumerate(plan.initiatives)
        ),
    )
    bulk_insert(
        Initiative.key_results.through,
        (
            {"initiative_id": initiative_pk[i], "keyresult_id": kr_pk[k]}
            for i, ini in enumerate(plan.initiatives)
            for k in ini.krs
        ),
    )

    def pk(ids: list[int], idx: int | None) -> int | None:
        return ids[idx] if idx is not None else None

    bulk_insert(
        Dependency,
        (
            {
                "organisation_id": oid,
                "key": d.key,
                "title": d.title,
                "requester_unit_id": unit_pk[d.requester_unit],
                "provider_unit_id": unit_pk[d.provider_unit],
                "requester_kr_id": pk(kr_pk, d.requester_kr),
                "requester_initiative_id": pk(initiative_pk, d.requester_initiative),
                "provider_kr_id": pk(kr_pk, d.provider_kr),
                "provider_initiative_id": pk(initiative_pk, d.provider_initiative),
                "needed_by": d.needed_by,
                "counter_date": d.counter_date,
                "effort": d.effort,
                "state": d.state,
                "reason": d.reason,
                "requested_by_id": pk(person_pk, d.requested_by),
                "answered_by_id": pk(person_pk, d.answered_by),
                "requested_at": d.requested_at,
                "answered_at": d.answered_at,
                "closed_at": d.closed_at,
            }
            for d in plan.dependencies
        ),
    )
    bulk_insert(
        Review,
        (
            {
                "organisation_id": oid,
                "objective_id": objective_pk[r.objective],
                "unit_id": unit_pk[r.unit],
                "state": r.state,
                "requested_by_id": pk(person_pk, r.requested_by),
                "requested_at": r.requested_at,
                "answered_at": r.answered_at,
            }
            for r in plan.reviews
        ),
    )

    stats = SynthStats(
        organisation_id=org.pk,
        slug=org.slug,
        units=len(plan.units),
        people=len(plan.people),
        cycles=len(plan.cycles),
        objectives=len(plan.objectives),
        shared_objectives=sum(1 for o in plan.objectives if o.level == Objective.Level.SHARED),
        contribution_links=links,
        key_results=len(plan.krs),
        co_owned_key_results=sum(1 for kr in plan.krs if kr.co_owners),
        checkins=checkins,
        kpis=len(plan.kpis),
        kpi_points=kpi_points,
        initiatives=len(plan.initiatives),
        dependencies=len(plan.dependencies),
        reviews=len(plan.reviews),
        seconds=round(time.perf_counter() - began, 3),
    )
    ActivityEvent.objects.create(
        organisation=org,
        actor=None,
        at=timezone.now(),
        verb="organisation.synthesised",
        object_type="organisation",
        object_id=org.pk,
        object_label=org.name[:300],
        after={
            **{k: v for k, v in stats.as_dict().items() if k != "organisation_id"},
            "seed": plan.seed,
            "weeks": plan.weeks,
            "now": plan.now.isoformat(),
        },
    )
    return stats
