"""Bulk import of check-ins from CSV: the same running values as one check-in at a time,
every bad cell named by line and column, and nothing written unless everything is."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import types
import zoneinfo

import pytest
from django.db import transaction
from django.utils import timezone

from lockstep.activity.models import ActivityEvent
from lockstep.cli import main
from lockstep.errors import Conflict
from lockstep.goals import imports
from lockstep.goals import services as goals
from lockstep.goals.models import KR_COUNT_FIELDS, CheckIn, KeyResult, Objective
from lockstep.plans.problems import PlanError
from tests.goals.test_stored_numbers import assert_stored_is_live

HEADER = "key_result,at,value,confidence,note\n"
RUNNING = [
    "current_value",
    "last_checkin_at",
    "last_confidence",
    "checkin_count",
    "sum_t",
    "sum_v",
    "sum_tt",
    "sum_tv",
]


# One clock reading for the whole module, so a test reads the same moment twice.
NOW = timezone.now().replace(microsecond=0)


def ago(days: float = 0, hours: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days, hours=hours)


def csv_of(*rows: tuple[object, ...], header: str = HEADER) -> str:
    return header + "".join(",".join(map(str, row)) + "\n" for row in rows)


def run(org, text, actor=None, **kw):
    return imports.checkins_import_csv(organisation=org, text_or_stream=text, actor=actor, **kw)


@pytest.fixture
def plan(org, units, cycle):
    """Two twin KRs of each kind that matters, one objective, under a company objective."""
    company = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        key="company",
        title="Grow",
        level="company",
        owner_unit=units["acme"],
    )
    team = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        key="team",
        title="Ship",
        owner_unit=units["product"],
        parents=[(company, 1.0)],
    )
    krs = {}
    for key, kind, start, target in (
        ("visits", "increase", 0, 100),
        ("twin", "increase", 0, 100),
        ("crashes", "decrease", 50, 10),
        ("release", "milestone", 0, 1),
    ):
        krs[key] = goals.key_result_create(
            objective=team,
            actor=None,
            key=key,
            title=key,
            kind=kind,
            start=start,
            target=target,
            owner_unit=units["product"],
        )
    return {"company": company, "team": team, **krs}


def fresh(kr: KeyResult) -> KeyResult:
    return KeyResult.objects.get(pk=kr.pk)


def test_the_import_leaves_what_one_check_in_at_a_time_leaves(org, plan, person):
    """Rows out of time order: the running values end as those of the latest by time."""
    rows = [(ago(2), 40.0, 6), (ago(6), 10.0, 3), (ago(1), 55.5, 8), (ago(4), 20.0, 4)]
    for at, value, confidence in rows:
        goals.checkin_record(
            key_result=plan["twin"], actor=None, value=value, confidence=confidence, at=at
        )
    result = run(
        org,
        csv_of(*((k, at.isoformat(), v, c, "") for at, v, c in rows for k in ["visits"])),
        actor=person,
    )
    assert (result.checkins, result.key_results) == (4, 1)
    visits, twin = fresh(plan["visits"]), fresh(plan["twin"])
    for name in RUNNING:
        mine, theirs = getattr(visits, name), getattr(twin, name)
        assert mine == (pytest.approx(theirs, rel=1e-12) if name.startswith("sum") else theirs)
    assert (visits.current_value, visits.last_confidence, visits.checkin_count) == (55.5, 8, 4)
    assert visits.last_checkin_at == ago(1)
    assert (visits.progress, visits.status) == (twin.progress, twin.status)
    assert_stored_is_live(org)
    assert list(
        CheckIn.objects.filter(key_result=visits).values_list("value", "source", "author")
    ) == [
        (10.0, "import", person.pk),
        (20.0, "import", person.pk),
        (40.0, "import", person.pk),
        (55.5, "import", person.pk),
    ]


def test_older_rows_do_not_move_a_later_check_in(org, plan):
    goals.checkin_record(key_result=plan["visits"], actor=None, value=50, confidence=9, at=ago(1))
    run(
        org,
        csv_of(
            ("visits", ago(5).isoformat(), 10, 2, ""), ("visits", ago(3).isoformat(), 20, 3, "")
        ),
    )
    kr = fresh(plan["visits"])
    assert (kr.current_value, kr.last_confidence, kr.last_checkin_at) == (50, 9, ago(1))
    assert kr.checkin_count == 3
    assert kr.sum_v == pytest.approx(80)
    # The same moment as the stored last check-in: the import comes later and wins.
    run(org, csv_of(("visits", ago(1).isoformat(), 60, 7, "")))
    kr = fresh(plan["visits"])
    assert (kr.current_value, kr.last_confidence, kr.checkin_count) == (60, 7, 4)
    assert_stored_is_live(org)


def test_the_import_refreshes_stored_numbers_and_records_one_event(org, plan, person):
    events = ActivityEvent.objects.count()
    text = csv_of(
        ("visits", ago(2).isoformat(), 30, 5, ""),
        (plan["crashes"].pk, ago(2).date().isoformat(), 30, 5, "'=cmd"),
        ("release", ago(0, hours=1).isoformat(), 1, 9, "shipped, at last"),
    ).replace("shipped, at last", '"shipped, at last"')
    run(org, text, actor=person)
    assert_stored_is_live(org)
    release = fresh(plan["release"])
    assert (release.progress, release.status) == (1.0, "done")
    team = Objective.objects.get(pk=plan["team"].pk)
    assert 0 < team.progress < 1
    assert ActivityEvent.objects.count() == events + 1
    event = ActivityEvent.objects.latest("id")
    assert (event.verb, event.actor, event.after) == (
        "checkin.imported",
        person,
        {
            "checkins": 3,
            "key_results": 3,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),  # the file's idempotency key
        },
    )
    crashes = CheckIn.objects.get(key_result=plan["crashes"])
    # A date alone is midnight in the organisation's time zone; a guarded note is unguarded.
    assert crashes.at == dt.datetime.combine(ago(2).date(), dt.time(), tzinfo=dt.UTC)
    assert crashes.note == "=cmd"
    assert CheckIn.objects.get(key_result=plan["release"]).note == "shipped, at last"


def test_times_without_offset_are_read_in_the_organisation_time_zone(org, plan):
    org.timezone = "Europe/Berlin"
    org.save()
    local = ago(2).astimezone(zoneinfo.ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    run(org, csv_of(("visits", local.isoformat(), 30, 5, "")))
    assert fresh(plan["visits"]).last_checkin_at == ago(2)


def test_an_empty_confidence_takes_the_last_one(org, plan):
    goals.checkin_record(key_result=plan["visits"], actor=None, value=5, confidence=9, at=ago(3))
    run(
        org,
        csv_of(
            ("visits", ago(4).isoformat(), 1, "", ""),  # older than the stored one: its 9
            ("visits", ago(2).isoformat(), 6, 4, ""),
            ("visits", ago(1).isoformat(), 7, "", ""),  # after the row above: its 4
            ("crashes", ago(1).isoformat(), 40, "", ""),  # never checked in: 5
        ),
    )
    confidences = dict(CheckIn.objects.values_list("value", "confidence"))
    assert (confidences[1], confidences[7], confidences[40]) == (9, 4, 5)
    assert fresh(plan["visits"]).last_confidence == 4


def test_every_bad_cell_is_named_and_nothing_is_written(org, plan, unchanged):
    goals.key_result_archive(key_result=plan["twin"], actor=None)
    text = csv_of(
        ("visits", ago(1).isoformat(), 10, 5, "fine"),
        ("nope", ago(1).isoformat(), 10, 5, ""),
        ("visits", "yesterday", "ten", 11, ""),
        ("twin", ago(1).isoformat(), 10, 5, ""),
        ("visits", ago(30).isoformat(), 10, 5, ""),
        ("visits", (timezone.now() + dt.timedelta(hours=2)).isoformat(), 10, 5, ""),
        ("release", ago(1).isoformat(), 0.5, 5, ""),
        ("visits", ago(1).isoformat(), "nan", "7.5", ""),
        ("visits", ago(1).isoformat()),
    )
    with unchanged(), pytest.raises(PlanError) as raised:
        run(org, text)
    assert [str(p) for p in raised.value.problems] == [
        "line 3: key_result: no key result 'nope' in this organisation",
        "line 4: at: must be an ISO date or date-time (got 'yesterday')",
        "line 4: value: must be a finite number (got 'ten')",
        "line 4: confidence: must be a whole number from 1 to 10 (got '11')",
        "line 5: key_result: key result 'twin' is archived",
        "line 6: at: must lie inside the cycle 'sprint' "
        f"({plan['team'].cycle.start} to {plan['team'].cycle.end})",
        "line 7: at: must not be in the future",
        "line 8: value: must be a whole number of steps from 0 to 1",
        "line 9: value: must be a finite number (got 'nan')",
        "line 9: confidence: must be a whole number from 1 to 10 (got '7.5')",
        "line 10: has 2 cells; expected 5",
    ]
    assert raised.value.fields[0].field == "key_result"


def test_a_closed_objective_takes_no_check_ins(org, plan, unchanged):
    Objective.objects.filter(pk=plan["team"].pk).update(state=Objective.State.CLOSED)
    with unchanged(), pytest.raises(PlanError, match="belongs to a closed objective"):
        run(org, csv_of(("visits", ago(1).isoformat(), 10, 5, "")))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "line 1: the header row must name the columns key_result, at, value"),
        ("key_result,value\n", "(missing at)"),
        ("key_result,at,value,colour\n", "(unknown colour)"),
        ("key_result,at,value,value\n", "(repeated value)"),
        (HEADER, "line 2: the file has no check-ins"),
    ],
)
def test_malformed_files(org, plan, text, problem, unchanged):
    with unchanged(), pytest.raises(PlanError) as raised:
        run(org, text)
    assert problem in str(raised.value.problems[0])


def test_problems_stop_at_the_limit(org, plan, monkeypatch):
    monkeypatch.setattr(imports, "MAX_PROBLEMS", 3)
    with pytest.raises(PlanError) as raised:
        run(org, csv_of(*[("nope", ago(1).isoformat(), 1, 1, "")] * 10))
    assert [p.line for p in raised.value.problems] == [2, 3, 4, None]
    assert "stopped reading after 3 problems" in str(raised.value.problems[-1])


def test_columns_in_any_order_with_a_byte_order_mark_and_by_id(org, plan):
    text = f"\ufeffvalue,key_result,at\n12,{plan['visits'].pk},{ago(1).isoformat()}\n"
    result = run(org, io.StringIO(text))
    assert result.checkins == 1
    assert fresh(plan["visits"]).current_value == 12


@pytest.mark.parametrize("step", ["_running_values_add", "numbers_refresh_full", "event_record"])
def test_a_failure_halfway_leaves_the_database_unchanged(org, plan, monkeypatch, unchanged, step):
    goals.checkin_record(key_result=plan["visits"], actor=None, value=5, confidence=9, at=ago(3))
    before = {f: getattr(fresh(plan["visits"]), f) for f in [*RUNNING, "progress", "status"]}
    real = getattr(imports, step)

    def fail(*args, **kwargs):
        real(*args, **kwargs)  # the step does its writes, then the import fails
        raise RuntimeError("disk full")

    monkeypatch.setattr(imports, step, fail)
    with unchanged(), pytest.raises(RuntimeError, match="disk full"):
        run(
            org,
            csv_of(
                ("visits", ago(1).isoformat(), 50, 5, ""),
                ("crashes", ago(1).isoformat(), 30, 5, ""),
            ),
        )
    assert {f: getattr(fresh(plan["visits"]), f) for f in before} == before


def test_a_failed_findings_refresh_keeps_the_import(org, plan, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(imports, "findings_refresh_full", fail)
    result = run(org, csv_of(("visits", ago(1).isoformat(), 50, 5, "")))
    assert (result.checkins, result.findings_refreshed) == (1, False)
    assert fresh(plan["visits"]).current_value == 50
    assert_stored_is_live(org)


def test_findings_follow_the_import(org, plan):
    from lockstep.alignment.models import Finding

    def low_confidence():
        return Finding.objects.filter(organisation=org, code="LOW_CONFIDENCE").count()

    assert low_confidence() == 0
    result = run(org, csv_of(("visits", ago(1).isoformat(), 50, 2, "")))
    assert result.findings_refreshed and low_confidence() == 1
    run(org, csv_of(("visits", ago(0, hours=1).isoformat(), 60, 8, "")), findings=False)
    assert low_confidence() == 1  # left to the next full refresh


def test_a_key_result_archived_after_the_check_refuses_the_write(org, plan, monkeypatch, unchanged):
    real = imports._Reader.read

    def read_then_archive(self, stream):
        real(self, stream)
        KeyResult.objects.filter(pk=plan["visits"].pk).update(archived_at=timezone.now())

    monkeypatch.setattr(imports._Reader, "read", read_then_archive)
    with unchanged(), pytest.raises(Conflict):
        run(org, csv_of(("visits", ago(1).isoformat(), 50, 5, "")))


def test_the_command_imports_and_reports(org, plan, tmp_path, capsys):
    path = tmp_path / "checkins.csv"
    path.write_text(csv_of(("visits", ago(1).isoformat(), 50, 5, "")), encoding="utf-8")
    assert main(["import-checkins", str(path), "--org", "acme", "--numbers-only"]) == 0
    assert "Imported 1 check-ins on 1 key results in" in capsys.readouterr().out
    assert fresh(plan["visits"]).current_value == 50
    path.write_text(csv_of(("nope", ago(1).isoformat(), 50, 5, "")), encoding="utf-8")
    assert main(["import-checkins", str(path), "--org", "acme"]) == 1
    assert "line 2: key_result: no key result 'nope'" in capsys.readouterr().err


NUMBERS = ["progress", "status", "numbers_at"]


def numbers_of(org) -> dict[int, tuple[object, ...]]:
    return {
        pk: tuple(rest)
        for pk, *rest in KeyResult.objects.filter(organisation=org).values_list("pk", *NUMBERS)
    }


@pytest.fixture
def refresh_spy(monkeypatch):
    """The KRs' stored numbers just before and just after the import's full refresh, with
    the touched KRs' numbers stored by the running-values UPDATE on either database."""
    monkeypatch.setattr(imports, "NUMBERS_FOLDED_ON", frozenset({"postgresql", "sqlite"}))
    seen: dict[str, dict[int, tuple[object, ...]]] = {}
    real = imports.numbers_refresh_full

    def spy(organisation, **kwargs):
        seen["before"] = numbers_of(organisation)
        written = real(organisation, **kwargs)
        seen["after"] = numbers_of(organisation)
        return written

    monkeypatch.setattr(imports, "numbers_refresh_full", spy)
    return seen


