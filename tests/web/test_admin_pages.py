"""HTTP-level tests of the admin pages: people, units and the organisation's settings.

Every write goes through an org service; a refused form comes back with its errors and
writes nothing; only organisation admins get in; another organisation's ids are 404s.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from lockstep.activity.models import ActivityEvent
from lockstep.goals import services as goals
from lockstep.org import services as org_services
from lockstep.org.models import Membership, Organisation, Person, Unit

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    return response.content.decode()


def error_of(html: str, name: str) -> str:
    """The error message shown next to input `name` (empty when none)."""
    m = re.search(rf'id="f-{name}-error">([^<]*)<', html)
    return m.group(1) if m else ""


def results(response) -> str:
    """The people list's results, without the header that names who is signed in."""
    return text(response).split('id="people-results"')[1]


def person_post(**extra) -> dict:
    data = {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "membership_unit": [],
        "membership_role": [],
        "username": "",
        "password": "",
    }
    data.update(extra)
    return data


@pytest.fixture
def other_org():
    globex = org_services.organisation_create(slug="globex", name="Globex")
    unit = org_services.unit_create(organisation=globex, actor=None, name="Sales")
    someone = org_services.person_create(
        organisation=globex, actor=None, name="Hidden Person", email="hidden@globex.com"
    )
    return {"org": globex, "unit": unit, "person": someone}


@pytest.fixture
def member_client(org, units) -> Client:
    """Signed in as Bob, a plain member of Support: no admin."""
    user = get_user_model().objects.create_user("bob", "bob@example.com", "correct-horse-9")
    bob = org_services.person_create(
        organisation=org,
        actor=None,
        name="Bob",
        email="bob@example.com",
        memberships=[(units["support"], "member")],
    )
    bob.user = user
    bob.save()
    c = Client()
    c.force_login(user)
    return c


# ---- who gets in ---------------------------------------------------------------------------


def admin_urls(person, units) -> list[str]:
    return [
        "/manage/",
        "/manage/people/",
        "/manage/people/add/",
        f"/manage/people/{person.pk}/",
        "/manage/units/",
        f"/manage/units/{units['support'].pk}/",
        "/manage/organisation/",
    ]


def test_admin_pages_open_for_an_admin_with_the_nav_entry(client_in, person, units):
    assert client_in.get("/manage/").url == "/manage/people/"
    for url in admin_urls(person, units)[1:]:
        r = client_in.get(url)
        assert r.status_code == 200, url
        assert 'aria-label="Administration"' in text(r)
    assert 'href="/manage/people/" aria-current="page">Admin' in text(
        client_in.get("/manage/units/")
    )


def test_a_non_admin_gets_403_and_writes_nothing(member_client, person, units, unchanged):
    for url in admin_urls(person, units):
        r = member_client.get(url)
        assert r.status_code == 403, url
        assert "only an organisation admin" in text(r)
    posts = {
        "/manage/people/add/": person_post(),
        f"/manage/people/{person.pk}/": person_post(name="Hacked"),
        f"/manage/people/{person.pk}/archive/": {},
        "/manage/units/add/": {"name": "Shadow", "kind": "team", "capacity_unit": "hours"},
        f"/manage/units/{units['support'].pk}/": {"name": "Hacked", "kind": "team"},
        f"/manage/units/{units['support'].pk}/archive/": {},
        "/manage/organisation/": {"name": "Hacked"},
    }
    with unchanged():
        for url, data in posts.items():
            assert member_client.post(url, data).status_code == 403, url
    person.refresh_from_db()
    assert person.name == "Ada Lovelace" and person.archived_at is None
    assert Organisation.objects.get(slug="acme").name == "Acme"
    assert 'href="/manage/people/"' not in text(member_client.get("/units/"))


def test_admin_pages_require_sign_in(units):
    r = Client().get("/manage/people/")
    assert r.status_code == 302 and "/login/" in r.url


def test_posts_need_the_csrf_token(person, units, unchanged):
    c = Client(enforce_csrf_checks=True)
    c.force_login(person.user)
    with unchanged():
        assert c.post("/manage/people/add/", person_post()).status_code == 403


