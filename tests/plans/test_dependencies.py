"""Dependencies in plans: checked with lines, applied through the lifecycle services,
idempotent, exported canonically; endorsements are read by `check` and nothing else."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from lockstep.activity.models import ActivityEvent
from lockstep.alignment import services as alignment
from lockstep.alignment.models import Dependency, Finding
from lockstep.goals import services as goals
from lockstep.goals.models import KeyResult
from lockstep.org import services as org_services
from lockstep.plans import PlanError, plan_apply, plan_diff, plan_dump, plan_from_db, plan_load
from lockstep.plans.lifecycle import Standing, Step, route
from tests.plans.conftest import table_counts

# Two units, one cycle, a KR for each; marketing's KR waits on product.
BASE = """\
organisation: {slug: dep-co, name: Dep Co}
units:
  - key: dep-co
    name: Dep Co
    kind: company
    children:
      - {key: product, name: Product}
      - {key: marketing, name: Marketing}
cycles:
  - {key: q4, name: Q4, kind: quarter, start: 2026-10-01, end: 2026-12-31}
objectives:
  - key: launch
    title: Launch
    cycle: q4
    level: shared
    contributors: [marketing, product]
    key_results:
      - {key: visits, title: Visits, kind: increase, target: 100, owner: marketing}
      - {key: build, title: Build, kind: milestone, owner: product}
      - {key: loose, title: Loose, kind: milestone}
dependencies:
  - key: feature
    title: Feature live
    from: visits
    to: product
    needed_by: 2026-11-10
"""
LINE = {"from": 24, "to": 25, "needed_by": 26}  # lines of the dependency's fields in BASE


def test_the_base_plan_is_valid():
    plan = plan_load(BASE)
    dep = plan.dependencies[0]
    assert (dep.from_, dep.to, dep.state, dep.effort, dep.reason) == (
        "visits",
        "product",
        "requested",
        0.0,
        "",
    )


def _after(field: str, extra: str) -> str:
    """BASE with `extra` fields written after the dependency's `field` line."""
    old = {"from": "    from: visits\n", "to": "    to: product\n"}.get(
        field, "    needed_by: 2026-11-10\n"
    )
    return BASE.replace(old, old + extra)


CASES = {
    "unknown requesting KR": (
        BASE.replace("from: visits", "from: nowhere"),
        24,
        "dependencies[0].from",
        "unknown key result 'nowhere'",
    ),
    "unknown provider unit": (
        BASE.replace("to: product", "to: sales"),
        25,
        "dependencies[0].to",
        "unknown unit 'sales'",
    ),
    "unknown delivering KR": (
        _after("needed_by", "    state: accepted\n    delivered_by: nothing\n"),
        28,
        "dependencies[0].delivered_by",
        "unknown key result 'nothing'",
    ),
    "a unit depending on itself": (
        BASE.replace("to: product", "to: marketing"),
        25,
        "dependencies[0].to",
        "a unit cannot depend on itself",
    ),
    "requesting KR without an owner": (
        BASE.replace("from: visits", "from: loose"),
        24,
        "dependencies[0].from",
        "the key result has no accountable unit to ask on behalf of",
    ),
    "needed outside the requesting KR's cycle": (
        BASE.replace("needed_by: 2026-11-10", "needed_by: 2027-01-10"),
        26,
        "dependencies[0].needed_by",
        "must lie inside the cycle 'q4' (2026-10-01 to 2026-12-31) of the key result 'visits'",
    ),
    "delivered by a KR of another unit": (
        _after("needed_by", "    state: accepted\n    delivered_by: visits\n"),
        28,
        "dependencies[0].delivered_by",
        "must be a key result of 'product' (its accountable unit or a co-owner)",
    ),
    "declined without a reason": (
        _after("needed_by", "    state: declined\n"),
        22,  # a missing field is reported at the line of its mapping
        "dependencies[0].reason",
        "a declined dependency needs its reason",
    ),
    "countered without a date": (
        _after("needed_by", "    state: countered\n"),
        22,
        "dependencies[0].counter_date",
        "a countered dependency needs the date offered",
    ),
    "countered for the same date": (
        _after("needed_by", "    state: countered\n    counter_date: 2026-11-10\n"),
        28,
        "dependencies[0].counter_date",
        "is the date already asked for; use accepted",
    ),
    "a counter date without a counter": (
        _after("needed_by", "    counter_date: 2026-11-20\n"),
        27,
        "dependencies[0].counter_date",
        "only a countered dependency has a counter date",
    ),
    "delivered_by before acceptance": (
        _after("needed_by", "    delivered_by: build\n"),
        27,
        "dependencies[0].delivered_by",
        "is named when the provider accepts; a requested dependency has none",
    ),
    "a reason on an accepted dependency": (
        _after("needed_by", "    state: accepted\n    reason: because\n"),
        28,
        "dependencies[0].reason",
        "only a declined, countered or missed dependency has a reason",
    ),
    "unknown state": (
        _after("needed_by", "    state: done\n"),
        27,
        "dependencies[0].state",
        "must be 'requested', 'accepted', 'declined', 'countered', 'delivered', 'missed' or "
        "'cancelled' (got 'done')",
    ),
    "negative effort": (
        _after("needed_by", "    effort: -2\n"),
        27,
        "dependencies[0].effort",
        "greater than or equal to 0",
    ),
    "misspelt field": (
        _after("needed_by", "    delivred_by: build\n"),
        27,
        "dependencies[0].delivred_by",
        "unknown field; did you mean 'delivered_by'?",
    ),
    "missing from": (
        BASE.replace("    from: visits\n", ""),
        22,
        "dependencies[0].from",
        "is required",
    ),
    "duplicate key": (
        BASE
        + "  - {key: feature, title: Again, from: visits, to: product, needed_by: 2026-11-11}\n",
        27,
        "dependencies[1].key",
        "'feature' is used twice (first at line 22)",
    ),
    "endorsed by an unknown unit": (
        BASE.replace("    level: shared\n", "    level: shared\n    endorsed_by: [sales]\n"),
        16,
        "objectives[0].endorsed_by[0]",
        "unknown unit 'sales'",
    ),
    "endorsed by its owner": (
        BASE.replace("    level: shared\n", "    level: unit\n    owner: product\n")
        .replace("    contributors: [marketing, product]\n", "    endorsed_by: [product]\n")
        .replace("to: product", "to: dep-co"),
        17,
        "objectives[0].endorsed_by",
        "the owner unit does not endorse its own objective",
    ),
}


