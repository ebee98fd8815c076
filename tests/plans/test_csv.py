"""CSV export and import of objectives and key results."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockstep.activity.models import ActivityEvent
from lockstep.goals.models import KeyResult, Objective
from lockstep.plans import CSV_COLUMNS, PlanError, csv_export, csv_import, plan_apply, plan_load
from lockstep.plans.csvio import guard, unguard
from tests.plans.conftest import table_counts

HEADER = (
    "objective_key,objective_title,cycle,level,owner,contributors,kr_key,kr_title,kind,start,"
    "target,measure,kr_owner,co_owners,weight,due,commitment"
)


@pytest.fixture
def northwind(db, rich_text):
    return plan_apply(plan_load(rich_text)).organisation


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_has_one_row_per_key_result(northwind):
    text = csv_export(northwind)
    rows = _rows(text)

    assert text.splitlines()[0] == HEADER == ",".join(CSV_COLUMNS)
    assert [(r["objective_key"], r["kr_key"]) for r in rows] == [
        ("delight-customers", "faq-done"),
        ("delight-customers", "first-response"),
        ("grow-revenue", "revenue"),
        ("lab-quality", ""),  # no key results: one row, KR columns empty
        ("win-emea", "emea-cac"),
        ("win-emea", "emea-launch"),
        ("win-emea", "emea-leads"),
    ]
    assert text.splitlines()[-1] == (
        "win-emea,Win the EMEA mid-market,2026-s1,shared,,lab marketing sales-emea,emea-leads,"
        '"1,000 qualified leads",increase,100.0,1000.0,leads,marketing,sales sales-emea,2.0,'
        "2026-10-15,aspirational"
    )


def test_importing_the_export_changes_nothing(northwind):
    before = table_counts()
    result = csv_import(northwind, csv_export(northwind))
    assert result.changes == []
    assert table_counts() == before


def test_csv_round_trip_into_an_organisation_without_goals(northwind, rich_text):
    exported = csv_export(northwind)
    # Same units and cycles, no objectives. A stepped milestone cannot travel by CSV alone
    # (steps have no column), so that row stays behind.
    bare = (
        rich_text.split("objectives:\n")[0].replace("slug: northwind", "slug: bare")
        + "objectives: []\n"
    )
    bare_org = plan_apply(plan_load(bare)).organisation
    portable = "".join(
        line for line in exported.splitlines(keepends=True) if ",emea-launch," not in line
    )

    result = csv_import(bare_org, portable)

    assert csv_export(bare_org) == portable
    assert [c.entity for c in result.changes].count("key_result") == 5


def test_import_updates_and_adds(northwind):
    text = csv_export(northwind).replace(",100.0,1000.0,leads,", ",100.0,1500.0,leads,")
    text += "new-goal,A new goal,2026-q4,unit,lab,,new-kr,New KR,at_least,,3,,lab,,,2026-11-30,\n"
    text += "lab-quality,Lab turnaround,2026-w41,unit,lab,,lab-kr,Turnaround days,decrease,5,3,days,lab,,,,\n"
    events = ActivityEvent.objects.count()

    result = csv_import(northwind, text)

    assert [str(c) for c in result.changes] == [
        "+ objective new-goal",
        "~ key_result emea-leads: target 1000.0 -> 1500.0",
        "+ key_result lab-kr",
        "+ key_result new-kr",
    ]
    assert ActivityEvent.objects.count() == events + 4
    kr = KeyResult.objects.get(key="new-kr")
    assert (kr.kind, kr.start, kr.target, kr.weight, kr.commitment) == (
        "at_least",
        0.0,
        3.0,
        1.0,
        "committed",
    )
    # What the CSV has no column for is kept.
    leads = KeyResult.objects.get(key="emea-leads")
    assert (leads.cadence_days, leads.owner_person.email) == (3, "ada@northwind.example")
    assert Objective.objects.get(key="win-emea").state == "draft"


def _fails(org, text: str) -> list[str]:
    before = table_counts()
    with pytest.raises(PlanError) as caught:
        csv_import(org, text)
    assert table_counts() == before
    return [str(p) for p in caught.value.problems]


def test_unknown_unit_names_the_line_and_column_and_writes_nothing(northwind):
    text = csv_export(northwind).replace(",leads,marketing,", ",leads,nobody,")
    assert _fails(northwind, text) == ["line 8: kr_owner: unknown unit 'nobody'"]


def test_every_bad_cell_is_reported(northwind):
    text = (
        csv_export(northwind)
        .replace("grow-revenue,Grow revenue 20%,fy2026,", "grow-revenue,Grow revenue 20%,fy2027,")
        .replace(",100.0,1000.0,leads,", ",100.0,lots,leads,")
        .replace("2026-10-15", "15/10/2026")
        .replace(",First response time,decrease,", ",First response time,shrink,")
        .replace(
            "lab-quality,Lab turnaround,2026-w41,unit,lab,",
            "lab-quality,Lab turnaround,2026-w41,unit,lab-x,",
        )
    )
    assert _fails(northwind, text) == [
        "line 3: kind: must be 'increase', 'decrease', 'at_least', 'at_most' or 'milestone' (got 'shrink')",
        "line 4: cycle: unknown cycle 'fy2027'",
        "line 5: owner: unknown unit 'lab-x'",
        "line 8: target: must be a number (got 'lots')",
        "line 8: due: must be a date YYYY-MM-DD (got '15/10/2026')",
    ]


def test_rows_of_one_objective_must_agree(northwind):
    text = csv_export(northwind).replace(
        "win-emea,Win the EMEA mid-market,2026-s1,shared,,lab marketing sales-emea,emea-leads",
        "win-emea,Win EMEA,2026-s1,shared,,lab marketing sales-emea,emea-leads",
    )
    assert _fails(northwind, text) == [
        "line 8: objective_title: differs from line 6 for the same objective"
    ]


def test_a_key_result_cannot_change_objective_by_csv(northwind):
    text = csv_export(northwind).replace(
        "grow-revenue,Grow revenue 20%,fy2026,company,,,revenue",
        "lab-quality,Lab turnaround,2026-w41,unit,lab,,revenue",
    )
    assert _fails(northwind, text) == [
        "line 4: kr_key: belongs to objective 'grow-revenue'; a key result cannot move to another objective"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "line 1: the header row must be exactly: " + HEADER),
        ("objective,title\n", "line 1: the header row must be exactly: " + HEADER),
        (HEADER + "\na,b\n", "line 2: has 2 cells; expected 17"),
        (HEADER + "\n,Title,fy2026,company,,,,,,,,,,,,,\n", "line 2: objective_key: is required"),
        (HEADER + "\nx,,fy2026,company,,,,,,,,,,,,,\n", "line 2: objective_title: is required"),
        (
            HEADER + "\nx,X,fy2026,company,,,,K,increase,,,,,,,,\n",
            "line 2: kr_key: is required when other key result cells are filled",
        ),
    ],
)
def test_malformed_files(northwind, text, problem):
    assert problem in _fails(northwind, text)


def test_a_multi_line_cell_does_not_shift_line_numbers(northwind):
    text = (
        HEADER + '\nx,"Two\nlines",fy2026,company,,,,,,,,,,,,,\ny,Y,nowhere,company,,,,,,,,,,,,,\n'
    )
    assert _fails(northwind, text) == ["line 4: cycle: unknown cycle 'nowhere'"]


def test_formula_injection_is_guarded_and_undone(northwind):
    # Text a spreadsheet would run as a formula, and a negative number that must stay one.
    text = csv_export(northwind) + (
        'calc,=HYPERLINK("http://evil"),fy2026,company,,,calc-kr,+1 more,increase,-5,10,@risk,'
        "lab,,,,\n"
        "quote,'already quoted,fy2026,company,,,,,,,,,,,,,\n"
    )
    csv_import(northwind, text)
    rows = {r["objective_key"]: r for r in _rows(csv_export(northwind))}

    calc = rows["calc"]
    assert calc["objective_title"] == '\'=HYPERLINK("http://evil")'
    assert (calc["kr_title"], calc["measure"]) == ("'+1 more", "'@risk")
    assert calc["start"] == "-5.0"  # a number, not text: no quote
    assert rows["quote"]["objective_title"] == "''already quoted"
    assert Objective.objects.get(key="calc").title == '=HYPERLINK("http://evil")'
    assert Objective.objects.get(key="quote").title == "'already quoted"
    kr = KeyResult.objects.get(key="calc-kr")
    assert (kr.title, kr.measure, kr.start) == ("+1 more", "@risk", -5.0)
    # and the guarded export imports back to exactly the same values
    assert csv_import(northwind, csv_export(northwind)).changes == []


@given(st.text())
def test_guard_is_undone_exactly(text):
    assert unguard(guard(text)) == text
    assert not guard(text).startswith(("=", "+", "-", "@", "\t", "\r"))
