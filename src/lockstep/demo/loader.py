"""Build the demo organisation "Northwind" from PRODUCT.md section 7, dated around today.

Every cycle is anchored to the current week so the demo never ages: the two-week Feature X
sprint is always in its second week, Production Line A in its fifth, and so on. Check-in
histories are generated backwards from a chosen end state (done, on track, at risk, off
track, not started), so each status shows up whatever the weekday. Everything is written
through the services, so the activity log reads like real use.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from lockstep.alignment.models import AskOffer, Dependency, Finding
from lockstep.core.progress import KRKind, expected_progress
from lockstep.goals import services as goals
from lockstep.goals.models import CheckIn, Cycle, KeyResult, Objective
from lockstep.goals.selectors import day_start, kr_due, org_tz
from lockstep.org import services as org
from lockstep.org.models import Organisation, Person, Unit

DEMO_SLUG = "northwind"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "lockstep-demo"

# (key, name, kind, parent, weekly capacity, capacity unit)
UNITS = [
    ("northwind", "Northwind Group", "company", None, None, "hours"),
    ("commercial", "Commercial", "division", "northwind", None, "hours"),
    ("ops-division", "Operations & Supply", "division", "northwind", None, "hours"),
    ("product-tech", "Product & Technology", "division", "northwind", None, "hours"),
    ("service", "Customer Service", "division", "northwind", None, "hours"),
    ("sales", "Sales", "department", "commercial", 320, "hours"),
    ("marketing", "Marketing", "department", "commercial", 280, "hours"),
    ("marketing-digital", "Digital Marketing", "team", "marketing", 120, "hours"),
    ("ecommerce", "E-commerce", "department", "commercial", 240, "hours"),
    ("retail", "Retail", "department", "commercial", 400, "hours"),
    ("operations", "Operations", "department", "ops-division", 60, "jobs"),
    ("production", "Production", "department", "ops-division", 120, "jobs"),
    ("engineering", "Engineering", "department", "ops-division", 200, "hours"),
    ("quality", "Quality Control", "department", "ops-division", 80, "hours"),
    ("distribution", "Distribution", "department", "ops-division", 300, "hours"),
    ("lab", "Lab", "department", "ops-division", 40, "jobs"),
    ("product", "Product", "department", "product-tech", 240, "hours"),
    ("product-devices", "Devices Team", "team", "product", 120, "hours"),
    ("customer-support", "Customer Support", "department", "service", 360, "hours"),
    ("customer-experience", "Customer Experience", "department", "service", 160, "hours"),
    ("field-service", "Field Service", "department", "service", 200, "hours"),
]

# (name, email, unit, role, org admin)
PEOPLE = [
    ("Dana Demo", "demo@northwind.example", "product", "leader", True),
    ("Sam Okafor", "sam@northwind.example", "sales", "leader", False),
    ("Mia Lindqvist", "mia@northwind.example", "marketing", "leader", False),
    ("Ravi Menon", "ravi@northwind.example", "ecommerce", "leader", False),
    ("Lena Fischer", "lena@northwind.example", "operations", "leader", False),
    ("Tomás Ruiz", "tomas@northwind.example", "production", "leader", False),
    ("Grace Chen", "grace@northwind.example", "engineering", "leader", False),
    ("Omar Haddad", "omar@northwind.example", "quality", "leader", False),
    ("Ines Duarte", "ines@northwind.example", "distribution", "leader", False),
    ("Kofi Mensah", "kofi@northwind.example", "retail", "leader", False),
    ("Priya Nair", "priya@northwind.example", "customer-support", "leader", False),
    ("Jonas Berg", "jonas@northwind.example", "customer-experience", "leader", False),
    ("Aiko Tanaka", "aiko@northwind.example", "field-service", "leader", False),
    ("Noah Williams", "noah@northwind.example", "lab", "leader", False),
    ("Ella Novak", "ella@northwind.example", "marketing-digital", "member", False),
]


@dataclass
class KRSpec:
    """A key result and the end state its generated history should reach today."""

    key: str
    title: str
    kind: str
    owner: str
    start: float = 0.0
    target: float | None = None
    measure: str = ""
    steps: list[str] = field(default_factory=list)
    due_day: int | None = None  # days after the cycle start
    co_owners: list[str] = field(default_factory=list)
    commitment: str = "committed"
    kpi: str | None = None
    # end state: "done", "on_track", "at_risk", "off_track", "not_started",
    # or a whole number of milestone steps done
    ends: str | int = "on_track"
    series: tuple[float, float] | None = None  # first and last value, for threshold KRs
    note: str = ""
    blockers: str = ""
    blocking_unit: str | None = None


@dataclass
class ObjectiveSpec:
    key: str
    title: str
    cycle: str
    level: str
    krs: list[KRSpec]
    owner: str | None = None
    contributors: list[str] = field(default_factory=list)
    parents: list[tuple[str, float]] = field(default_factory=list)
    description: str = ""
    state: str = "published"


def _cycles(today: dt.date) -> list[tuple[str, str, str, dt.date, dt.date, str | None]]:
    monday = today - dt.timedelta(days=today.weekday())
    q_start = monday - dt.timedelta(weeks=7)
    q_end = q_start + dt.timedelta(weeks=13, days=-1)

    def span(weeks_ago: int, weeks: int) -> tuple[dt.date, dt.date]:
        start = monday - dt.timedelta(weeks=weeks_ago)
        return start, start + dt.timedelta(weeks=weeks, days=-1)

    out: list[tuple[str, str, str, dt.date, dt.date, str | None]] = [
        ("quarter", f"Quarter {q_start:%d %b} to {q_end:%d %b %Y}", "quarter", q_start, q_end, None)
    ]
    for i in range(13):
        s = q_start + dt.timedelta(weeks=i)
        out.append(
            (
                f"week-{i + 1:02d}",
                f"Week {i + 1} ({s:%d %b})",
                "week",
                s,
                s + dt.timedelta(days=6),
                "quarter",
            )
        )
    out += [
        ("feature-x-sprint", "Feature X launch sprint", "two_weeks", *span(1, 2), "quarter"),
        ("shopping-month", "Online shopping month", "month", *span(3, 4), "quarter"),
        ("line-a-six-weeks", "Production Line A (six weeks)", "custom", *span(4, 6), "quarter"),
        ("smarthome-month", "SmartHome Pro launch month", "month", *span(2, 4), "quarter"),
    ]
    return out


OBJECTIVES = [
    ObjectiveSpec(
        "grow-new-products",
        "Grow revenue from new products by 15%",
        "quarter",
        "company",
        [],
        owner="northwind",
    ),
    ObjectiveSpec(
        "reliable-delivery",
        "Deliver every order reliably and on time",
        "quarter",
        "company",
        [],
        owner="northwind",
    ),
    ObjectiveSpec(
        "delight-customers",
        "Delight customers at every touchpoint",
        "quarter",
        "company",
        [],
        owner="northwind",
    ),
    ObjectiveSpec(
        "carbon-neutral-logistics",
        "Make logistics carbon neutral",
        "quarter",
        "company",
        [],
        owner="northwind",
        description="Set by the board; no department has picked it up yet.",
    ),
    ObjectiveSpec(
        "feature-x-launch",
        "Launch Feature X with high engagement in its first two weeks",
        "feature-x-sprint",
        "shared",
        contributors=["product", "marketing", "customer-support"],
        parents=[("grow-new-products", 1.0)],
        krs=[
            KRSpec(
                "fx-built",
                "Feature X fully developed and tested by end of week 1",
                "milestone",
                "product",
                steps=["Code complete", "QA passed", "Released to production"],
                due_day=6,
                ends="done",
                note="Released on schedule.",
            ),
            KRSpec(
                "fx-visits",
                "5,000 product-page visits in two weeks",
                "increase",
                "marketing",
                0,
                5000,
                "visits",
                co_owners=["ecommerce"],
                ends="at_risk",
                note="Newsletter slot moved to next week.",
                blockers="Landing page copy still in review",
            ),
            KRSpec(
                "fx-csat",
                "95% satisfaction on Feature X queries",
                "at_least",
                "customer-support",
                0,
                95,
                "%",
                series=(88.0, 93.0),
                note="Macros for the top five questions are live.",
            ),
        ],
    ),
    ObjectiveSpec(
        "cut-cart-abandonment",
        "Cut cart abandonment by 20% within a month",
        "shopping-month",
        "shared",
        contributors=["ecommerce", "marketing", "customer-experience"],
        parents=[("delight-customers", 1.0), ("grow-new-products", 0.5)],
        krs=[
            KRSpec(
                "page-load",
                "Checkout page loads in under 2 seconds",
                "decrease",
                "ecommerce",
                4.2,
                2.0,
                "s",
                ends="off_track",
                note="CDN migration slipped.",
                blockers="Waiting for the new hosting contract",
            ),
            KRSpec(
                "returning-visitors",
                "15% more returning visitors from remarketing",
                "increase",
                "marketing",
                0,
                15,
                "%",
                ends="on_track",
            ),
            KRSpec(
                "checkout-assistant",
                "Checkout assistant live with 24/7 support",
                "milestone",
                "customer-experience",
                steps=[
                    "Vendor chosen",
                    "Assistant configured",
                    "24/7 rota staffed",
                    "Live on checkout",
                ],
                ends=2,
                co_owners=["customer-support"],
                note="Rota needs two more night-shift agents.",
                blockers="Night-shift hiring",
                blocking_unit="customer-support",
            ),
        ],
    ),
    ObjectiveSpec(
        "production-line-a",
        "Establish Production Line A at 80% efficiency",
        "line-a-six-weeks",
        "shared",
        contributors=["engineering", "operations", "quality"],
        parents=[("reliable-delivery", 2.0)],
        krs=[
            KRSpec(
                "line-a-equipment",
                "Equipment installed and tested by week 3",
                "milestone",
                "engineering",
                steps=["Equipment delivered", "Installed", "Tested"],
                due_day=20,
                ends=2,
                note="Supplier delivered the press two weeks late; testing starts Monday.",
                blockers="Late press delivery",
            ),
            KRSpec(
                "line-a-sops",
                "SOPs written and all operators trained by week 4",
                "milestone",
                "operations",
                steps=["SOPs drafted", "SOPs approved", "Operators trained"],
                due_day=27,
                ends=1,
                note="Training cannot start before the line is tested.",
                blockers="Equipment not tested yet",
                blocking_unit="engineering",
            ),
            KRSpec(
                "line-a-defects",
                "Defects in trial runs down 10%",
                "decrease",
                "quality",
                5.0,
                4.5,
                "% defective",
                ends="at_risk",
            ),
        ],
    ),
    ObjectiveSpec(
        "smarthome-pro-launch",
        "Launch SmartHome Pro and sell 10,000 units in the first month",
        "smarthome-month",
        "shared",
        contributors=["product", "marketing", "sales", "customer-support"],
        parents=[("grow-new-products", 2.0)],
        krs=[
            KRSpec(
                "shp-units-built",
                "15,000 units tested and manufactured by end of week 1",
                "increase",
                "product",
                0,
                15000,
                "units",
                due_day=6,
                co_owners=["production"],
                ends="done",
            ),
            KRSpec(
                "shp-campaign-reach",
                "Campaign reaches 1,000,000 people in three weeks",
                "increase",
                "marketing",
                0,
                1_000_000,
                "people",
                due_day=20,
                ends="on_track",
            ),
            KRSpec(
                "shp-preorders",
                "5,000 pre-orders before launch",
                "increase",
                "sales",
                0,
                5000,
                "orders",
                ends="at_risk",
                note="Two retail partners delayed their listings.",
            ),
            KRSpec(
                "shp-fast-answers",
                "95% of inquiries handled in under two minutes",
                "at_least",
                "customer-support",
                0,
                95,
                "%",
                kpi="answer-under-2-min",
                co_owners=["field-service"],
                ends="on_track",
            ),
        ],
    ),
    ObjectiveSpec(
        "running-shoes",
        "Running shoes: the right models in every store",
        "quarter",
        "shared",
        contributors=["production", "marketing", "distribution", "retail"],
        parents=[("grow-new-products", 1.0), ("reliable-delivery", 1.0)],
        description="Production asked its peers which models to build more of and agreed these goals with them.",
        krs=[
            KRSpec(
                "shoes-campaign",
                "Spring campaign live for the two best-selling models",
                "milestone",
                "marketing",
                steps=["Models chosen with production", "Creative approved", "Campaign live"],
                ends=1,
            ),
            KRSpec(
                "shoes-48h",
                "Ship 98% of running-shoe orders within 48 hours",
                "at_least",
                "distribution",
                0,
                98,
                "%",
                series=(93.0, 97.2),
            ),
            KRSpec(
                "shoes-sell-through",
                "70% sell-through of the new models",
                "increase",
                "retail",
                0,
                70,
                "%",
                commitment="aspirational",
                ends="not_started",
            ),
        ],
    ),
    ObjectiveSpec(
        "running-shoe-output",
        "Raise running-shoe output by 25%",
        "quarter",
        "unit",
        owner="production",
        parents=[("running-shoes", 1.0)],
        krs=[
            KRSpec(
                "shoe-output",
                "Weekly output from 8,000 to 10,000 pairs",
                "increase",
                "production",
                8000,
                10000,
                "pairs/week",
                ends="on_track",
            ),
        ],
    ),
    ObjectiveSpec(
        "profitable-acquisition",
        "Acquire customers profitably",
        "quarter",
        "shared",
        contributors=["marketing", "sales"],
        parents=[("grow-new-products", 1.0)],
        krs=[
            KRSpec(
                "cac-under-110",
                "Customer acquisition cost at most €110",
                "at_most",
                "marketing",
                0,
                110,
                "EUR",
                kpi="cac",
                co_owners=["sales"],
                ends="on_track",
            ),
            KRSpec(
                "ltv-over-850",
                "Customer lifetime value at least €850",
                "at_least",
                "sales",
                0,
                850,
                "EUR",
                kpi="ltv",
                co_owners=["marketing"],
                ends="on_track",
            ),
        ],
    ),
    ObjectiveSpec(
        "field-response",
        "Answer field teams' customer problems faster",
        "quarter",
        "shared",
        contributors=["customer-support", "field-service"],
        parents=[("delight-customers", 1.0)],
        krs=[
            KRSpec(
                "median-response",
                "Median response time from 30 to 10 minutes",
                "decrease",
                "field-service",
                30,
                10,
                "min",
                co_owners=["customer-support"],
                ends="off_track",
                note="Problem exchange with customer service started this week.",
            ),
        ],
    ),
    ObjectiveSpec(
        "support-efficiency",
        "Handle support calls faster",
        "quarter",
        "unit",
        owner="customer-support",
        parents=[("delight-customers", 1.0)],
        krs=[
            KRSpec(
                "aht-down",
                "Average handling time down to 6 minutes",
                "decrease",
                "customer-support",
                9.0,
                6.0,
                "min",
                kpi="aht",
            ),
        ],
    ),
    ObjectiveSpec(
        "premium-care",
        "Give premium customers unhurried care",
        "quarter",
        "unit",
        owner="customer-experience",
        parents=[("delight-customers", 1.0)],
        description="Pulls the same handling-time metric the other way from Customer Support.",
        krs=[
            KRSpec(
                "premium-aht-up",
                "Premium calls get 10 minutes on average",
                "increase",
                "customer-experience",
                8.0,
                10.0,
                "min",
                kpi="aht",
            ),
        ],
    ),
    ObjectiveSpec(
        "brand-refresh",
        "Refresh the brand guidelines",
        "quarter",
        "unit",
        owner="marketing",
        description="Set by Marketing on its own; it feeds no company objective yet.",
        krs=[
            KRSpec(
                "brand-guidelines",
                "New brand guidelines published",
                "milestone",
                "marketing",
                steps=["Audit", "Draft", "Published"],
                ends="not_started",
            ),
        ],
    ),
    ObjectiveSpec(
        "loyalty-programme",
        "Launch a loyalty programme that brings customers back",
        "quarter",
        "shared",
        contributors=["marketing", "sales"],
        parents=[("grow-new-products", 1.0)],
        state="draft",
        krs=[
            KRSpec(
                "loyalty-members",
                "1,000 loyalty members",
                "increase",
                "marketing",
                0,
                1000,
                "members",
                co_owners=["ecommerce"],
                ends="not_started",
            ),
            KRSpec("loyalty-terms", "Loyalty terms approved", "milestone", "", ends="not_started"),
        ],
    ),
]

# key, name, measure, healthy min, healthy max, owners, weekly series start -> end
KPIS = [
    ("aht", "Average handling time", "min", 5.0, 9.0, [], 9.1, 8.2),
    ("cac", "Customer acquisition cost", "EUR", 0.0, 120.0, ["marketing", "sales"], 128.0, 113.0),
    ("ltv", "Customer lifetime value", "EUR", 600.0, None, ["marketing", "sales"], 690.0, 812.0),
    (
        "answer-under-2-min",
        "Inquiries answered in under two minutes",
        "%",
        90.0,
        100.0,
        ["customer-support", "field-service"],
        86.0,
        94.0,
    ),
]

INITIATIVES = [
    ("Landing page for Feature X", "marketing", ["fx-visits"], "in_progress", 3),
    ("Move checkout to the new CDN", "ecommerce", ["page-load"], "blocked", 5),
    ("Hire two night-shift agents", "customer-support", ["checkout-assistant"], "in_progress", 10),
    (
        "Commission the stamping press",
        "engineering",
        ["line-a-equipment", "line-a-sops"],
        "in_progress",
        2,
    ),
    ("Operator training programme", "operations", ["line-a-sops"], "planned", 9),
    ("Retail partner pre-order push", "sales", ["shp-preorders"], "in_progress", 6),
]

_CONFIDENCE = {"done": 10, "on_track": 8, "at_risk": 5, "off_track": 3}
# How far below the pace line each story ends; on-track KRs run slightly ahead so their
# forecast reaches the target instead of flagging a likely miss.
_SHORTFALL = {"on_track": -0.04, "at_risk": 0.17, "off_track": 0.4}


def _value_for(kind: KRKind, start: float, target: float, p: float) -> float:
    """A value whose progress is p (the inverse of kr_progress)."""
    if kind in (KRKind.INCREASE, KRKind.DECREASE):
        return round(start + p * (target - start), 2)
    if kind is KRKind.AT_LEAST:
        return round(target * p if p < 1 else target * 1.01, 2)
    if kind is KRKind.AT_MOST:
        return round(target / p if 0 < p < 1 else target * 0.97, 2)
    return float(round(p * target))


def _history(
    kr: KeyResult, spec: KRSpec, now: dt.datetime, tz: dt.tzinfo, rng: random.Random
) -> list[tuple[dt.datetime, float]]:
    """Weekly check-ins from the cycle start to a few hours ago, ending in the wanted state."""
    kind = KRKind(kr.kind)
    start = day_start(kr.objective.cycle.start, tz)
    due = day_start(kr_due(kr) + dt.timedelta(days=1), tz)
    last_at = min(now - dt.timedelta(hours=3), due - dt.timedelta(hours=6))
    times = []
    t = start + dt.timedelta(days=2, hours=10)
    while t < last_at - dt.timedelta(days=2):
        times.append(t)
        t += dt.timedelta(days=7)
    times.append(last_at)
    if isinstance(spec.ends, int):
        return [(at, float(round(spec.ends * (i + 1) / len(times)))) for i, at in enumerate(times)]
    if spec.series is not None:
        first, last = spec.series
        n = max(1, len(times) - 1)
        return [
            (
                at,
                round(
                    first + (last - first) * i / n + (rng.uniform(-0.6, 0.6) if 0 < i < n else 0), 1
                ),
            )
            for i, at in enumerate(times)
        ]
    if spec.ends == "done":
        final = 1.0
    else:
        final = min(0.97, max(0.05, expected_progress(now, start, due) - _SHORTFALL[spec.ends]))
    out = []
    for i, at in enumerate(times):
        share = (at - start) / (last_at - start)
        p = (
            final
            if i == len(times) - 1
            else max(0.0, min(final, final * share + rng.uniform(-0.04, 0.04)))
        )
        out.append((at, _value_for(kind, kr.start, kr.target, p)))
    return out


def _checkins(
    kr: KeyResult,
    spec: KRSpec,
    actor: Person,
    now: dt.datetime,
    tz: dt.tzinfo,
    units: dict[str, Unit],
    rng: random.Random,
) -> None:
    if spec.ends == "not_started" or spec.kpi:
        return
    history = _history(kr, spec, now, tz, rng)
    if isinstance(spec.ends, int):
        state = "done" if spec.ends >= kr.target else "off_track"
    else:
        state = spec.ends
    for i, (at, value) in enumerate(history):
        last = i == len(history) - 1
        confidence = (
            _CONFIDENCE.get(state, 6) if last else max(1, min(10, _CONFIDENCE.get(state, 6) + 1))
        )
        # A milestone with a checklist names the finished steps, in order.
        steps = list(range(int(value))) if kr.steps else None
        goals.checkin_record(
            key_result=kr,
            actor=actor,
            value=None if steps is not None else value,
            steps_done=steps,
            confidence=confidence,
            at=at,
            note=spec.note if last else "",
            blockers=spec.blockers if last else "",
            blocking_unit=units.get(spec.blocking_unit or "") if last else None,
            source=CheckIn.Source.DEMO,
        )


@transaction.atomic
def load_demo(*, now: dt.datetime | None = None, seed: int = 7) -> Organisation:
    """Create the Northwind demo organisation with people, goals and check-in histories.

    `now` (default: the clock) is the moment the demo is built for; tests pass past moments.
    """
    from lockstep.alignment.services import findings_deferred

    with findings_deferred():
        return _load(now=now, seed=seed)


def _load(*, now: dt.datetime | None, seed: int) -> Organisation:
    rng = random.Random(seed)
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    organisation = org.organisation_create(
        slug=DEMO_SLUG, name="Northwind Group", timezone_name="UTC"
    )
    tz = org_tz(organisation)

    units: dict[str, Unit] = {}
    for key, name, kind, parent, capacity, cap_unit in UNITS:
        units[key] = org.unit_create(
            organisation=organisation,
            actor=None,
            key=key,
            name=name,
            kind=kind,
            parent=units[parent] if parent else None,
            weekly_capacity=capacity,
            capacity_unit=cap_unit,
        )
    people: dict[str, Person] = {}
    for name, email, unit, role, admin in PEOPLE:
        people[unit] = org.person_create(
            organisation=organisation,
            actor=None,
            name=name,
            email=email,
            is_org_admin=admin,
            memberships=[(units[unit], role)],
        )
    demo_person = people["product"]
    User = get_user_model()
    user = User.objects.filter(username=DEMO_USERNAME).first() or User.objects.create_user(
        DEMO_USERNAME, demo_person.email, DEMO_PASSWORD
    )
    user.set_password(DEMO_PASSWORD)
    user.save()
    demo_person.user = user
    demo_person.save(update_fields=["user"])
    org.person_update(
        person=demo_person,
        actor=None,
        memberships=[(units["product"], "leader"), (units["northwind"], "member")],
    )

    cycles: dict[str, Cycle] = {}
    for key, name, kind, start, end, parent in _cycles(today):
        cycles[key] = goals.cycle_create(
            organisation=organisation,
            actor=demo_person,
            key=key,
            name=name,
            kind=kind,
            start=start,
            end=end,
            parent=cycles[parent] if parent else None,
        )

    kpis = {}
    for key, name, measure, lo, hi, owners, _, _ in KPIS:
        kpis[key] = goals.kpi_create(
            organisation=organisation,
            actor=demo_person,
            key=key,
            name=name,
            measure=measure,
            healthy_min=lo,
            healthy_max=hi,
            owner_units=[units[o] for o in owners],
        )

    objectives: dict[str, Objective] = {}
    krs: dict[str, KeyResult] = {}
    for spec in OBJECTIVES:
        owner = units[spec.owner] if spec.owner else None
        actor = people.get(spec.owner or spec.contributors[0], demo_person)
        objective = goals.objective_create(
            organisation=organisation,
            actor=actor,
            key=spec.key,
            title=spec.title,
            cycle=cycles[spec.cycle],
            level=spec.level,
            owner_unit=owner,
            contributors=[units[u] for u in spec.contributors],
            parents=[(objectives[p], w) for p, w in spec.parents],
            description=spec.description,
            state=spec.state,
        )
        objectives[spec.key] = objective
        for kr_spec in spec.krs:
            cycle = cycles[spec.cycle]
            krs[kr_spec.key] = goals.key_result_create(
                objective=objective,
                actor=people.get(kr_spec.owner, demo_person),
                key=kr_spec.key,
                title=kr_spec.title,
                kind=kr_spec.kind,
                start=kr_spec.start,
                target=kr_spec.target,
                measure=kr_spec.measure,
                steps=kr_spec.steps,
                due=cycle.start + dt.timedelta(days=kr_spec.due_day)
                if kr_spec.due_day is not None
                else None,
                commitment=kr_spec.commitment,
                owner_unit=units.get(kr_spec.owner),
                owner_person=people.get(kr_spec.owner),
                co_owners=[units[u] for u in kr_spec.co_owners],
                kpi=kpis[kr_spec.kpi] if kr_spec.kpi else None,
            )
            _checkins(
                krs[kr_spec.key],
                kr_spec,
                people.get(kr_spec.owner, demo_person),
                now,
                tz,
                units,
                rng,
            )

    # KPI series: one point a week since the quarter began; KRs that follow a KPI take each value.
    q_start = day_start(cycles["quarter"].start, tz)
    weeks = max(1, (now - q_start).days // 7)
    for key, _, _, _, _, owners, first, last in KPIS:
        for w in range(weeks + 1):
            at = min(q_start + dt.timedelta(weeks=w, days=4, hours=9), now - dt.timedelta(hours=2))
            # Noise in proportion to the metric, so a 9-minute handling time wobbles by seconds.
            noise = rng.uniform(-1.5, 1.5) * min(1.0, abs(first) / 100)
            value = first + (last - first) * w / weeks + noise
            goals.kpi_point_record(
                kpi=kpis[key],
                actor=people[owners[0]] if owners else demo_person,
                value=round(value, 1),
                at=at,
            )

    for title, unit, kr_keys, state, due_in in INITIATIVES:
        goals.initiative_create(
            organisation=organisation,
            actor=people.get(unit, demo_person),
            title=title,
            owner_unit=units[unit],
            key_results=[krs[k] for k in kr_keys],
            assignee=people.get(unit),
            state=state,
            due=today + dt.timedelta(days=due_in),
        )
    _alignment(organisation, now, units, people, cycles, objectives, krs)
    return organisation


def _alignment(
    organisation: Organisation,
    now: dt.datetime,
    units: dict[str, Unit],
    people: dict[str, Person],
    cycles: dict[str, Cycle],
    objectives: dict[str, Objective],
    krs: dict[str, KeyResult],
) -> None:
    """Dependencies in every state, a three-step upstream chain, asks and offers, a review."""
    from lockstep.alignment import services as align

    line_a = cycles["line-a-six-weeks"].start
    fx = cycles["feature-x-sprint"].start
    shp = cycles["smarthome-month"].start
    shop = cycles["shopping-month"].start
    quarter = cycles["quarter"].start

    def ask(
        key: str,
        kr: str,
        provider: str,
        title: str,
        needed_by: dt.date,
        days_ago: int,
        effort: float = 0.0,
    ) -> Dependency:
        item = krs[kr]
        return align.dependency_request(
            organisation=organisation,
            actor=people.get(item.owner_unit.key if item.owner_unit else ""),
            requester_item=item,
            provider_unit=units[provider],
            title=title,
            needed_by=needed_by,
            effort=effort,
            key=key,
            requested_at=now - dt.timedelta(days=days_ago),
        )

    def lead(unit: str) -> Person:
        return people[unit]

    # The Production Line A chain: quality waits on operations, which waits on engineering.
    d = ask(
        "line-a-equipment-ready",
        "line-a-sops",
        "engineering",
        "Line A equipment installed and tested",
        line_a + dt.timedelta(days=20),
        30,
        effort=40,
    )
    align.dependency_accept(
        dependency=d, actor=lead("engineering"), provider_item=krs["line-a-equipment"]
    )
    d = ask(
        "trained-operators",
        "line-a-defects",
        "operations",
        "Trained operators for the trial runs",
        line_a + dt.timedelta(days=34),
        27,
        effort=40,
    )
    align.dependency_accept(
        dependency=d, actor=lead("operations"), provider_item=krs["line-a-sops"]
    )
    d = ask(
        "on-site-installs",
        "median-response",
        "operations",
        "On-site installs for early Line A customers",
        line_a + dt.timedelta(days=34),
        20,
        effort=30,
    )
    align.dependency_accept(dependency=d, actor=lead("operations"))

    # Product is the single point many launches lean on.
    d = ask(
        "feature-x-live",
        "fx-visits",
        "product",
        "Feature X live in production",
        fx + dt.timedelta(days=6),
        12,
    )
    align.dependency_accept(dependency=d, actor=lead("product"), provider_item=krs["fx-built"])
    align.dependency_deliver(dependency=d, actor=lead("product"))
    ask(
        "feature-x-faq",
        "fx-csat",
        "product",
        "FAQ and known issues for Feature X",
        fx + dt.timedelta(days=9),
        9,
    )
    d = ask(
        "preorder-page",
        "shp-preorders",
        "product",
        "Pre-order page for SmartHome Pro",
        shp + dt.timedelta(days=7),
        15,
    )
    align.dependency_accept(
        dependency=d, actor=lead("product"), provider_item=krs["shp-units-built"]
    )

    d = ask(
        "retail-listings",
        "shp-preorders",
        "retail",
        "Retail partner listings live",
        shp + dt.timedelta(days=10),
        14,
    )
    align.dependency_decline(
        dependency=d,
        actor=lead("retail"),
        reason="Shelf space is committed to the running-shoe relaunch this month.",
    )
    d = ask(
        "hosting-contract",
        "page-load",
        "operations",
        "New hosting contract signed",
        shop + dt.timedelta(days=10),
        18,
    )
    align.dependency_accept(dependency=d, actor=lead("operations"))
    align.dependency_miss(
        dependency=d, actor=lead("ecommerce"), reason="Procurement did not sign in time."
    )
    d = ask(
        "segment-export",
        "returning-visitors",
        "ecommerce",
        "Customer segment export for remarketing",
        shop + dt.timedelta(days=5),
        20,
    )
    align.dependency_cancel(dependency=d, actor=lead("marketing"))

    # Running shoes: asks and offers between peer leaders, one ask turned into a request.
    def note(kind: str, src: str, dst: str, text: str) -> AskOffer:
        return align.ask_offer_create(
            organisation=organisation,
            actor=lead(src),
            cycle=cycles["quarter"],
            kind=kind,
            from_unit=units[src],
            to_unit=units[dst],
            text=text,
        )

    note("ask", "production", "marketing", "Which two running-shoe models should we scale first?")
    note(
        "offer",
        "marketing",
        "production",
        "Sell-through by model every Monday, from the campaign data.",
    )
    note("offer", "production", "retail", "Early samples of the new models for store displays.")
    weekly_plan = note(
        "ask", "distribution", "production", "Weekly output plan for the two best-selling models"
    )
    d = align.ask_to_dependency(
        ask=weekly_plan,
        actor=lead("distribution"),
        requester_item=krs["shoes-48h"],
        needed_by=quarter + dt.timedelta(weeks=8),
    )
    align.dependency_counter(
        dependency=d,
        actor=lead("production"),
        counter_date=quarter + dt.timedelta(weeks=10),
        reason="The new line's schedule settles in two weeks.",
    )

    # A draft goal set with peers rather than in a bubble.
    align.review_request(
        objective=objectives["loyalty-programme"],
        actor=lead("marketing"),
        units=[units["ecommerce"], units["customer-experience"]],
    )
    reviews = {
        r.unit.key: r for r in objectives["loyalty-programme"].reviews.select_related("unit")
    }
    align.review_respond(
        review=reviews["customer-experience"],
        actor=lead("customer-experience"),
        kind="endorsement",
        text="Happy to run the member desk.",
    )
    align.review_respond(
        review=reviews["ecommerce"],
        actor=lead("ecommerce"),
        kind="proposal",
        text="Start with 500 members: checkout changes land late in the quarter.",
    )


def demo_exists() -> bool:
    return Organisation.objects.filter(slug=DEMO_SLUG).exists()


@transaction.atomic
def remove_demo() -> None:
    """Delete the demo organisation and everything in it (for `lockstep demo --reset`)."""
    from lockstep.activity.models import ActivityEvent
    from lockstep.goals.models import (
        ContributionLink,
        Initiative,
        KPIDataPoint,
        ObjectiveContributor,
    )

    organisation = Organisation.objects.filter(slug=DEMO_SLUG).first()
    if organisation is None:
        return
    # PROTECT foreign keys keep history safe in normal use; here everything goes, leaves first.
    ActivityEvent.objects.filter(organisation=organisation).delete()
    Finding.objects.filter(organisation=organisation).delete()
    AskOffer.objects.filter(organisation=organisation).delete()
    Dependency.objects.filter(organisation=organisation).delete()
    Initiative.objects.filter(organisation=organisation).delete()
    CheckIn.objects.filter(organisation=organisation).delete()
    KeyResult.objects.filter(organisation=organisation).delete()
    KPIDataPoint.objects.filter(kpi__organisation=organisation).delete()
    ContributionLink.objects.filter(child__organisation=organisation).delete()
    ObjectiveContributor.objects.filter(objective__organisation=organisation).delete()
    Objective.objects.filter(organisation=organisation).delete()
    for model in (Cycle, Unit):
        # Self-referencing PROTECT: delete deepest rows first.
        rows = model.objects.filter(organisation=organisation)
        while rows.exists():
            rows.filter(children__isnull=True).delete()
    Person.objects.filter(organisation=organisation).delete()
    organisation.delete()