@pytest.mark.parametrize(("text", "line", "path", "message"), CASES.values(), ids=CASES.keys())
def test_a_bad_dependency_names_the_line_and_writes_nothing(db, text, line, path, message):
    before = table_counts()
    with pytest.raises(PlanError) as caught:
        plan_apply(plan_load(text, source="plan.yaml"))
    problems = caught.value.problems
    matching = [p for p in problems if p.line == line and p.path == path and message in p.message]
    assert matching, f"no problem at line {line} {path!r} saying {message!r} in {problems}"
    assert table_counts() == before


def test_the_lines_of_the_base_plan_are_the_ones_the_cases_name():
    lines = BASE.splitlines()
    assert [lines[LINE[f] - 1].strip().split(":")[0] for f in LINE] == list(LINE)


# ---- apply --------------------------------------------------------------------------------

EVENTS = {
    "d-requested": ["dependency.requested"],
    "d-accepted": ["dependency.requested", "dependency.accepted"],
    "d-declined": ["dependency.requested", "dependency.declined"],
    "d-countered": ["dependency.requested", "dependency.countered"],
    "d-delivered": ["dependency.requested", "dependency.accepted", "dependency.delivered"],
    "d-missed": ["dependency.requested", "dependency.accepted", "dependency.missed"],
    "d-cancelled": ["dependency.requested", "dependency.accepted", "dependency.cancelled"],
}


def _events_of(dependency: Dependency) -> list[str]:
    return list(
        ActivityEvent.objects.filter(object_type="dependency", object_id=dependency.pk)
        .order_by("id")
        .values_list("verb", flat=True)
    )


def test_apply_drives_each_dependency_through_the_lifecycle_services(db, deps_text):
    org = plan_apply(plan_load(deps_text)).organisation

    deps = {d.key: d for d in Dependency.objects.filter(organisation=org)}
    assert {key: d.state for key, d in deps.items()} == {key: key[2:] for key in EVENTS}
    assert {key: _events_of(d) for key, d in deps.items()} == EVENTS
    accepted = deps["d-accepted"]
    assert (accepted.requester_unit.key, accepted.provider_unit.key) == ("marketing", "sales-emea")
    assert accepted.requester_kr.key == "emea-leads" and accepted.provider_kr.key == "emea-cac"
    assert accepted.effort == 6.0 and accepted.answered_at is not None
    assert deps["d-countered"].counter_date == dt.date(2026, 11, 16)
    assert deps["d-declined"].reason == "No capacity in October"
    assert deps["d-missed"].reason == "A partner pulled out"
    assert deps["d-cancelled"].provider_kr.key == "emea-launch"
    assert deps["d-requested"].description.startswith("The ten questions")
    # The system asked (actor None), and every step's event says so.
    assert all(d.requested_by is None for d in deps.values())