def test_another_organisations_ids_are_not_found(client_in, other_org, unchanged):
    with unchanged():
        for url in (
            f"/manage/people/{other_org['person'].pk}/",
            f"/manage/units/{other_org['unit'].pk}/",
        ):
            r = client_in.get(url)
            assert r.status_code == 404 and "Hidden Person" not in text(r)
            assert client_in.post(url, person_post(name="Mine")).status_code == 404
        for url in (
            f"/manage/people/{other_org['person'].pk}/archive/",
            f"/manage/units/{other_org['unit'].pk}/archive/",
        ):
            assert client_in.post(url).status_code == 404
    html = text(client_in.get("/manage/people/?archived=1"))
    assert "Hidden Person" not in html and "Sales" not in html


# ---- people --------------------------------------------------------------------------------


def test_people_list_shows_units_roles_and_sign_in(client_in, person, units):
    org_services.person_create(
        organisation=person.organisation,
        actor=None,
        name="Grace Hopper",
        email="grace@example.com",
        memberships=[(units["marketing"], "member")],
    )
    html = text(client_in.get("/manage/people/"))
    ada = html.split(f'id="person-{person.pk}"')[1].split("</tr>")[0]
    assert "Product" in ada and "Leader" in ada and ">ada<" in ada and "Yes" in ada
    assert f'href="/units/{units["product"].pk}/"' in ada
    assert "Grace Hopper" in html and "no account" in html
    assert "2 people" in html


def test_people_list_searches_and_filters_by_unit(client_in, person, units):
    org = person.organisation
    for name, unit in (("Grace Hopper", "marketing"), ("Alan Turing", "support")):
        org_services.person_create(
            organisation=org,
            actor=None,
            name=name,
            email=f"{name.split()[0].lower()}@example.com",
            memberships=[(units[unit], "member")],
        )
    html = results(client_in.get("/manage/people/?q=hopp"))
    assert "Grace Hopper" in html and "Alan Turing" not in html and "Ada Lovelace" not in html
    html = results(client_in.get("/manage/people/?q=alan@"))
    assert "Alan Turing" in html and "Grace Hopper" not in html
    html = results(client_in.get(f"/manage/people/?unit={units['support'].pk}"))
    assert "Alan Turing" in html and "Grace Hopper" not in html and "in Support" in html
    html = results(client_in.get("/manage/people/?unit=abc"))  # unreadable: no filter
    assert "3 people" in html


def test_people_search_with_htmx_returns_only_the_results(client_in, person):
    r = client_in.get("/manage/people/?q=ada", **HTMX)
    html = text(r)
    assert r.status_code == 200
    assert html.lstrip().startswith('<div id="people-results">')
    assert "Ada Lovelace" in html and "<html" not in html


def test_archived_people_show_only_when_asked(client_in, person, org):
    gone = org_services.person_create(
        organisation=org, actor=None, name="Gone Person", email="gone@example.com"
    )
    org_services.person_archive(person=gone, actor=None)
    assert "Gone Person" not in text(client_in.get("/manage/people/"))
    assert "Gone Person" in text(client_in.get("/manage/people/?archived=1"))


def test_add_a_person_with_memberships_and_an_account(client_in, person, units):
    r = client_in.post(
        "/manage/people/add/",
        person_post(
            membership_unit=[str(units["marketing"].pk), "", str(units["support"].pk)],
            membership_role=["leader", "member", "member"],
            is_org_admin="on",
            username="grace",
            password="cobol-compiler-1959",
        ),
    )
    assert r.status_code == 302
    assert r.url == "/manage/people/?q=grace%40example.com"
    grace = Person.objects.get(email="grace@example.com")
    assert grace.is_org_admin and grace.user.username == "grace"
    assert {(m.unit.key, m.role) for m in grace.memberships.all()} == {
        ("marketing", "leader"),
        ("support", "member"),
    }
    event = ActivityEvent.objects.filter(verb="person.created").latest("id")
    assert event.actor == person
    signed = Client().post("/login/", {"username": "grace", "password": "cobol-compiler-1959"})
    assert signed.status_code == 302  # the sign-in form takes the new account
    assert "Added Grace Hopper." in text(client_in.get(r.url))


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"name": " "}, "name", "must not be empty"),
        ({"email": "grace"}, "email", "is not an e-mail address"),
        ({"email": "ada@example.com"}, "email", "is already used"),
        ({"username": "grace", "password": "short"}, "password", "too short"),
        ({"username": "grace", "password": "password123"}, "password", "too common"),
        ({"username": "grace"}, "password", "needs a username and a password"),
        ({"username": "ada", "password": "cobol-compiler-1959"}, "username", "already used"),
    ],
)
def test_a_refused_person_comes_back_with_the_error_at_its_field(
    client_in, units, unchanged, extra, field, message
):
    post = person_post(
        membership_unit=[str(units["marketing"].pk)], membership_role=["member"], **extra
    )
    with unchanged():
        r = client_in.post("/manage/people/add/", post)
    html = text(r)
    assert r.status_code == 422
    assert message in error_of(html, field)
    assert f'id="f-{field}"' in html and 'aria-invalid="true"' in html
    assert "Nothing was saved" in html
    # What was typed is kept (never the password), the membership row too.
    assert f'value="{post["email"]}"' in html
    assert 'type="password" id="f-password" name="password" value=""' in html
    assert f'<option value="{units["marketing"].pk}" selected>' in html


