def test_objective_with_kr_and_checkin_reports_progress(client_in, units, cycle):
    r = client_in.post(
        "/api/v1/objectives",
        {
            "title": "Launch X",
            "cycle_id": cycle.pk,
            "level": "shared",
            "contributor_ids": [units["product"].pk, units["marketing"].pk],
        },
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    oid = r.json()["id"]
    r = client_in.post(
        "/api/v1/key-results",
        {
            "objective_id": oid,
            "title": "Visits",
            "kind": "increase",
            "start": 0,
            "target": 5000,
            "owner_unit_id": units["marketing"].pk,
        },
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    kr = r.json()
    assert kr["status"] == "not_started" and kr["progress"] == 0
    r = client_in.post(
        f"/api/v1/key-results/{kr['id']}/checkins",
        {"value": 2500, "confidence": 7},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["key_result"]["progress"] == 0.5
    r = client_in.get(f"/api/v1/objectives/{oid}")
    body = r.json()
    assert body["progress"] == 0.5
    assert body["unit_shares"] == [{"unit_id": units["marketing"].pk, "share": 0.5}]