def test_the_touched_krs_store_what_the_full_refresh_computes(org, plan, refresh_spy):
    """The running-values UPDATE stores the touched KRs' progress and status: the full
    refresh after it finds none of them to rewrite, and what is stored is what it computes."""
    goals.checkin_record(key_result=plan["visits"], actor=None, value=50, confidence=9, at=ago(1))
    before = fresh(plan["visits"])
    run(
        org,
        csv_of(
            ("visits", ago(5).isoformat(), 10, 2, ""),  # older: visits keeps its numbers
            ("twin", ago(3).isoformat(), 100, 4, ""),  # done
            ("crashes", ago(2).isoformat(), 45, 6, ""),
            ("crashes", ago(4).isoformat(), 20, 6, ""),
            ("release", ago(1).isoformat(), 0, 5, ""),
        ),
    )
    assert refresh_spy["before"] == refresh_spy["after"]
    visits = fresh(plan["visits"])
    assert (visits.progress, visits.status, visits.numbers_at) == (
        before.progress,
        before.status,
        before.numbers_at,  # as the full refresh: numbers_at moves only with the numbers
    )
    assert fresh(plan["twin"]).status == "done"
    assert fresh(plan["release"]).status != "not_started"
    assert_stored_is_live(org)


class _Undo(Exception):
    pass