def test_memberships_must_name_known_units_once(client_in, units, other_org, unchanged):
    for units_posted in (
        [str(other_org["unit"].pk)],
        [str(units["marketing"].pk), str(units["marketing"].pk)],
        ["x"],
    ):
        post = person_post(
            membership_unit=units_posted, membership_role=["member"] * len(units_posted)
        )
        with unchanged():
            r = client_in.post("/manage/people/add/", post)
        assert r.status_code == 422
        assert 'id="f-memberships-error"' in text(r)


def test_edit_a_person_prefills_and_saves(client_in, person, units, org):
    grace = org_services.person_create(
        organisation=org,
        actor=None,
        name="Grace",
        email="grace@example.com",
        memberships=[(units["marketing"], "leader")],
    )
    html = text(client_in.get(f"/manage/people/{grace.pk}/"))
    assert 'value="Grace"' in html and 'value="grace@example.com"' in html
    assert f'<option value="{units["marketing"].pk}" selected>' in html
    assert html.count('name="membership_unit"') == 3  # hers and two blank rows
    r = client_in.post(
        f"/manage/people/{grace.pk}/",
        person_post(
            name="Grace Hopper",
            membership_unit=[str(units["support"].pk)],
            membership_role=["member"],
            username="grace",
            password="cobol-compiler-1959",
        ),
    )
    assert r.status_code == 302 and r.url == f"/manage/people/{grace.pk}/"
    grace.refresh_from_db()
    assert grace.name == "Grace Hopper" and grace.user.username == "grace"
    assert list(grace.memberships.values_list("unit__key", "role")) == [("support", "member")]
    assert ActivityEvent.objects.filter(verb="person.updated", object_id=grace.pk).count() == 1


def test_editing_keeps_an_unchanged_username_and_password(client_in, person):
    before = person.user.password
    r = client_in.post(
        f"/manage/people/{person.pk}/",
        person_post(
            name="Ada King",
            email="ada@example.com",
            is_org_admin="on",
            username="ada",
            membership_unit=[str(person.memberships.get().unit_id)],
            membership_role=["leader"],
        ),
    )
    assert r.status_code == 302
    person.refresh_from_db()
    person.user.refresh_from_db()
    assert person.name == "Ada King" and person.user.password == before


def test_an_admin_cannot_remove_their_own_admin_role(client_in, person, unchanged):
    with unchanged():
        r = client_in.post(f"/manage/people/{person.pk}/", person_post(email="ada@example.com"))
    assert r.status_code == 422
    assert "your own admin role" in error_of(text(r), "is_org_admin")
    person.refresh_from_db()
    assert person.is_org_admin


def test_archive_a_person(client_in, org, units):
    grace = org_services.person_create(
        organisation=org,
        actor=None,
        name="Grace",
        email="grace@example.com",
        memberships=[(units["marketing"], "member")],
    )
    r = client_in.post(f"/manage/people/{grace.pk}/archive/")
    assert r.status_code == 302 and r.url == "/manage/people/"
    grace.refresh_from_db()
    assert grace.archived_at is not None
    assert not Membership.objects.filter(person=grace).exists()
    assert "Archived Grace" in text(client_in.get(r.url))


def test_archiving_yourself_is_refused_with_a_message(client_in, person, unchanged):
    with unchanged():
        r = client_in.post(f"/manage/people/{person.pk}/archive/")
    assert r.status_code == 409
    assert "you cannot archive yourself" in text(r)


# ---- units ---------------------------------------------------------------------------------


