"""Pages of the org domain: the unit tree, a unit's page, and the admin's people, units and
organisation settings.

Admin forms post to their own address. A saved form answers with POST/redirect/GET and a
message; a refused one comes back with what was typed, each error next to its field, and
writes nothing. Only organisation admins reach these pages; anyone else gets a 403 page.
"""

from __future__ import annotations

import functools
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Concatenate, ParamSpec
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse

from lockstep.errors import Conflict, LockstepError, Problems, ValidationFailed
from lockstep.goals.models import Objective, ObjectiveContributor
from lockstep.keys import is_id
from lockstep.org import selectors, services
from lockstep.org.access import (
    access_person,
    access_unit,
    require_org_admin,
    resolve_in_org,
    resolve_many_in_org,
)
from lockstep.org.models import Membership, Organisation, Person, Unit

# Kept importable from here: other domains' pages use them.
from lockstep.org.selectors import (  # noqa: F401
    UnitNode,
    active_cycles,
    today_in,
    unit_forest,
    units_in_tree_order,
)
from lockstep.trust.versions import EditConflict, edit_guard, etag_of
from lockstep.web.views import page_context, person_page

P = ParamSpec("P")

# Blank membership rows a person form offers beyond the ones they have (no JavaScript needed).
SPARE_MEMBERSHIP_ROWS = 2
NEW_PERSON_MEMBERSHIP_ROWS = 3


def _objective_counts(organisation: Organisation, cycles: list[Any]) -> dict[int, int]:
    """Objectives of the cycles each unit owns or contributes to (each objective once)."""
    live = Objective.objects.filter(
        organisation=organisation, cycle__in=cycles, archived_at__isnull=True
    )
    per_unit: dict[int, set[int]] = defaultdict(set)
    for oid, unit_id in live.exclude(owner_unit=None).values_list("pk", "owner_unit_id"):
        per_unit[unit_id].add(oid)
    contributions = ObjectiveContributor.objects.filter(objective__in=live).values_list(
        "objective_id", "unit_id"
    )
    for oid, unit_id in contributions:
        per_unit[unit_id].add(oid)
    return {unit_id: len(ids) for unit_id, ids in per_unit.items()}