def test_the_actor_is_recorded_on_every_dependency_event(db, org, person, deps_text):
    plan_apply(plan_load(deps_text), actor=person)
    events = ActivityEvent.objects.filter(verb__startswith="dependency.")
    assert events.count() == sum(map(len, EVENTS.values()))
    assert set(events.values_list("actor", flat=True)) == {person.pk}


def test_a_second_apply_writes_nothing(db, deps_text):
    plan_apply(plan_load(deps_text))
    before = table_counts()
    findings = list(Finding.objects.values_list("key", "last_seen_at"))

    again = plan_apply(plan_load(deps_text))

    assert again.changes == [] and again.kept == []
    assert table_counts() == before
    assert list(Finding.objects.values_list("key", "last_seen_at")) == findings


def test_findings_are_refreshed_once_at_the_end_not_per_event(db, deps_text, monkeypatch):
    calls: list[str] = []
    full = alignment.findings_refresh_full

    def counting_full(org, **kwargs):
        calls.append("full")
        return full(org, **kwargs)

    monkeypatch.setattr(alignment, "findings_refresh_full", counting_full)
    monkeypatch.setattr(
        alignment, "findings_refresh_dependencies", lambda *a, **k: calls.append("deps")
    )

    org = plan_apply(plan_load(deps_text)).organisation

    assert calls == ["full"]
    codes = set(Finding.objects.filter(organisation=org).values_list("code", flat=True))
    assert "DEPENDENCY_DECLINED" in codes  # d-declined underpins a committed KR


def _declare(**fields: str) -> str:
    """BASE with the dependency's fields set to these values (YAML text), in place or added."""
    text = BASE
    for name, value in fields.items():
        line = f"    {name}: {value}\n"
        old = next(
            (ln for ln in text.splitlines(keepends=True) if ln.startswith(f"    {name}:")), None
        )
        text = text.replace(old, line) if old else text + line
    return text


STEPS = [
    # (from the base, fields the plan then declares, the events that follow)
    ({"state": "accepted", "delivered_by": "build"}, ["dependency.accepted"]),
    ({"state": "declined", "reason": "Not this quarter"}, ["dependency.declined"]),
    (
        {"state": "countered", "counter_date": "2026-11-20", "reason": "Busy"},
        ["dependency.countered"],
    ),
    ({"state": "cancelled"}, ["dependency.cancelled"]),
    (
        {"state": "delivered", "delivered_by": "build"},
        ["dependency.accepted", "dependency.delivered"],
    ),
    (
        {"state": "missed", "delivered_by": "build", "reason": "Slipped"},
        ["dependency.accepted", "dependency.missed"],
    ),
    # An agreed date that moved: the provider countered with it and the requester took it.
    (
        {"state": "accepted", "needed_by": "2026-11-24"},
        ["dependency.countered", "dependency.counter_accepted"],
    ),
]


@pytest.mark.parametrize(("fields", "verbs"), STEPS, ids=[s[0]["state"] for s in STEPS])
def test_an_existing_dependency_moves_to_the_declared_state(db, fields, verbs):
    plan_apply(plan_load(BASE))
    events = ActivityEvent.objects.count()
    text = _declare(**fields)

    result = plan_apply(plan_load(text))

    assert [str(c).split(":")[0] for c in result.changes] == ["~ dependency feature"]
    new = ActivityEvent.objects.order_by("id")[events:]
    assert [e.verb for e in new] == verbs
    dep = Dependency.objects.get(key="feature")
    assert dep.state == fields["state"]
    assert plan_apply(plan_load(text)).changes == []  # and it stays there


def test_a_counter_answered_both_ways(db):
    countered = BASE + "    state: countered\n    counter_date: 2026-11-20\n"
    plan_apply(plan_load(countered))
    taken = BASE.replace("needed_by: 2026-11-10", "needed_by: 2026-11-20")

    plan_apply(plan_load(taken + "    state: accepted\n"))
    dep = Dependency.objects.get(key="feature")
    assert (dep.state, dep.needed_by, dep.counter_date) == ("accepted", dt.date(2026, 11, 20), None)
    assert _events_of(dep)[-1] == "dependency.counter_accepted"

    Dependency.objects.all().delete()
    plan_apply(plan_load(countered.replace("key: feature", "key: feature-2")))
    plan_apply(plan_load(BASE.replace("key: feature", "key: feature-2")))
    dep = Dependency.objects.get(key="feature-2")
    assert (dep.state, dep.counter_date) == ("requested", None)
    assert _events_of(dep)[-1] == "dependency.counter_rejected"


