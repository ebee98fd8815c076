"""Stored findings: refreshed incrementally after check-ins and dependency steps, equal to a
full recompute, and never recomputed in full for those two changes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from lockstep.alignment import services as align
from lockstep.alignment.models import Finding
from lockstep.goals import services as goals


def stored(org) -> set[str]:
    return set(Finding.objects.filter(organisation=org).values_list("key", flat=True))


def full(org) -> set[str]:
    return {f.key for f in align.findings_refresh_full(org)}


@pytest.fixture
def no_full_refresh(monkeypatch):
    """Fail the test if a full recompute runs."""

    def boom(*args, **kwargs):
        raise AssertionError("a full recompute ran where an incremental refresh was expected")

    monkeypatch.setattr(align, "findings_refresh_full", boom)


def test_checkin_refreshes_the_kr_and_what_waits_on_it(org, units, plan, leaders, no_full_refresh):
    marketing, _ = leaders["marketing"]
    product, _ = leaders["product"]
    dep = align.dependency_request(
        organisation=org,
        actor=marketing,
        requester_item=plan["visits"],
        provider_unit=units["product"],
        title="Feature live",
        needed_by=plan["needed_by"],
    )
    align.dependency_accept(dependency=dep, actor=product, provider_item=plan["build"])
    assert not Finding.objects.filter(code="UPSTREAM_AT_RISK").exists()

    # Product checks in nothing done with low confidence, well past the pace line.
    goals.checkin_record(key_result=plan["build"], actor=product, value=0, confidence=2)
    codes = set(
        Finding.objects.filter(subject_type="kr", subject_id=plan["build"].pk).values_list(
            "code", flat=True
        )
    )
    assert {"OFF_PACE", "LOW_CONFIDENCE"} <= codes
    upstream = Finding.objects.get(code="UPSTREAM_AT_RISK")
    assert (upstream.subject_type, upstream.subject_id) == ("kr", plan["visits"].pk)
    assert "Feature built" in " ".join(upstream.explanation)

    # Product catches up: its own findings and the one downstream go away.
    goals.checkin_record(key_result=plan["build"], actor=product, value=1, confidence=9)
    assert not Finding.objects.filter(
        code__in=["OFF_PACE", "UPSTREAM_AT_RISK", "LOW_CONFIDENCE"]
    ).exists()


def test_answering_a_request_clears_unanswered(org, units, plan, leaders, no_full_refresh):
    marketing, _ = leaders["marketing"]
    product, _ = leaders["product"]
    dep = align.dependency_request(
        organisation=org,
        actor=marketing,
        requester_item=plan["visits"],
        provider_unit=units["product"],
        title="Feature live",
        needed_by=plan["needed_by"],
        requested_at=timezone.now() - dt.timedelta(days=9),
    )
    assert Finding.objects.filter(code="DEPENDENCY_UNANSWERED", subject_id=dep.pk).exists()
    align.dependency_decline(dependency=dep, actor=product, reason="No capacity this sprint")
    assert not Finding.objects.filter(code="DEPENDENCY_UNANSWERED").exists()
    declined = Finding.objects.get(code="DEPENDENCY_DECLINED")
    assert set(declined.units.values_list("key", flat=True)) == {"marketing", "product"}


def test_incremental_results_equal_a_full_recompute(org, units, plan, leaders):
    marketing, _ = leaders["marketing"]
    product, _ = leaders["product"]
    a = align.dependency_request(
        organisation=org,
        actor=marketing,
        requester_item=plan["visits"],
        provider_unit=units["product"],
        title="Feature live",
        needed_by=plan["needed_by"],
        requested_at=timezone.now() - dt.timedelta(days=9),
    )
    goals.checkin_record(key_result=plan["visits"], actor=marketing, value=300, confidence=3)
    align.dependency_accept(dependency=a, actor=product, provider_item=plan["build"])
    goals.checkin_record(key_result=plan["build"], actor=product, value=0, confidence=4)
    b = align.dependency_request(
        organisation=org,
        actor=marketing,
        requester_item=plan["visits"],
        provider_unit=units["support"],
        title="FAQ",
        needed_by=plan["needed_by"],
    )
    align.dependency_cancel(dependency=b, actor=marketing)
    incremental = stored(org)
    assert incremental  # the scenario does produce findings
    assert incremental == full(org)


def test_full_refresh_keeps_first_seen(org, units, plan):
    goals.checkin_record(key_result=plan["visits"], actor=None, value=1, confidence=2)
    first = Finding.objects.get(code="LOW_CONFIDENCE").first_seen_at
    align.findings_refresh_full(org)
    again = Finding.objects.get(code="LOW_CONFIDENCE")
    assert again.first_seen_at == first and again.last_seen_at >= first


def test_findings_api_filters(client_in, org, units, plan):
    goals.checkin_record(key_result=plan["visits"], actor=None, value=1, confidence=2)
    r = client_in.get("/api/v1/findings", {"code": "LOW_CONFIDENCE"})
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 1 and body["items"][0]["subject_type"] == "kr"
    assert client_in.get("/api/v1/findings", {"unit_id": units["support"].pk}).json()["count"] == 0
    assert client_in.get("/api/v1/findings", {"severity": "error"}).json()["count"] >= 0
    r = client_in.post("/api/v1/findings/refresh")
    assert (
        r.status_code == 200
        and r.json()["findings"] == Finding.objects.filter(organisation=org).count()
    )
    r = client_in.get("/api/v1/findings", {"severity": "fatal"})
    assert r.status_code == 422


def test_dependency_graph_marks_risk(client_in, org, units, plan, leaders):
    marketing, _ = leaders["marketing"]
    product, _ = leaders["product"]
    dep = align.dependency_request(
        organisation=org,
        actor=marketing,
        requester_item=plan["visits"],
        provider_unit=units["product"],
        title="Feature live",
        needed_by=plan["needed_by"],
    )
    align.dependency_accept(dependency=dep, actor=product, provider_item=plan["build"])
    goals.checkin_record(key_result=plan["build"], actor=product, value=0, confidence=2)
    graph = client_in.get("/api/v1/dependency-graph").json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes[f"kr:{plan['visits'].pk}"]["at_risk"] is True
    assert nodes[f"kr:{plan['build'].pk}"]["problem"] is True
    assert graph["edges"] == [
        {
            "source": f"kr:{plan['visits'].pk}",
            "target": f"kr:{plan['build'].pk}",
            "kind": "dependency",
            "state": "accepted",
            "dependency_id": dep.pk,
            "label": "Feature live",
            "problem": False,
        }
    ]


def test_thresholds_are_organisation_settings(client_in, org, units, plan):
    goals.checkin_record(key_result=plan["visits"], actor=None, value=1, confidence=4)
    assert not Finding.objects.filter(code="LOW_CONFIDENCE").exists()
    r = client_in.patch(
        "/api/v1/organisation",
        {"low_confidence": 4, "answer_window_days": 2},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["low_confidence"] == 4
    # A settings change reshapes every finding: it triggers a full refresh.
    assert Finding.objects.filter(code="LOW_CONFIDENCE").exists()
    r = client_in.patch(
        "/api/v1/organisation", {"low_confidence": 0}, content_type="application/json"
    )
    assert r.status_code == 422


@pytest.fixture
def driven(org, units, plan, leaders):
    """An initiative of marketing drives the committed visits KR and asks product for help."""
    initiative = goals.initiative_create(
        organisation=org,
        actor=None,
        title="Landing page",
        owner_unit=units["marketing"],
        key_results=[plan["visits"]],
    )
    plan["objective"].state = "published"
    plan["objective"].save()
    marketing, _ = leaders["marketing"]
    dep = align.dependency_request(
        organisation=org,
        actor=marketing,
        requester_item=initiative,
        provider_unit=units["support"],
        title="Support macros",
        needed_by=plan["needed_by"],
    )
    return dep


def test_initiative_dependencies_keep_their_findings_incrementally(org, units, driven, leaders):
    """A declined request of an initiative underpins its committed KR; the objective relies on
    the provider (BUBBLE_GOAL) — both must match a full recompute after each step."""
    align.dependency_decline(dependency=driven, actor=None, reason="No capacity")
    incremental = stored(org)
    assert f"DEPENDENCY_DECLINED:dependency:{driven.pk}" in incremental
    assert incremental == full(org)


def test_counter_date_must_stay_inside_the_cycle(org, units, plan, leaders, unchanged):
    from lockstep.errors import ValidationFailed

    marketing, _ = leaders["marketing"]
    product, _ = leaders["product"]
    dep = align.dependency_request(
        organisation=org,
        actor=marketing,
        requester_item=plan["visits"],
        provider_unit=units["product"],
        title="Feature live",
        needed_by=plan["needed_by"],
    )
    with unchanged(), pytest.raises(ValidationFailed, match="inside the cycle"):
        align.dependency_counter(
            dependency=dep, actor=product, counter_date=plan["needed_by"] + dt.timedelta(days=30)
        )


def test_only_the_objectives_units_send_it_for_review(client_in, org, units, cycle, leaders):
    from lockstep.goals.models import Objective

    draft = goals.objective_create(
        organisation=org,
        actor=None,
        cycle=cycle,
        title="Draft",
        level="unit",
        owner_unit=units["support"],
        state=Objective.State.DRAFT,
    )
    _, marketing_api = leaders["marketing"]
    status, body = marketing_api.post(
        f"/objectives/{draft.pk}/reviews", {"unit_ids": [units["product"].pk]}
    )
    assert status == 403 and body["error"]["code"] == "forbidden"
    # The org admin may.
    r = client_in.post(
        f"/api/v1/objectives/{draft.pk}/reviews",
        {"unit_ids": [units["product"].pk]},
        content_type="application/json",
    )
    assert r.status_code == 201


def test_api_likely_miss_agrees_with_the_finding(client_in, org, units, plan):
    goals.checkin_record(key_result=plan["visits"], actor=None, value=100, confidence=6)
    kr = client_in.get(f"/api/v1/key-results/{plan['visits'].pk}").json()
    has_finding = Finding.objects.filter(code="LIKELY_MISS", subject_id=plan["visits"].pk).exists()
    assert kr["likely_miss"] is True and has_finding
    from lockstep.alignment.selectors import snapshot_of
    from lockstep.core.findings import kr_assessment

    engine = kr_assessment(snapshot_of(org))[plan["visits"].pk]
    assert kr["forecast_progress"] == pytest.approx(engine.forecast_progress)


def test_snapshot_reads_aware_checkin_times_and_only_named_units(org, units, plan):
    from lockstep.alignment.selectors import snapshot_of

    moment = timezone.now() - dt.timedelta(hours=3)
    goals.checkin_record(key_result=plan["visits"], actor=None, value=10, confidence=6, at=moment)
    whole = snapshot_of(org)
    kr = next(k for k in whole.krs if k.id == plan["visits"].pk)
    # The driver's cursor is read directly: the time must come back aware and unchanged.
    assert kr.last_checkin_at == moment and kr.last_checkin_at.utcoffset() is not None
    assert {u.id for u in whole.units} == {u.pk for u in units.values()}
    part = snapshot_of(org, kr_ids={plan["visits"].pk}, initiative_ids=(), dependency_ids=())
    named = {plan["visits"].owner_unit_id} | {
        o.owner_unit_id for o in part.objectives if o.owner_unit_id
    }
    named |= {u for o in part.objectives for u in o.contributor_ids}
    assert {u.id for u in part.units} == named
    assert len(part.units) < len(whole.units)


def test_full_refresh_through_the_bulk_path_stores_the_same_rows(org, units, plan, monkeypatch):
    goals.checkin_record(key_result=plan["visits"], actor=None, value=1, confidence=2)

    def rows():
        return sorted(
            (f.key, f.title, f.explanation, f.links, sorted(f.units.values_list("pk", flat=True)))
            for f in Finding.objects.filter(organisation=org)
        )

    Finding.objects.filter(organisation=org).delete()
    align.findings_refresh_full(org)
    ordinary = rows()
    Finding.objects.filter(organisation=org).delete()
    monkeypatch.setattr(align, "BULK_FROM", 1)
    align.findings_refresh_full(org)
    assert len(ordinary) >= 2 and rows() == ordinary
    # Ids handed out by the bulk path leave the sequence where the next ordinary row fits.
    goals.checkin_record(key_result=plan["visits"], actor=None, value=2, confidence=9)
