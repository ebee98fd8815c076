"""plan_diff: readable, ordered changes between two plans; it writes nothing."""

from __future__ import annotations

from lockstep.plans import plan_apply, plan_diff, plan_from_db, plan_load
from tests.plans.conftest import table_counts

NEW_OBJECTIVE = """\
  - key: aa-new
    title: A new objective
    cycle: 2026-q4
    owner: lab
"""
OLD_TEAM = """\
          - key: support
            name: Customer service
            kind: department
            weekly_capacity: null
            capacity_unit: hours
            children: []
"""


def test_diff_of_changed_target_added_objective_and_removed_unit(db, rich_text):
    current = plan_from_db(plan_apply(plan_load(rich_text)).organisation)
    assert OLD_TEAM in rich_text
    desired = plan_load(
        rich_text.replace("target: 1000.0", "target: 1500.0")
        .replace("objectives:\n", "objectives:\n" + NEW_OBJECTIVE)
        .replace(OLD_TEAM, "")
        # nothing may refer to the removed unit
        .replace(
            "memberships:\n      - {unit: lab, role: member}\n      - {unit: support, role: leader}",
            "memberships: []",
        )
        .replace("owners: [lab, support]", "owners: [lab]")
        .replace("owner: support", "owner: lab")
        .replace("co_owners: [lab]", "co_owners: []")
    )
    before = table_counts()

    changes = plan_diff(current, desired)

    assert [str(c) for c in changes] == [
        "~ person zoe@northwind.example: memberships [lab (member), support (leader)] -> []",
        "~ kpi response-time: owners [lab, support] -> [lab]",
        "+ objective aa-new",
        "~ objective delight-customers: owner support -> lab",
        "~ key_result emea-leads: target 1000.0 -> 1500.0",
        "~ key_result faq-done: owner support -> lab",
        "~ key_result first-response: owner support -> lab; co_owners [lab] -> []",
        "- unit support (only in the database; kept unless --prune)",
    ]
    leads = changes[4]
    assert (leads.kind, leads.entity, leads.key) == ("change", "key_result", "emea-leads")
    assert leads.details == ["target: 1000.0 -> 1500.0"]
    assert table_counts() == before


def test_against_nothing_everything_is_added_parents_first(rich_text):
    changes = plan_diff(None, plan_load(rich_text))

    assert {c.kind for c in changes} == {"add"}
    assert [str(c) for c in changes[:4]] == [
        "+ organisation northwind",
        "+ unit northwind",
        "+ unit commercial",
        "+ unit marketing",
    ]
    entities = [c.entity for c in changes]
    assert entities.index("cycle") > entities.index("person") > entities.index("unit")
    assert entities.index("key_result") > entities.index("objective") > entities.index("kpi")


def test_same_plan_no_changes(rich_text):
    assert plan_diff(plan_load(rich_text), plan_load(rich_text)) == []


def test_text_values_are_quoted_and_lists_compare_as_sets(rich_text):
    current = plan_load(rich_text)
    desired = plan_load(
        rich_text.replace("title: Grow revenue 20%", "title: Grow revenue 25%").replace(
            "contributors: [lab, marketing, sales-emea]",
            "contributors: [sales-emea, lab, marketing]",
        )
    )
    assert [str(c) for c in plan_diff(current, desired)] == [
        '~ objective grow-revenue: title "Grow revenue 20%" -> "Grow revenue 25%"'
    ]