UNREACHABLE = {
    "accepted back to requested": (
        {"state": "accepted", "delivered_by": "build"},
        {"state": "requested"},
        "state",
        "is accepted, needed by 2026-11-10, delivered by build in the database; no lifecycle "
        "step leads to requested, needed by 2026-11-10",
    ),
    "a delivered dependency missed": (
        {"state": "delivered", "delivered_by": "build"},
        {"state": "missed", "delivered_by": "build", "reason": "late"},
        "state",
        "is delivered",
    ),
    "a new date once accepted": (
        {"state": "accepted"},
        {"state": "accepted", "needed_by": "2026-11-30"},
        "needed_by",
        "no lifecycle step leads to accepted, needed by 2026-11-30",
    ),
    "naming the deliverer after acceptance": (
        {"state": "accepted"},
        {"state": "accepted", "delivered_by": "build"},
        "delivered_by",
        "delivered by build",
    ),
}


@pytest.mark.parametrize(
    ("first", "then", "field", "message"), UNREACHABLE.values(), ids=UNREACHABLE.keys()
)
def test_an_unreachable_state_is_refused_with_its_line_and_nothing_is_written(
    db, first, then, field, message
):
    plan_apply(plan_load(_declare(**first)))
    before = table_counts()
    text = _declare(**then)
    # The new entity changes too, to show the whole apply rolls back, not only the dependency.
    text = text.replace("name: Dep Co}", "name: Dep Co Ltd}")

    with pytest.raises(PlanError) as caught:
        plan_apply(plan_load(text, source="plan.yaml"))

    (problem,) = caught.value.problems
    lines = text.splitlines()
    assert problem.path == f"dependencies[0].{field}"
    assert problem.line is not None and lines[problem.line - 1].strip().startswith(field)
    assert problem.message.startswith("dependency 'feature': ") and message in problem.message
    assert table_counts() == before


def test_what_a_request_fixed_cannot_change(db):
    plan_apply(plan_load(BASE))
    before = table_counts()
    with pytest.raises(PlanError) as caught:
        plan_apply(plan_load(BASE.replace("title: Feature live", "title: Feature shipped")))
    (problem,) = caught.value.problems
    assert (problem.line, problem.path) == (23, "dependencies[0].title")
    assert "the title of a dependency cannot change once it is requested" in problem.message
    assert table_counts() == before


def test_a_service_refusal_names_the_dependency(db):
    # Ben leads nothing: the provider's answer is not his to give.
    plan_apply(plan_load(BASE))
    dep_org = Dependency.objects.get().organisation
    ben = org_services.person_create(
        organisation=dep_org, actor=None, name="Ben", email="ben@example.com"
    )
    text = BASE + "    state: accepted\n"
    with pytest.raises(PlanError) as caught:
        plan_apply(plan_load(text), actor=ben)
    (problem,) = caught.value.problems
    assert problem.path == "dependencies[0]" and "only leaders of Product" in problem.message


def test_a_key_taken_by_an_initiative_dependency_is_refused(db):
    org = plan_apply(plan_load(BASE.replace("key: feature", "key: other"))).organisation
    build = KeyResult.objects.get(key="build")
    initiative = goals.initiative_create(
        organisation=org,
        actor=None,
        title="Design",
        owner_unit=build.owner_unit,
        key_results=[build],
    )
    marketing = KeyResult.objects.get(key="visits").owner_unit
    alignment.dependency_request(
        organisation=org,
        actor=None,
        requester_item=initiative,
        provider_unit=marketing,
        title="Copy",
        needed_by=dt.date(2026, 11, 1),
        key="feature",
    )
    # Not exported: plans name key results only.
    assert [d.key for d in plan_from_db(org).dependencies] == ["other"]
    with pytest.raises(PlanError) as caught:
        plan_apply(plan_load(BASE))
    assert "a plan cannot show (asked for an initiative" in caught.value.problems[0].message


# ---- diff, prune, export -------------------------------------------------------------------


def test_diff_lists_dependency_changes(db):
    org = plan_apply(plan_load(BASE)).organisation
    text = BASE + "    state: accepted\n    delivered_by: build\n"

    changes = plan_diff(plan_from_db(org), plan_load(text))

    assert [str(c) for c in changes] == [
        "~ dependency feature: delivered_by null -> build; state requested -> accepted"
    ]


