"""Bad plans: every problem is reported, with the line of the file, and nothing is written."""

from __future__ import annotations

import pytest

from lockstep.plans import PlanError, Problem, plan_apply, plan_load
from tests.plans.conftest import table_counts

BASE = """\
organisation: {slug: plan-co, name: Plan Co}
units:
  - key: plan-co
    name: Plan Co
    kind: company
    children:
      - {key: product, name: Product}
      - {key: marketing, name: Marketing}
cycles:
  - key: q4
    name: Q4
    kind: quarter
    start: 2026-10-01
    end: 2026-12-31
    children:
      - {key: w1, name: Week 1, kind: week, start: 2026-10-05, end: 2026-10-11}
objectives:
  - key: growth
    title: Grow
    cycle: q4
    level: company
  - key: launch
    title: Launch
    cycle: w1
    owner: product
    contributes_to: [{objective: growth}]
    key_results:
      - {key: visits, title: Visits, kind: increase, start: 0, target: 100, owner: product}
"""
KR = "{key: visits, title: Visits, kind: increase, start: 0, target: 100, owner: product}"


def test_the_base_plan_is_valid():
    assert plan_load(BASE).organisation.slug == "plan-co"


CASES = {
    "invalid YAML": ("    title: Grow\n", "    title: [Grow\n", 20, "", "invalid YAML"),
    "unknown field": (
        "{key: product, name: Product}",
        "{key: product, name: Product, colour: red}",
        7,
        "units[0].children[0].colour",
        "unknown field",
    ),
    "misspelt field": (
        "    title: Launch\n",
        "    titel: Launch\n",
        23,
        "objectives[1].titel",
        "unknown field; did you mean 'title'?",
    ),
    "missing field": ("    title: Grow\n", "", 18, "objectives[0].title", "is required"),
    "wrong type": (
        "target: 100,",
        "target: lots,",
        28,
        "objectives[1].key_results[0].target",
        "must be a valid number (got 'lots')",
    ),
    "wrong choice": (
        "kind: increase",
        "kind: grow",
        28,
        "objectives[1].key_results[0].kind",
        "must be 'increase', 'decrease', 'at_least', 'at_most' or 'milestone' (got 'grow')",
    ),
    "unknown unit": (
        "owner: product}",
        "owner: sales}",
        28,
        "objectives[1].key_results[0].owner",
        "unknown unit 'sales'",
    ),
    "unknown cycle": ("cycle: w1", "cycle: w2", 24, "objectives[1].cycle", "unknown cycle 'w2'"),
    "unknown objective": (
        "{objective: growth}",
        "{objective: grow}",
        26,
        "objectives[1].contributes_to[0].objective",
        "unknown objective 'grow'",
    ),
    "unknown kpi": (
        "owner: product}",
        "owner: product, kpi: cac}",
        28,
        "objectives[1].key_results[0].kpi",
        "unknown KPI 'cac'",
    ),
    "unknown person": (
        "owner: product}",
        "owner: product, owner_person: Bob@Example.com}",
        28,
        "objectives[1].key_results[0].owner_person",
        "no person with e-mail 'bob@example.com' under people",
    ),
    "duplicate unit key": (
        "{key: marketing, name: Marketing}",
        "{key: product, name: Marketing}",
        8,
        "units[0].children[1].key",
        "'product' is used twice (first at line 7)",
    ),
    "duplicate objective key": (
        "  - key: launch\n",
        "  - key: growth\n",
        22,
        "objectives[1].key",
        "'growth' is used twice (first at line 18)",
    ),
    "duplicate field": (
        "{key: product, name: Product}",
        "{key: product, name: Product, name: Prod}",
        7,
        "units[0].children[0].name",
        "is written twice in the same mapping",
    ),
    "target equals start": (
        "start: 0, target: 100",
        "start: 100, target: 100",
        28,
        "objectives[1].key_results[0].target",
        "must differ from the start value",
    ),
    "increase below start": (
        "start: 0, target: 100",
        "start: 200, target: 100",
        28,
        "objectives[1].key_results[0].target",
        "must be above the start for 'increase'",
    ),
    "decrease above start": (
        "kind: increase",
        "kind: decrease",
        28,
        "objectives[1].key_results[0].target",
        "must be below the start for 'decrease'",
    ),
    "missing target": (
        "start: 0, target: 100",
        "start: 0",
        28,
        "objectives[1].key_results[0].target",
        "is required for a 'increase' key result",
    ),
    "milestone target": (
        "kind: increase, start: 0, target: 100",
        "kind: milestone, steps: [a, b], target: 3",
        28,
        "objectives[1].key_results[0].target",
        "a milestone's target is its number of steps (2); leave target out",
    ),
    "steps on a number": (
        "start: 0, target: 100",
        "start: 0, target: 100, steps: [a]",
        28,
        "objectives[1].key_results[0].steps",
        "only milestone key results have steps",
    ),
    "cycle outside its parent": (
        "start: 2026-10-05, end: 2026-10-11",
        "start: 2026-12-28, end: 2027-01-03",
        16,
        "cycles[0].children[0].end",
        "the cycle (2026-12-28 to 2027-01-03) lies outside its parent 'q4' (2026-10-01 to 2026-12-31)",
    ),
    "cycle ends before it starts": (
        "start: 2026-10-05, end: 2026-10-11",
        "start: 2026-10-05, end: 2026-10-01",
        16,
        "cycles[0].children[0].end",
        "must not be before start",
    ),
    "due outside the cycle": (
        "owner: product}",
        "owner: product, due: 2026-10-20}",
        28,
        "objectives[1].key_results[0].due",
        "must lie inside the cycle 'w1' (2026-10-05 to 2026-10-11)",
    ),
    "contribution loop": (
        "    level: company\n",
        "    level: company\n    contributes_to: [{objective: launch}]\n",
        27,
        "objectives[1].contributes_to[0].objective",
        "contribution links form a loop: growth -> launch -> growth",
    ),
    "self link": (
        "{objective: growth}",
        "{objective: launch}",
        26,
        "objectives[1].contributes_to[0].objective",
        "an objective cannot contribute to itself",
    ),
    "invalid key": (
        "{key: product, name: Product}",
        "{key: Product X, name: Product}",
        7,
        "units[0].children[0].key",
        "use lower-case letters, digits, '-' or '_'",
    ),
    "unit objective without owner": (
        "    owner: product\n",
        "",
        22,
        "objectives[1].owner",
        "a unit objective needs its owner unit",
    ),
    "shared objective with one unit": (
        "    owner: product\n",
        "    level: shared\n    contributors: [product]\n",
        26,
        "objectives[1].contributors",
        "a shared objective needs at least two units",
    ),
    "co-owner is the owner": (
        "owner: product}",
        "owner: product, co_owners: [product]}",
        28,
        "objectives[1].key_results[0].co_owners",
        "the accountable unit cannot also be a co-owner",
    ),
    "bad margins": (
        "name: Plan Co}",
        "name: Plan Co, on_track_margin: 0.5, at_risk_margin: 0.2}",
        1,
        "organisation.at_risk_margin",
        "need 0 <= on_track_margin <= at_risk_margin <= 1",
    ),
    "unknown time zone": (
        "name: Plan Co}",
        "name: Plan Co, timezone: Mars/Olympus}",
        1,
        "organisation.timezone",
        "unknown time zone 'Mars/Olympus'",
    ),
    "section not a list": (
        "cycles:\n",
        "people: nobody\ncycles:\n",
        9,
        "people",
        "must be a list",
    ),
}


