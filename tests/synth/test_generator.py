"""The synthetic organisation generator: shape, determinism, consistent running sums."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter, defaultdict

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from lockstep.activity.models import ActivityEvent
from lockstep.alignment.models import Dependency, Finding, Review
from lockstep.alignment.services import findings_refresh_full
from lockstep.bulk import bulk_insert, tables_analyze
from lockstep.core.progress import KRKind
from lockstep.core.rollup import find_cycle
from lockstep.core.snapshot import DependencyState
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
from lockstep.goals.selectors import cycle_window
from lockstep.goals.services import key_result_sums_rebuild
from lockstep.org.models import Membership, Organisation, Unit
from lockstep.synth import synth_generate

# A Wednesday afternoon; the quarter around it crosses the end of summer time in Berlin.
NOW = dt.datetime(2026, 11, 18, 14, 30, tzinfo=dt.UTC)
KRS = 300


@pytest.fixture
def synth(db):
    stats = synth_generate(slug="synth", krs=KRS, seed=3, now=NOW)
    return stats, Organisation.objects.get(pk=stats.organisation_id)


def _kr_tuples(org: Organisation) -> list[tuple[object, ...]]:
    co_owners = defaultdict(list)
    for kr_key, unit_key in KeyResult.co_owners.through.objects.filter(
        keyresult__organisation=org
    ).values_list("keyresult__key", "unit__key"):
        co_owners[kr_key].append(unit_key)
    rows = KeyResult.objects.filter(organisation=org).order_by("key")
    return [
        (
            *values,
            tuple(sorted(co_owners[values[0]])),
        )
        for values in rows.values_list(
            "key",
            "title",
            "objective__key",
            "objective__cycle__key",
            "kind",
            "start",
            "target",
            "measure",
            "steps",
            "weight",
            "due",
            "commitment",
            "owner_unit__key",
            "owner_person__name",
            "cadence_days",
            "kpi__key",
            "current_value",
            "last_checkin_at",
            "last_confidence",
            "checkin_count",
            "sum_t",
            "sum_v",
            "sum_tt",
            "sum_tv",
        )
    ]


def test_size_and_tree(synth):
    stats, org = synth
    assert KeyResult.objects.filter(organisation=org).count() == KRS == stats.key_results
    units = {u.pk: u for u in Unit.objects.filter(organisation=org)}
    kinds = Counter(u.kind for u in units.values())
    assert kinds["company"] == 1 and kinds["division"] >= 1
    assert kinds["department"] >= 1 and kinds["team"] >= kinds["department"]
    depth = {"company": 0, "division": 1, "department": 2, "team": 3}
    for u in units.values():
        if u.kind == "company":
            assert u.parent_id is None
        else:
            assert depth[units[u.parent_id].kind] == depth[u.kind] - 1
    team_sizes = Counter(
        Membership.objects.filter(unit__organisation=org, unit__kind="team").values_list(
            "unit_id", flat=True
        )
    )
    assert 6 <= sum(team_sizes.values()) / len(team_sizes) <= 10
    leaders = Membership.objects.filter(unit__organisation=org, role="leader")
    assert leaders.count() == len(units)
    # Only the one summary event: the bulk path records nothing per item.
    assert list(ActivityEvent.objects.filter(organisation=org).values_list("verb", flat=True)) == [
        "organisation.synthesised"
    ]
    connection.check_constraints()


def test_cycles_objectives_and_links(synth):
    _, org = synth
    cycles = {c.pk: c for c in Cycle.objects.filter(organisation=org)}
    quarter = next(c for c in cycles.values() if c.kind == "quarter")
    weeks = sorted((c for c in cycles.values() if c.kind == "week"), key=lambda c: c.start)
    assert len(weeks) == 13 and all(w.parent_id == quarter.pk for w in weeks)
    assert weeks[0].start == quarter.start and weeks[-1].end == quarter.end
    objectives = list(Objective.objects.filter(organisation=org))
    used = {o.cycle_id for o in objectives}
    assert used <= set(cycles) and quarter.pk in used and used & {w.pk for w in weeks}
    krs_per_objective = Counter(
        KeyResult.objects.filter(organisation=org).values_list("objective_id", flat=True)
    )
    assert {krs_per_objective[o.pk] for o in objectives} <= {3, 4, 5}
    # Every unit carries three to five objectives in the quarter, owned or shared.
    carried = Counter(o.owner_unit_id for o in objectives if o.cycle_id == quarter.pk)
    for unit_id in ObjectiveContributor.objects.filter(objective__cycle=quarter).values_list(
        "unit_id", flat=True
    ):
        carried[unit_id] += 1
    carried.pop(None, None)
    assert set(carried.values()) <= {3, 4, 5}
    assert len(carried) == Unit.objects.filter(organisation=org).count()
    # Shared objectives join units of different departments.
    shared = [o for o in objectives if o.level == "shared"]
    assert shared
    for o in shared:
        contributors = list(o.contributors.all())
        assert len(contributors) >= 2
    edges = list(
        ContributionLink.objects.filter(child__organisation=org).values_list(
            "child_id", "parent_id"
        )
    )
    assert edges and find_cycle(edges) is None
    company = {o.pk for o in objectives if o.level == "company"}
    linked_up = {c for c, p in edges if p in company}
    assert linked_up


def test_key_results_kinds_and_owners(synth):
    _, org = synth
    krs = KeyResult.objects.filter(organisation=org)
    assert {k.value for k in KRKind} == set(krs.values_list("kind", flat=True))
    assert krs.filter(kind="milestone").exclude(steps=[]).exists()
    co_owned = krs.filter(co_owners__isnull=False).distinct().count()
    assert 0.10 <= co_owned / KRS <= 0.30
    for kr in krs.filter(co_owners__isnull=False).prefetch_related("co_owners"):
        assert kr.owner_unit_id not in {u.pk for u in kr.co_owners.all()}
    assert KPI.objects.filter(organisation=org, owner_units__isnull=False).exists()
    assert KPIDataPoint.objects.filter(kpi__organisation=org).exists()
    assert krs.filter(kpi__isnull=False).exists()
    assert Initiative.key_results.through.objects.filter(initiative__organisation=org).exists()
    assert Review.objects.filter(organisation=org, state="endorsed").exists()


def test_dependencies_in_every_state(synth):
    _, org = synth
    deps = Dependency.objects.filter(organisation=org)
    assert {s.value for s in DependencyState} == set(deps.values_list("state", flat=True))
    assert abs(deps.count() - KRS / 7) <= 1
    assert not deps.filter(requester_unit=F("provider_unit")).exists()
    for d in deps.select_related("requester_kr__objective__cycle"):
        if d.requester_kr is not None:
            cycle = d.requester_kr.objective.cycle
            assert cycle.start <= d.needed_by <= cycle.end
            assert d.requester_kr.owner_unit_id == d.requester_unit_id
        assert d.requested_at <= NOW
        if d.state == "requested":
            assert d.answered_at is None and d.provider_kr_id is None
        elif d.state != "cancelled":
            assert d.requested_at <= d.answered_at <= NOW
        assert (d.closed_at is not None) == (d.state in ("delivered", "missed", "cancelled"))


def test_weekly_checkins_cover_20_to_60_percent(synth):
    _, org = synth
    tz = zoneinfo.ZoneInfo(org.timezone)
    quarter = Cycle.objects.get(organisation=org, kind="quarter")
    weeks = Cycle.objects.filter(organisation=org, kind="week").order_by("start")
    checked: dict[int, set[int]] = defaultdict(set)
    starts = [cycle_window(w, tz) for w in weeks]
    rows = CheckIn.objects.filter(organisation=org).select_related("key_result__objective__cycle")
    for c in rows:
        assert c.at <= NOW
        window = cycle_window(c.key_result.objective.cycle, tz)
        assert window[0] <= c.at < window[1]
        for i, (start, end) in enumerate(starts):
            if start <= c.at < end:
                checked[i].add(c.key_result_id)
    full_weeks = [i for i, (_, end) in enumerate(starts) if end <= NOW]
    assert len(full_weeks) >= 7 and quarter.start == weeks[0].start
    for i in full_weeks:
        assert 0.2 <= len(checked[i]) / KRS <= 0.6, (i, len(checked[i]))
    assert not [i for i, (start, _) in enumerate(starts) if start > NOW and checked[i]]


def test_running_fields_match_the_checkin_service(synth):
    _, org = synth
    krs = list(
        KeyResult.objects.filter(organisation=org).select_related(
            "objective__cycle", "organisation"
        )
    )
    latest = {}
    for c in CheckIn.objects.filter(organisation=org).order_by("at", "id"):
        latest[c.key_result_id] = c
    assert len(latest) > KRS / 2
    for kr in krs:
        written = (kr.checkin_count, kr.sum_t, kr.sum_v, kr.sum_tt, kr.sum_tv)
        key_result_sums_rebuild(kr)
        # Exactly equal: the same additions in the same order.
        assert written == (kr.checkin_count, kr.sum_t, kr.sum_v, kr.sum_tt, kr.sum_tv), kr.key
        last = latest.get(kr.pk)
        if last is None:
            assert kr.checkin_count == 0 and kr.current_value is None
            assert kr.last_checkin_at is None and kr.last_confidence is None
        else:
            assert (kr.current_value, kr.last_checkin_at, kr.last_confidence) == (
                last.value,
                last.at,
                last.confidence,
            )
            if kr.kind == "milestone":
                assert last.value == int(last.value) and 0 <= last.value <= kr.target


def test_same_seed_same_rows_and_another_seed_differs(synth):
    _, org = synth
    twin = synth_generate(slug="synth-twin", krs=KRS, seed=3, now=NOW)
    other = synth_generate(slug="synth-other", krs=KRS, seed=4, now=NOW)
    mine = _kr_tuples(org)
    assert mine == _kr_tuples(Organisation.objects.get(pk=twin.organisation_id))
    assert mine != _kr_tuples(Organisation.objects.get(pk=other.organisation_id))
    deps = [
        Dependency.objects.filter(organisation_id=pk)
        .order_by("key")
        .values_list("key", "state", "needed_by", "requester_unit__key", "provider_unit__key")
        for pk in (org.pk, twin.organisation_id)
    ]
    assert list(deps[0]) == list(deps[1])


def test_refuses_a_used_slug_and_tiny_sizes(synth):
    with pytest.raises(ValidationFailed):
        synth_generate(slug="synth", krs=KRS, now=NOW)
    with pytest.raises(ValidationFailed):
        synth_generate(slug="tiny", krs=10, now=NOW)


def test_full_refresh_runs_and_finds_problems(synth):
    _, org = synth
    found = findings_refresh_full(org, now=NOW)
    assert found
    assert Finding.objects.filter(organisation=org).count() == len(found)
    codes = {f.code for f in found}
    assert {"STALE_CHECKIN", "LIKELY_MISS", "DEPENDENCY_DECLINED"} <= codes


@pytest.mark.parametrize(("krs", "weeks"), [(60, 1), (137, 4)])
def test_small_and_short_organisations_keep_the_exact_size(db, krs, weeks):
    stats = synth_generate(
        slug=f"short-{krs}", krs=krs, weeks=weeks, now=NOW, timezone_name="America/New_York"
    )
    org = Organisation.objects.get(pk=stats.organisation_id)
    assert KeyResult.objects.filter(organisation=org).count() == krs
    assert Cycle.objects.filter(organisation=org, kind="week").count() == weeks
    connection.check_constraints()


def test_profile_small_fills_twelve_weeks_with_checkins(db):
    from lockstep.synth import PROFILES

    small = PROFILES["small"]
    stats = synth_generate(
        slug="small", krs=small.krs, seed=1, now=NOW, elapsed_weeks=small.elapsed_weeks
    )
    assert stats.key_results == 1000
    org = Organisation.objects.get(slug="small")
    quarter = Cycle.objects.get(organisation=org, key="quarter")
    # `now` lies in the quarter's last week; check-ins spread over the twelve weeks before.
    assert quarter.start + dt.timedelta(weeks=12) <= NOW.date() <= quarter.end
    weeks = {
        (at.date() - quarter.start).days // 7
        for at in CheckIn.objects.filter(organisation=org).values_list("at", flat=True)
    }
    assert weeks == set(range(13))
    # 20-60 % of the KRs check in a week: between 2 and 8 check-ins per KR over 12.x weeks.
    assert 2 * stats.key_results <= stats.checkins <= 8 * stats.key_results


def test_elapsed_weeks_must_lie_inside_the_quarter(db):
    with pytest.raises(ValidationFailed) as err:
        synth_generate(slug="late", krs=100, now=NOW, elapsed_weeks=13)
    assert err.value.fields[0].field == "elapsed_weeks"


def test_every_written_table_is_analysed_once_committed(db, monkeypatch):
    from lockstep.synth import generator

    written, analysed = [], []

    def recording_insert(model, rows):
        written.append(model)
        return bulk_insert(model, rows)

    def recording_analyze(tables):
        assert not connection.savepoint_ids  # after synth's own transaction, not inside it
        analysed.append(list(tables))
        tables_analyze(tables)

    monkeypatch.setattr(generator, "bulk_insert", recording_insert)
    monkeypatch.setattr(generator, "tables_analyze", recording_analyze)
    with CaptureQueriesContext(connection) as ctx:
        synth_generate(slug="analysed", krs=60, now=NOW)
    assert analysed == [list(generator.WRITTEN)]
    assert set(written) <= set(generator.WRITTEN)
    statements = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("ANALYZE")]
    if connection.vendor == "postgresql":
        assert len(statements) == 1 and '"goals_keyresult"' in statements[0]
    else:
        assert statements == []  # SQLite keeps no statistics to go stale


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner statistics")
def test_postgresql_knows_the_table_sizes_after_synth(synth):
    stats, _ = synth
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT c.reltuples, s.last_analyze FROM pg_class c "
            "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = 'goals_checkin'"
        )
        reltuples, last_analyze = cursor.fetchone()
    assert reltuples == stats.checkins and last_analyze is not None