def test_a_dependency_only_in_the_database_is_never_pruned(db):
    plan_apply(plan_load(BASE))
    text = BASE.split("dependencies:")[0]

    result = plan_apply(plan_load(text), prune=True)

    assert [str(c) for c in result.kept] == [
        "- dependency feature (only in the database; dependencies are never pruned "
        "(cancel it in the app))"
    ]
    assert Dependency.objects.get().state == "requested"


def test_a_dependency_goes_out_of_the_diff_with_its_key_result(db):
    org = plan_apply(plan_load(BASE)).organisation
    text = BASE.split("dependencies:")[0].replace(
        "      - {key: visits, title: Visits, kind: increase, target: 100, owner: marketing}\n", ""
    )
    removals = [str(c) for c in plan_diff(plan_from_db(org), plan_load(text))]
    assert removals == ["- key_result visits (only in the database; kept unless --prune)"]


def test_a_canonical_plan_with_dependencies_dumps_to_itself(deps_text):
    assert plan_dump(plan_load(deps_text)) == deps_text


def test_export_apply_to_an_empty_database_export_is_exact_with_dependencies(db, deps_text):
    with transaction.atomic():
        organisation = plan_apply(plan_load(deps_text)).organisation
        exported = plan_dump(plan_from_db(organisation))
        transaction.set_rollback(True)
    assert exported == deps_text
    assert not any(table_counts().values())

    organisation = plan_apply(plan_load(exported)).organisation

    assert plan_dump(plan_from_db(organisation)) == exported


def test_export_shows_only_what_the_state_carries(db):
    """A countered reason survives acceptance in the database but not in the plan."""
    countered = BASE + "    state: countered\n    counter_date: 2026-11-20\n    reason: Busy\n"
    org = plan_apply(plan_load(countered)).organisation
    accepted = BASE.replace("2026-11-10", "2026-11-20") + "    state: accepted\n"
    plan_apply(plan_load(accepted))
    assert Dependency.objects.get().reason == "Busy"  # dependency_counter_answer keeps it

    (dep,) = plan_from_db(org).dependencies
    assert (dep.state, dep.reason, dep.counter_date) == ("accepted", "", None)
    assert plan_apply(plan_load(accepted)).changes == []


def test_endorsements_are_read_by_check_and_ignored_by_apply_and_export(db):
    text = BASE.replace("    level: shared\n", "    level: shared\n    endorsed_by: [product]\n")
    plan = plan_load(text)
    assert plan.objectives[0].endorsed_by == ["product"]
    assert "    endorsed_by: [product]\n" in plan_dump(plan)

    org = plan_apply(plan).organisation
    events = ActivityEvent.objects.count()

    assert "endorsed_by" not in plan_dump(plan_from_db(org))
    assert plan_apply(plan_load(text)).changes == []
    assert ActivityEvent.objects.count() == events


# ---- the route finder on its own --------------------------------------------------------------

D1, D2 = dt.date(2026, 11, 10), dt.date(2026, 11, 20)


@pytest.mark.parametrize(
    ("start", "goal", "verbs"),
    [
        (Standing("requested", D1), Standing("requested", D1), []),
        (Standing("requested", D1), Standing("cancelled", D1), ["cancel"]),
        (
            Standing("requested", D1),
            Standing("cancelled", D1, delivered_by="kr"),
            ["accept", "cancel"],
        ),
        (Standing("countered", D1, D2), Standing("accepted", D2), ["counter_accept"]),
        (Standing("countered", D1, D2), Standing("requested", D1), ["counter_reject"]),
        (
            Standing("countered", D1, D2),
            Standing("declined", D1, reason="no"),
            ["counter_reject", "decline"],
        ),
        (
            Standing("countered", D1, D2),
            Standing("accepted", D1, delivered_by="kr"),
            ["counter_reject", "accept"],
        ),
        (
            Standing("countered", D1, D2),
            Standing("countered", D1, dt.date(2026, 11, 30)),
            ["counter_reject", "counter"],
        ),
        (Standing("declined", D1, reason="no"), Standing("requested", D1), None),
        (Standing("missed", D1), Standing("delivered", D1), None),
        (Standing("requested", D1), Standing("requested", D2), None),
    ],
)
def test_route(start, goal, verbs):
    steps = route(start, goal)
    assert (None if steps is None else [s.verb for s in steps]) == verbs


def test_route_carries_the_plans_arguments():
    steps = route(Standing("requested", D1), Standing("missed", D1, delivered_by="kr", reason="x"))
    assert steps == [Step("accept", delivered_by="kr"), Step("miss", reason="x")]