def test_the_import_stores_what_the_full_refresh_alone_stored(org, plan, monkeypatch):
    """Every KR's and objective's numbers and numbers_at are the same whether the
    running-values UPDATE stores the touched KRs' numbers or, as the import used to, the
    full refresh after it does."""
    goals.checkin_record(key_result=plan["visits"], actor=None, value=50, confidence=9, at=ago(1))
    goals.checkin_record(key_result=plan["twin"], actor=None, value=20, confidence=9, at=ago(6))
    goals.checkin_record(key_result=plan["crashes"], actor=None, value=45, confidence=9, at=ago(6))
    text = csv_of(
        ("visits", ago(5).isoformat(), 10, 2, ""),  # older than the stored check-in
        ("twin", ago(3).isoformat(), 30, 4, ""),
        ("crashes", ago(2).isoformat(), 45, 6, ""),  # the same value again
        ("release", ago(1).isoformat(), 1, 5, ""),
    )
    objectives = Objective.objects.filter(organisation=org).order_by("pk")
    # Both imports run as of the same moment.
    moment = timezone.now()
    monkeypatch.setattr(imports, "timezone", types.SimpleNamespace(now=lambda: moment))

    def imported(vendors: frozenset[str]):
        monkeypatch.setattr(imports, "NUMBERS_FOLDED_ON", vendors)
        try:
            with transaction.atomic():
                run(org, text)
                stored = (
                    numbers_of(org),
                    list(objectives.values_list("pk", *NUMBERS, *KR_COUNT_FIELDS)),
                )
                assert_stored_is_live(org)
                raise _Undo
        except _Undo:
            return stored

    assert imported(frozenset({"postgresql", "sqlite"})) == imported(frozenset())