def _expect(problems: list[Problem], line: int, path: str, message: str) -> None:
    matching = [p for p in problems if p.line == line and p.path == path and message in p.message]
    assert matching, f"no problem at line {line} {path!r} saying {message!r} in {problems}"


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"), CASES.values(), ids=CASES.keys()
)
def test_a_bad_plan_names_the_line_and_writes_nothing(
    db, org, units, old, new, line, path, message
):
    assert old in BASE
    before = table_counts()
    with pytest.raises(PlanError) as caught:
        plan_apply(plan_load(BASE.replace(old, new, 1), source="plan.yaml"))
    _expect(caught.value.problems, line, path, message)
    assert table_counts() == before


def test_every_problem_is_reported_at_once():
    text = (
        BASE.replace("kind: increase", "kind: decrease")
        .replace("cycle: w1", "cycle: w9")
        .replace("{key: marketing, name: Marketing}", "{key: marketing, name: Marketing, size: 3}")
        .replace("{objective: growth}", "{objective: nowhere}")
    )
    with pytest.raises(PlanError) as caught:
        plan_load(text)
    assert [str(p) for p in caught.value.problems] == [
        "line 8: units[0].children[1].size: unknown field; expected one of key, name, kind, "
        "weekly_capacity, capacity_unit, children",
        "line 24: objectives[1].cycle: unknown cycle 'w9'",
        "line 26: objectives[1].contributes_to[0].objective: unknown objective 'nowhere'",
        "line 28: objectives[1].key_results[0].target: must be below the start for 'decrease' "
        "(use 'increase' to go up)",
    ]


def test_one_broken_item_does_not_hide_the_next_or_cascade():
    # The first unit is broken; its key still counts, so the KR naming it is not reported.
    text = BASE.replace("{key: product, name: Product}", "{key: product, name: 7}").replace(
        "start: 0, target: 100", "start: 5, target: 5"
    )
    with pytest.raises(PlanError) as caught:
        plan_load(text)
    assert [(p.line, p.path) for p in caught.value.problems] == [
        (7, "units[0].children[0].name"),
        (28, "objectives[1].key_results[0].target"),
    ]


def test_positions_stay_right_after_an_invalid_item_is_left_out():
    text = BASE.replace("    title: Grow\n", "    title: Grow\n    bogus: 1\n").replace(
        "cycle: w1", "cycle: w9"
    )
    with pytest.raises(PlanError) as caught:
        plan_load(text)
    assert [str(p) for p in caught.value.problems] == [
        "line 20: objectives[0].bogus: unknown field; expected one of key, title, cycle, level, "
        "owner, contributors, state, private, description, contributes_to, key_results, endorsed_by",
        "line 25: objectives[1].cycle: unknown cycle 'w9'",
    ]


def test_problem_and_error_text():
    with pytest.raises(PlanError) as caught:
        plan_load(
            BASE.replace("start: 0, target: 100", "start: 100, target: 100"), source="q4.yaml"
        )
    error = caught.value
    assert str(error.problems[0]) == (
        "line 28: objectives[1].key_results[0].target: must differ from the start value"
    )
    assert str(error).splitlines()[0] == "q4.yaml: 1 problem"
    assert error.status == 422 and error.fields[0].field == "objectives[1].key_results[0].target"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the plan is empty"),
        ("- a\n- b\n", "a plan must be a mapping"),
        ("units: []\n", "is required"),
    ],
)
def test_not_a_plan(text, message):
    with pytest.raises(PlanError) as caught:
        plan_load(text)
    assert message in str(caught.value)


def test_yaml_cannot_build_python_objects():
    with pytest.raises(PlanError) as caught:
        plan_load("organisation: !!python/object/apply:os.system ['echo hi']\n")
    assert caught.value.problems[0].line == 1
    assert "invalid YAML" in caught.value.problems[0].message