@person_page
def unit_tree(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    cycles = active_cycles(org)
    units = list(Unit.objects.filter(organisation=org, archived_at__isnull=True).order_by("name"))
    forest = unit_forest(units)
    nodes = {}
    stack = list(forest)
    while stack:
        node = stack.pop()
        nodes[node.unit.pk] = node
        stack.extend(node.children)
    leaders = (
        Membership.objects.filter(
            unit__organisation=org, unit__archived_at__isnull=True, role=Membership.Role.LEADER
        )
        .select_related("person")
        .order_by("person__name")
    )
    for m in leaders:
        nodes[m.unit_id].leaders.append(m.person)
    for unit_id, count in _objective_counts(org, cycles).items():
        if unit_id in nodes:
            nodes[unit_id].objective_count = count
    context = page_context(me, "units", forest=forest, cycles=cycles, unit_count=len(units))
    return render(request, "org/unit_tree.html", context)


@person_page
def unit_detail(request: HttpRequest, me: Person, unit_id: int) -> HttpResponse:
    unit = access_unit(me, unit_id)
    page = selectors.unit_page(unit, organisation=me.organisation, viewer=me)
    # The dependency board filters to a unit for its members and for admins only.
    on_board = me.is_org_admin or any(m.person_id == me.pk for m in page.members)
    context = page_context(me, "units", page=page, unit=unit, on_board=on_board)
    return render(request, "org/unit_detail.html", context)


# ---- admin pages: access and forms ---------------------------------------------------------


def admin_page(
    view: Callable[Concatenate[HttpRequest, Person, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """A person_page that only organisation admins may open; others get a 403 page."""

    @wraps(view)
    def wrapper(
        request: HttpRequest, me: Person, *args: P.args, **kwargs: P.kwargs
    ) -> HttpResponse:
        require_org_admin(me)  # refused: person_page shows the 403 page with the reason
        return view(request, me, *args, **kwargs)

    return person_page(wrapper)


@dataclass
class Form:
    """A form as the page shows it: its values (stored or as posted) and what was wrong."""

    data: Mapping[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    problem: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.problem)

    @property
    def first_error(self) -> str:
        """The input that takes focus when the form comes back refused."""
        return next(iter(self.errors), "")

    @property
    def error_items(self) -> list[tuple[str, str, str]]:
        """(input, its words, message) for the summary above the form."""
        return [(f, f.replace("_", " ").capitalize(), m) for f, m in self.errors.items()]

    @classmethod
    def refused(cls, exc: LockstepError, data: Mapping[str, Any]) -> Form:
        errors: dict[str, str] = {}
        for f in exc.fields:
            errors.setdefault(f.field, f.message)
        return cls(data=data, errors=errors, problem="" if exc.fields else exc.message)


def _number(post: QueryDict, name: str, problems: Problems, *, whole: bool = False) -> Any:
    """The posted number, or None when left empty; a wrong one is named."""
    raw = post.get(name, "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        problems.add(name, "enter a whole number" if whole else "enter a number")
        return None
    if not math.isfinite(value):
        problems.add(name, "enter a number")
        return None
    return value


def _unit_options(org: Organisation, *, leave_out: Unit | None = None) -> list[tuple[Unit, str]]:
    units = [u for u in selectors.live_units(org) if leave_out is None or u.pk != leave_out.pk]
    return selectors.indented_units(units)


@admin_page
def manage_home(request: HttpRequest, me: Person) -> HttpResponse:
    return redirect("manage-people")


# ---- people -------------------------------------------------------------------------------


@admin_page
def manage_people(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    search = request.GET.get("q", "").strip()
    raw_unit = request.GET.get("unit", "").strip()
    unit_id = int(raw_unit) if is_id(raw_unit) else None
    archived = request.GET.get("archived") == "1"
    rows = list(
        selectors.people_query(org, search=search, unit_id=unit_id, include_archived=archived)[
            : selectors.PEOPLE_SHOWN + 1
        ]
    )
    options = _unit_options(org)
    context = page_context(
        me,
        "manage",
        people=rows[: selectors.PEOPLE_SHOWN],
        capped=len(rows) > selectors.PEOPLE_SHOWN,
        shown=selectors.PEOPLE_SHOWN,
        search=search,
        unit_choice=unit_id,
        filtered_unit=next((u for u, _ in options if u.pk == unit_id), None),
        archived=archived,
        unit_options=options,
        tab="people",
    )
    if getattr(request, "htmx", False):
        return render(request, "org/_people_table.html", context)
    return render(request, "org/manage_people.html", context)


@dataclass
class MembershipRow:
    index: int
    unit_id: str
    role: str


def _membership_rows(data: Mapping[str, Any], spare: int) -> list[MembershipRow]:
    """The membership rows a form shows: what was posted (or is stored), then blank ones."""
    posted = data if isinstance(data, QueryDict) else QueryDict()
    units, roles = posted.getlist("membership_unit"), posted.getlist("membership_role")
    filled = [(u, r) for u, r in zip(units, roles, strict=False) if u]
    rows = [MembershipRow(i, str(u), r) for i, (u, r) in enumerate(filled)]
    rows += [MembershipRow(len(rows) + i, "", Membership.Role.MEMBER) for i in range(spare)]
    return rows


def _person_input(post: QueryDict, org: Organisation) -> dict[str, Any]:
    """Turn the person form into the services' arguments, naming every unreadable field."""
    problems = Problems()
    units = post.getlist("membership_unit")
    roles = post.getlist("membership_role")
    picked: list[tuple[int, str]] = []
    for raw, role in zip(units, roles, strict=False):
        if not raw:
            continue
        if not is_id(raw):
            problems.add("memberships", "choose units from the list")
            continue
        picked.append((int(raw), role))
    if len({u for u, _ in picked}) < len(picked):
        problems.add("memberships", "name each unit once")
    problems.raise_any()
    found = resolve_many_in_org(Unit, org, [u for u, _ in picked], "memberships")
    data: dict[str, Any] = {
        "name": post.get("name", "").strip(),
        "email": post.get("email", "").strip(),
        "is_org_admin": post.get("is_org_admin") == "on",
        "memberships": [(unit, role) for unit, (_, role) in zip(found, picked, strict=True)],
    }
    username = post.get("username", "").strip()
    password = post.get("password", "")
    if username:
        data["username"] = username
    if password:
        data["password"] = password
    return data


def _person_form_page(
    request: HttpRequest,
    me: Person,
    form: Form,
    *,
    person: Person | None = None,
    status: int = 200,
) -> HttpResponse:
    spare = NEW_PERSON_MEMBERSHIP_ROWS if person is None else SPARE_MEMBERSHIP_ROWS
    context = page_context(
        me,
        "manage",
        form=form,
        person=person,
        rows=_membership_rows(form.data, spare),
        unit_options=_unit_options(me.organisation),
        roles=Membership.Role.choices,
        tab="people",
    )
    return render(request, "org/person_form.html", context, status=status)


@admin_page
def manage_person_add(request: HttpRequest, me: Person) -> HttpResponse:
    if request.method != "POST":
        return _person_form_page(request, me, Form(data=QueryDict()))
    try:
        data = _person_input(request.POST, me.organisation)
        person = services.person_create(organisation=me.organisation, actor=me, **data)
    except (ValidationFailed, Conflict) as exc:
        return _person_form_page(request, me, Form.refused(exc, request.POST), status=exc.status)
    messages.success(request, f"Added {person.name}.")
    return redirect(reverse("manage-people") + "?" + urlencode({"q": person.email}))


def _stored_person(person: Person) -> QueryDict:
    data = QueryDict(mutable=True)
    # The version the form was opened at, so a save over someone else's edit is refused.
    data.update({"name": person.name, "email": person.email, "version": etag_of(person)})
    if person.is_org_admin:
        data["is_org_admin"] = "on"
    if person.user is not None:
        data["username"] = person.user.get_username()
    for m in person.memberships.select_related("unit").order_by("role", "unit__name"):
        data.appendlist("membership_unit", str(m.unit_id))
        data.appendlist("membership_role", m.role)
    return data


@admin_page
def manage_person_edit(request: HttpRequest, me: Person, person_id: int) -> HttpResponse:
    person = access_person(me, person_id)
    if request.method != "POST":
        return _person_form_page(request, me, Form(data=_stored_person(person)), person=person)
    try:
        data = _person_input(request.POST, me.organisation)
        if person.user is not None and data.get("username") == person.user.get_username():
            data.pop("username")  # unchanged: no account write
        with edit_guard(Person, person.pk, request.POST.get("version") or None) as locked:
            person = services.person_update(person=locked, actor=me, **data)
    except (ValidationFailed, Conflict, EditConflict) as exc:
        person.refresh_from_db()
        form = Form.refused(exc, request.POST)
        return _person_form_page(request, me, form, person=person, status=exc.status)
    messages.success(request, f"Saved {person.name}.")
    return redirect("manage-person-edit", person_id=person.pk)


@admin_page
def manage_person_archive(request: HttpRequest, me: Person, person_id: int) -> HttpResponse:
    person = access_person(me, person_id)
    if request.method != "POST":
        return redirect("manage-person-edit", person_id=person.pk)
    try:
        services.person_archive(person=person, actor=me)
    except (ValidationFailed, Conflict) as exc:
        person.refresh_from_db()
        form = Form(data=_stored_person(person), problem=exc.message)
        return _person_form_page(request, me, form, person=person, status=exc.status)
    messages.success(request, f"Archived {person.name}: they left every unit.")
    return redirect("manage-people")


# ---- units --------------------------------------------------------------------------------

UNIT_KINDS = Unit.Kind.choices
CAPACITY_UNITS = Unit.CapacityUnit.choices


def _unit_input(post: QueryDict, org: Organisation) -> dict[str, Any]:
    problems = Problems()
    capacity = _number(post, "weekly_capacity", problems)
    raw_parent = post.get("parent", "").strip()
    if raw_parent and not is_id(raw_parent):
        problems.add("parent", "choose a unit from the list")
    problems.raise_any()
    return {
        "name": post.get("name", "").strip(),
        "kind": post.get("kind", ""),
        "parent": resolve_in_org(Unit, org, int(raw_parent) if raw_parent else None, "parent"),
        "weekly_capacity": capacity,
        "capacity_unit": post.get("capacity_unit", Unit.CapacityUnit.HOURS),
    }


def _units_page(
    request: HttpRequest, me: Person, form: Form | None = None, *, status: int = 200
) -> HttpResponse:
    org = me.organisation
    units = units_in_tree_order(selectors.live_units(org))
    members = selectors.member_counts(org)
    owned = selectors.live_objective_counts(org)
    context = page_context(
        me,
        "manage",
        units=[
            (u, "\u00a0\u00a0" * depth, members.get(u.pk, 0), owned.get(u.pk, 0))
            for u, depth in units
        ],
        form=form or Form(data={"kind": Unit.Kind.TEAM, "capacity_unit": Unit.CapacityUnit.HOURS}),
        unit_options=[(u, "\u00a0\u00a0" * depth) for u, depth in units],
        kinds=UNIT_KINDS,
        capacity_units=CAPACITY_UNITS,
        tab="units",
    )
    return render(request, "org/manage_units.html", context, status=status)


@admin_page
def manage_units(request: HttpRequest, me: Person) -> HttpResponse:
    return _units_page(request, me)


@admin_page
def manage_unit_add(request: HttpRequest, me: Person) -> HttpResponse:
    if request.method != "POST":
        return redirect("manage-units")
    try:
        unit = services.unit_create(
            organisation=me.organisation, actor=me, **_unit_input(request.POST, me.organisation)
        )
    except (ValidationFailed, Conflict) as exc:
        return _units_page(request, me, Form.refused(exc, request.POST), status=exc.status)
    messages.success(request, f"Added the unit {unit.name}.")
    return redirect(reverse("manage-units") + f"#unit-{unit.pk}")


def _unit_form_page(
    request: HttpRequest, me: Person, unit: Unit, form: Form, *, status: int = 200
) -> HttpResponse:
    org = me.organisation
    context = page_context(
        me,
        "manage",
        unit=unit,
        form=form,
        # Every other unit is offered; the service refuses one below this unit, saying why.
        unit_options=_unit_options(org, leave_out=unit),
        kinds=UNIT_KINDS,
        capacity_units=CAPACITY_UNITS,
        owned=Objective.objects.filter(owner_unit=unit, archived_at__isnull=True).count(),
        tab="units",
    )
    return render(request, "org/unit_form.html", context, status=status)


def _stored_unit(unit: Unit) -> dict[str, Any]:
    return {
        "name": unit.name,
        "kind": unit.kind,
        "parent": str(unit.parent_id or ""),
        "weekly_capacity": "" if unit.weekly_capacity is None else f"{unit.weekly_capacity:g}",
        "capacity_unit": unit.capacity_unit,
        "version": etag_of(unit),
    }


@admin_page
def manage_unit_edit(request: HttpRequest, me: Person, unit_id: int) -> HttpResponse:
    unit = access_unit(me, unit_id)
    if request.method != "POST":
        return _unit_form_page(request, me, unit, Form(data=_stored_unit(unit)))
    try:
        changes = _unit_input(request.POST, me.organisation)
        with edit_guard(Unit, unit.pk, request.POST.get("version") or None) as locked:
            unit = services.unit_update(unit=locked, actor=me, **changes)
    except (ValidationFailed, Conflict, EditConflict) as exc:
        unit.refresh_from_db()
        return _unit_form_page(
            request, me, unit, Form.refused(exc, request.POST), status=exc.status
        )
    messages.success(request, f"Saved the unit {unit.name}.")
    return redirect("manage-unit-edit", unit_id=unit.pk)


@admin_page
def manage_unit_archive(request: HttpRequest, me: Person, unit_id: int) -> HttpResponse:
    unit = access_unit(me, unit_id)
    if request.method != "POST":
        return redirect("manage-unit-edit", unit_id=unit.pk)
    try:
        services.unit_archive(unit=unit, actor=me)
    except (ValidationFailed, Conflict) as exc:
        unit.refresh_from_db()
        form = Form(data=_stored_unit(unit), problem=f"Not archived: {exc.message}.")
        return _unit_form_page(request, me, unit, form, status=exc.status)
    messages.success(request, f"Archived the unit {unit.name}.")
    return redirect("manage-units")


# ---- organisation settings -------------------------------------------------------------

# The settings form's numbers: (field, whole number?).
ORG_NUMBERS = [
    ("on_track_margin", False),
    ("at_risk_margin", False),
    ("answer_window_days", True),
    ("max_objectives_per_unit", True),
    ("max_krs_per_objective", True),
    ("low_confidence", True),
    ("single_point_min_units", True),
    ("task_share", False),
]


def _org_input(post: QueryDict) -> dict[str, Any]:
    problems = Problems()
    out: dict[str, Any] = {
        "name": post.get("name", "").strip(),
        "timezone": post.get("timezone", "").strip(),
    }
    for name, whole in ORG_NUMBERS:
        value = _number(post, name, problems, whole=whole)
        if value is None and not any(p.field == name for p in problems.fields):
            problems.add(name, "enter a value")
        out[name] = value
    problems.raise_any()
    return out


def _stored_org(org: Organisation) -> dict[str, Any]:
    data: dict[str, Any] = {"name": org.name, "timezone": org.timezone}
    for name, _ in ORG_NUMBERS:
        data[name] = f"{getattr(org, name):g}"
    data["version"] = etag_of(org)  # a save over another admin's edit is refused
    return data


@functools.cache
def _timezones() -> list[str]:
    """The IANA zone names, read from the zone data once per process."""
    return sorted(zoneinfo.available_timezones())


def _org_page(request: HttpRequest, me: Person, form: Form, *, status: int = 200) -> HttpResponse:
    context = page_context(
        me,
        "manage",
        form=form,
        timezones=_timezones(),
        tab="org",
    )
    return render(request, "org/manage_org.html", context, status=status)


@admin_page
def manage_org(request: HttpRequest, me: Person) -> HttpResponse:
    org = me.organisation
    if request.method != "POST":
        return _org_page(request, me, Form(data=_stored_org(org)))
    try:
        changes = _org_input(request.POST)
        with edit_guard(Organisation, org.pk, request.POST.get("version") or None) as locked:
            services.organisation_update(organisation=locked, actor=me, **changes)
    except (ValidationFailed, Conflict, EditConflict) as exc:
        org.refresh_from_db()
        return _org_page(request, me, Form.refused(exc, request.POST), status=exc.status)
    messages.success(request, "Saved the organisation's settings.")
    return redirect("manage-org")