def test_a_check_in_recorded_while_reading_still_ends_in_the_right_numbers(
    org, plan, monkeypatch, refresh_spy
):
    """The import computes the touched KRs' numbers from what it read before its
    transaction; a check-in recorded since is caught by the full refresh."""
    real = imports._Reader.read

    def read_then_check_in(self, stream):
        real(self, stream)
        goals.checkin_record(
            key_result=plan["visits"], actor=None, value=100, confidence=9, at=ago(0, hours=1)
        )

    monkeypatch.setattr(imports._Reader, "read", read_then_check_in)
    run(org, csv_of(("visits", ago(2).isoformat(), 10, 5, "")))
    visits = fresh(plan["visits"])
    assert (visits.current_value, visits.checkin_count, visits.status) == (100, 2, "done")
    assert refresh_spy["before"][visits.pk] != refresh_spy["after"][visits.pk]
    assert_stored_is_live(org)


def test_the_same_file_twice_is_refused_and_writes_nothing_unless_again(org, plan, unchanged):
    text = csv_of(("visits", ago(2).isoformat(), 30, 5, "first"))
    run(org, text, findings=False)
    with unchanged(), pytest.raises(Conflict, match=r"already imported.*--again"):
        run(org, io.StringIO(text), findings=False)  # a stream hashes the same as the text
    run(org, text, findings=False, again=True)
    assert CheckIn.objects.filter(key_result=plan["visits"]).count() == 2
    # One byte more is another file.
    run(org, text + "\n", findings=False)