def test_units_list_in_tree_order_with_counts(client_in, units, teams, launch):
    html = text(client_in.get("/manage/units/"))
    order = [html.index(f'id="unit-{u.pk}"') for u in (units["acme"], units["product"])]
    assert order == sorted(order)
    assert html.index(f'id="unit-{teams["web"].pk}"') < html.index(
        f'id="unit-{teams["checkout"].pk}"'
    )
    marketing = html.split(f'id="unit-{units["marketing"].pk}"')[1].split("</tr>")[0]
    assert '<td data-label="Live objectives">1</td>' in marketing  # brand
    product = html.split(f'id="unit-{units["product"].pk}"')[1].split("</tr>")[0]
    assert '<td data-label="People">1</td>' in product  # Ada


def test_add_a_unit(client_in, units, person):
    r = client_in.post(
        "/manage/units/add/",
        {
            "name": "Growth",
            "kind": "team",
            "parent": str(units["marketing"].pk),
            "weekly_capacity": "60",
            "capacity_unit": "hours",
        },
    )
    assert r.status_code == 302
    unit = Unit.objects.get(name="Growth")
    assert unit.parent == units["marketing"] and unit.weekly_capacity == 60
    assert r.url == f"/manage/units/#unit-{unit.pk}"
    assert (
        ActivityEvent.objects.filter(verb="unit.created", object_id=unit.pk).get().actor == person
    )


@pytest.mark.parametrize(
    ("post", "field", "message"),
    [
        ({"name": ""}, "name", "must not be empty"),
        ({"weekly_capacity": "-5"}, "weekly_capacity", "must not be negative"),
        ({"weekly_capacity": "lots"}, "weekly_capacity", "enter a number"),
        ({"kind": "tribe"}, "kind", "must be one of"),
        ({"parent": "abc"}, "parent", "choose a unit from the list"),
    ],
)
def test_a_refused_unit_comes_back_with_the_error_at_its_field(
    client_in, units, unchanged, post, field, message
):
    data = {"name": "Growth", "kind": "team", "capacity_unit": "hours", **post}
    with unchanged():
        r = client_in.post("/manage/units/add/", data)
    assert r.status_code == 422
    assert message in error_of(text(r), field)
    assert '<details class="card card--tight add-unit" open>' in text(r)


def test_a_parent_from_another_organisation_is_refused(client_in, units, other_org, unchanged):
    with unchanged():
        r = client_in.post(
            f"/manage/units/{units['support'].pk}/",
            {"name": "Support", "kind": "department", "parent": str(other_org["unit"].pk)},
        )
    assert r.status_code == 422 and "unknown unit" in error_of(text(r), "parent")


def test_rename_move_and_resize_a_unit(client_in, units, teams):
    app = teams["app"]
    html = text(client_in.get(f"/manage/units/{app.pk}/"))
    assert 'value="App team"' in html and 'value="80"' in html
    assert f'<option value="{app.pk}"' not in html  # not offered as its own parent
    r = client_in.post(
        f"/manage/units/{app.pk}/",
        {
            "name": "Mobile team",
            "kind": "team",
            "parent": str(units["marketing"].pk),
            "weekly_capacity": "12",
            "capacity_unit": "jobs",
        },
    )
    assert r.status_code == 302
    app.refresh_from_db()
    assert (app.name, app.parent_id, app.weekly_capacity, app.capacity_unit) == (
        "Mobile team",
        units["marketing"].pk,
        12,
        "jobs",
    )


def test_moving_a_unit_below_itself_is_refused(client_in, units, teams, unchanged):
    with unchanged():
        r = client_in.post(
            f"/manage/units/{units['product'].pk}/",
            {"name": "Product", "kind": "department", "parent": str(teams["checkout"].pk)},
        )
    assert r.status_code == 422
    assert "a unit cannot sit below itself" in error_of(text(r), "parent")
    units["product"].refresh_from_db()
    assert units["product"].parent == units["acme"]


def test_archiving_a_unit_with_live_objectives_is_refused_clearly(
    client_in, units, launch, unchanged
):
    with unchanged():
        r = client_in.post(f"/manage/units/{units['marketing'].pk}/archive/")
    assert r.status_code == 409
    assert "Not archived: the unit still has objectives it owns" in text(r)
    with unchanged():
        r = client_in.post(f"/manage/units/{units['acme'].pk}/archive/")
    assert r.status_code == 409 and "sub-units" in text(r)


def test_archive_a_unit(client_in, org, units, cycle, person):
    spare = org_services.unit_create(
        organisation=org, actor=None, name="Spare", parent=units["acme"]
    )
    old = goals.objective_create(
        organisation=org, actor=None, cycle=cycle, title="Old", owner_unit=spare
    )
    goals.objective_archive(objective=old, actor=None)
    r = client_in.post(f"/manage/units/{spare.pk}/archive/")
    assert r.status_code == 302 and r.url == "/manage/units/"
    spare.refresh_from_db()
    assert spare.archived_at is not None
    assert f'id="unit-{spare.pk}"' not in text(client_in.get("/manage/units/"))


# ---- organisation settings ---------------------------------------------------------------


def settings_post(**extra) -> dict:
    data = {
        "name": "Acme",
        "timezone": "UTC",
        "on_track_margin": "0.1",
        "at_risk_margin": "0.25",
        "answer_window_days": "5",
        "max_objectives_per_unit": "5",
        "max_krs_per_objective": "5",
        "low_confidence": "3",
        "single_point_min_units": "3",
        "task_share": "0.5",
    }
    data.update(extra)
    return data


def test_settings_page_shows_the_stored_values(client_in, org):
    html = text(client_in.get("/manage/organisation/"))
    assert 'value="Acme"' in html and "<option selected>UTC</option>" in html
    assert 'name="answer_window_days" value="5"' in html
    assert 'name="on_track_margin" value="0.1"' in html


def test_save_the_settings(client_in, org, person):
    r = client_in.post(
        "/manage/organisation/",
        settings_post(name="Acme Corp", timezone="Europe/Berlin", answer_window_days="7"),
    )
    assert r.status_code == 302 and r.url == "/manage/organisation/"
    org.refresh_from_db()
    assert (org.name, org.timezone, org.answer_window_days) == ("Acme Corp", "Europe/Berlin", 7)
    assert ActivityEvent.objects.filter(verb="organisation.updated").latest("id").actor == person


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"low_confidence": "11"}, "low_confidence", "must be from 1 to 10"),
        ({"answer_window_days": "soon"}, "answer_window_days", "enter a whole number"),
        ({"task_share": ""}, "task_share", "enter a value"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"on_track_margin": "0.5"}, "at_risk_margin", "not be less than the on-track margin"),
        ({"name": ""}, "name", "must not be empty"),
    ],
)
def test_refused_settings_name_the_field_and_change_nothing(
    client_in, org, unchanged, extra, field, message
):
    with unchanged():
        r = client_in.post("/manage/organisation/", settings_post(**{"name": "Acme Two", **extra}))
    html = text(r)
    assert r.status_code == 422
    assert message in error_of(html, field)
    org.refresh_from_db()
    assert org.name == "Acme"
    assert "Lockstep · Acme<" in html  # the page still shows the stored name


# ---- query counts: an N+1 fails here -----------------------------------------------------

PEOPLE_LIST_QUERIES = 8
UNITS_LIST_QUERIES = 8


@pytest.fixture
def crowd(org, units, teams):
    """40 people, each in two units, half with a sign-in account."""
    unit_list = [*units.values(), *teams.values()]
    for i in range(40):
        p = org_services.person_create(
            organisation=org,
            actor=None,
            name=f"Person {i:02d}",
            email=f"p{i}@example.com",
            memberships=[
                (unit_list[i % len(unit_list)], "leader"),
                (unit_list[(i + 1) % len(unit_list)], "member"),
            ],
        )
        if i % 2:
            p.user = get_user_model().objects.create_user(f"user{i}", password="x")
            p.save()


def test_people_list_query_count(client_in, crowd, django_assert_max_num_queries):
    with django_assert_max_num_queries(PEOPLE_LIST_QUERIES):
        r = client_in.get("/manage/people/")
    html = text(r)
    assert html.count('<tr id="person-') == 41 and "user39" in html
    with django_assert_max_num_queries(PEOPLE_LIST_QUERIES):
        r = client_in.get("/manage/people/?q=person", **HTMX)
    assert text(r).count('<tr id="person-') == 40


def test_units_list_query_count(client_in, org, units, crowd, django_assert_max_num_queries):
    for i in range(30):
        org_services.unit_create(
            organisation=org, actor=None, name=f"Team {i}", parent=units["acme"]
        )
    with django_assert_max_num_queries(UNITS_LIST_QUERIES):
        r = client_in.get("/manage/units/")
    assert text(r).count('<tr id="unit-') == 37
