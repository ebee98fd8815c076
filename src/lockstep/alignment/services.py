"""Writes for dependencies, asks and offers, peer reviews, and the stored findings.

Every dependency or review step is a service that records one activity event. The
findings store listens to those events (activity.services.subscribe) and refreshes only
what the change can alter; `findings_refresh_full` recomputes everything on demand.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lockstep.activity.models import ActivityEvent
from lockstep.activity.services import event_record, snapshot, subscribe
from lockstep.alignment import selectors
from lockstep.alignment.models import AskOffer, Dependency, Finding, Review, ReviewNote
from lockstep.bulk import bulk_insert, ids_reserve
from lockstep.core import findings as engine
from lockstep.core.snapshot import DependencyState, Ref, cyclic_gc_paused
from lockstep.errors import Conflict, Forbidden, ValidationFailed
from lockstep.goals.models import Cycle, Initiative, KeyResult, Objective
from lockstep.goals.services import numbers_refresh_full
from lockstep.keys import is_valid_key, unique_key
from lockstep.org.models import Organisation, Person, Unit
from lockstep.org.roles import require_leader, require_worker, works_in_any

S = DependencyState


# Who may act: lockstep.org.roles (leaders answer for their unit, members act for it).


# ---- dependencies ---------------------------------------------------------------------

Item = KeyResult | Initiative


def _item_unit(item: Item) -> Unit | None:
    return item.owner_unit


def _item_cycles(item: Item) -> list[Cycle]:
    if isinstance(item, KeyResult):
        return [item.objective.cycle]
    return [kr.objective.cycle for kr in item.key_results.select_related("objective__cycle")]


def _dep_snapshot(dep: Dependency) -> dict[str, Any]:
    return snapshot(dep)


def _transition(
    dep: Dependency, actor: Person | None, verb: str, before: dict[str, Any]
) -> Dependency:
    dep.save()
    event_record(
        organisation=dep.organisation,
        actor=actor,
        verb=verb,
        obj=dep,
        before=before,
        after=_dep_snapshot(dep),
    )
    return dep


@transaction.atomic
def dependency_request(
    *,
    organisation: Organisation,
    actor: Person | None,
    requester_item: Item,
    provider_unit: Unit,
    title: str,
    needed_by: dt.date,
    description: str = "",
    effort: float = 0.0,
    key: str | None = None,
    requested_at: dt.datetime | None = None,
) -> Dependency:
    """Unit A (the item's owner) asks unit B for `title` by `needed_by`.

    `requested_at` back-dates a request recorded after the fact (imports, the demo).
    """
    if requester_item.organisation_id != organisation.pk:
        raise ValidationFailed.on("requester_item", "unknown in this organisation")
    if provider_unit.organisation_id != organisation.pk or provider_unit.archived_at is not None:
        raise ValidationFailed.on("provider_unit", "unknown in this organisation")
    if getattr(requester_item, "archived_at", None) is not None:
        raise ValidationFailed.on("requester_item", "is archived")
    requester_unit = _item_unit(requester_item)
    if requester_unit is None:
        raise ValidationFailed.on("requester_item", "has no owner unit to ask on behalf of")
    if requester_unit.pk == provider_unit.pk:
        raise ValidationFailed.on("provider_unit", "a unit cannot depend on itself")
    if not (title or "").strip():
        raise ValidationFailed.on("title", "must not be empty")
    if effort < 0:
        raise ValidationFailed.on("effort", "must not be negative")
    for cycle in _item_cycles(requester_item):
        if not (cycle.start <= needed_by <= cycle.end):
            raise ValidationFailed.on(
                "needed_by",
                f"must lie inside the cycle {cycle.key!r} ({cycle.start} to {cycle.end})",
            )
    require_worker(actor, [requester_unit], "ask on its behalf")
    if key is None:
        key = unique_key(Dependency, organisation.pk, title)
    elif (
        not is_valid_key(key)
        or Dependency.objects.filter(organisation=organisation, key=key).exists()
    ):
        raise ValidationFailed.on(
            "key", f"{key!r} is not a free key (lower-case letters, digits, '-', '_')"
        )
    dep = Dependency(
        organisation=organisation,
        key=key,
        title=title.strip(),
        description=description,
        requester_unit=requester_unit,
        provider_unit=provider_unit,
        needed_by=needed_by,
        effort=effort,
        requested_by=actor,
        requested_at=min(requested_at or timezone.now(), timezone.now()),
    )
    if isinstance(requester_item, KeyResult):
        dep.requester_kr = requester_item
    else:
        dep.requester_initiative = requester_item
    dep.save()
    event_record(
        organisation=organisation,
        actor=actor,
        verb="dependency.requested",
        obj=dep,
        after=_dep_snapshot(dep),
    )
    return dep


def _lock(dep: Dependency) -> Dependency:
    return (
        Dependency.objects.select_for_update()
        .select_related("organisation", "provider_unit", "requester_unit")
        .get(pk=dep.pk)
    )


def _expect(dep: Dependency, *states: S) -> None:
    if dep.state not in states:
        raise Conflict(f"the dependency is {dep.state}; this step needs it {' or '.join(states)}")


@transaction.atomic
def dependency_accept(
    *, dependency: Dependency, actor: Person | None, provider_item: Item | None = None
) -> Dependency:
    """B's leader accepts, optionally naming the KR or initiative that delivers it."""
    dep = _lock(dependency)
    _expect(dep, S.REQUESTED)
    require_leader(actor, [dep.provider_unit], "answer requests addressed to it")
    before = _dep_snapshot(dep)
    if provider_item is not None:
        unit = _item_unit(provider_item)
        co = (
            set(provider_item.co_owners.values_list("pk", flat=True))
            if isinstance(provider_item, KeyResult)
            else set()
        )
        if provider_item.organisation_id != dep.organisation_id or (
            (unit is None or unit.pk != dep.provider_unit_id) and dep.provider_unit_id not in co
        ):
            raise ValidationFailed.on(
                "provider_item", f"must be a key result or initiative of {dep.provider_unit.name}"
            )
        dep.provider_kr = provider_item if isinstance(provider_item, KeyResult) else None
        dep.provider_initiative = provider_item if isinstance(provider_item, Initiative) else None
    dep.state, dep.answered_by, dep.answered_at = S.ACCEPTED, actor, timezone.now()
    return _transition(dep, actor, "dependency.accepted", before)


@transaction.atomic
def dependency_decline(*, dependency: Dependency, actor: Person | None, reason: str) -> Dependency:
    """B's leader declines; a reason is required."""
    dep = _lock(dependency)
    _expect(dep, S.REQUESTED)
    require_leader(actor, [dep.provider_unit], "answer requests addressed to it")
    if not (reason or "").strip():
        raise ValidationFailed.on("reason", "say why the request is declined")
    before = _dep_snapshot(dep)
    dep.state, dep.reason, dep.answered_by, dep.answered_at = (
        S.DECLINED,
        reason.strip(),
        actor,
        timezone.now(),
    )
    return _transition(dep, actor, "dependency.declined", before)


@transaction.atomic
def dependency_counter(
    *, dependency: Dependency, actor: Person | None, counter_date: dt.date, reason: str = ""
) -> Dependency:
    """B's leader offers another date; A accepts it or not."""
    dep = _lock(dependency)
    _expect(dep, S.REQUESTED)
    require_leader(actor, [dep.provider_unit], "answer requests addressed to it")
    if counter_date == dep.needed_by:
        raise ValidationFailed.on("counter_date", "is the date already asked for; accept instead")
    item = dep.requester_kr or dep.requester_initiative
    assert item is not None
    for cycle in _item_cycles(item):
        if not (cycle.start <= counter_date <= cycle.end):
            raise ValidationFailed.on(
                "counter_date",
                f"must lie inside the cycle {cycle.key!r} ({cycle.start} to {cycle.end})",
            )
    before = _dep_snapshot(dep)
    dep.state, dep.counter_date, dep.reason = S.COUNTERED, counter_date, reason.strip()
    dep.answered_by, dep.answered_at = actor, timezone.now()
    return _transition(dep, actor, "dependency.countered", before)


@transaction.atomic
def dependency_counter_answer(
    *, dependency: Dependency, actor: Person | None, accept: bool
) -> Dependency:
    """A takes B's counter date (the dependency is accepted) or turns it down (asked again)."""
    dep = _lock(dependency)
    _expect(dep, S.COUNTERED)
    require_worker(actor, [dep.requester_unit], "answer a counter-offer made to it")
    before = _dep_snapshot(dep)
    if accept:
        assert dep.counter_date is not None
        dep.needed_by, dep.state = dep.counter_date, S.ACCEPTED
        verb = "dependency.counter_accepted"
    else:
        dep.state, dep.answered_at, dep.answered_by = S.REQUESTED, None, None
        verb = "dependency.counter_rejected"
    dep.counter_date = None
    return _transition(dep, actor, verb, before)


@transaction.atomic
def dependency_deliver(*, dependency: Dependency, actor: Person | None) -> Dependency:
    """B marks the accepted dependency delivered."""
    dep = _lock(dependency)
    _expect(dep, S.ACCEPTED)
    require_worker(actor, [dep.provider_unit], "mark its work delivered")
    before = _dep_snapshot(dep)
    dep.state, dep.closed_at = S.DELIVERED, timezone.now()
    return _transition(dep, actor, "dependency.delivered", before)


@transaction.atomic
def dependency_miss(
    *, dependency: Dependency, actor: Person | None, reason: str = ""
) -> Dependency:
    """Either side records that an accepted dependency was not delivered."""
    dep = _lock(dependency)
    _expect(dep, S.ACCEPTED)
    if not works_in_any(actor, [dep.provider_unit_id, dep.requester_unit_id]):
        raise Forbidden("only the two units concerned may mark it missed")
    before = _dep_snapshot(dep)
    dep.state, dep.closed_at, dep.reason = S.MISSED, timezone.now(), reason.strip() or dep.reason
    return _transition(dep, actor, "dependency.missed", before)


@transaction.atomic
def dependency_cancel(*, dependency: Dependency, actor: Person | None) -> Dependency:
    """A withdraws its request."""
    dep = _lock(dependency)
    _expect(dep, S.REQUESTED, S.COUNTERED, S.ACCEPTED)
    require_worker(actor, [dep.requester_unit], "withdraw its requests")
    before = _dep_snapshot(dep)
    dep.state, dep.closed_at = S.CANCELLED, timezone.now()
    return _transition(dep, actor, "dependency.cancelled", before)


# ---- asks and offers ------------------------------------------------------------------


@transaction.atomic
def ask_offer_create(
    *,
    organisation: Organisation,
    actor: Person | None,
    cycle: Cycle,
    kind: str,
    from_unit: Unit,
    to_unit: Unit,
    text: str,
) -> AskOffer:
    """Note what a unit needs from (ask) or offers to (offer) a peer unit for a cycle."""
    if kind not in AskOffer.Kind.values:
        raise ValidationFailed.on("kind", "must be ask or offer")
    for field, obj in (("cycle", cycle), ("from_unit", from_unit), ("to_unit", to_unit)):
        if obj.organisation_id != organisation.pk:
            raise ValidationFailed.on(field, "unknown in this organisation")
    if from_unit.pk == to_unit.pk:
        raise ValidationFailed.on("to_unit", "asks and offers are between two different units")
    if not (text or "").strip():
        raise ValidationFailed.on("text", "must not be empty")
    require_worker(actor, [from_unit], "speak for it")
    item = AskOffer.objects.create(
        organisation=organisation,
        cycle=cycle,
        kind=kind,
        from_unit=from_unit,
        to_unit=to_unit,
        text=text.strip(),
        author=actor,
    )
    event_record(
        organisation=organisation,
        actor=actor,
        verb=f"{kind}.created",
        obj=item,
        after=snapshot(item),
    )
    return item


@transaction.atomic
def ask_to_dependency(
    *,
    ask: AskOffer,
    actor: Person | None,
    requester_item: Item,
    needed_by: dt.date,
    effort: float = 0.0,
) -> Dependency:
    """Turn an ask into a dependency request on the unit it was addressed to."""
    # Lock the ask so two quick submissions cannot both turn it into a request.
    ask = (
        AskOffer.objects.select_for_update()
        .select_related("organisation", "from_unit", "to_unit")
        .get(pk=ask.pk)
    )
    if ask.kind != AskOffer.Kind.ASK:
        raise ValidationFailed.on("ask", "only an ask becomes a dependency request")
    if ask.dependency_id is not None:
        raise Conflict("this ask is already a dependency request")
    if _item_unit(requester_item) is None or _item_unit(requester_item).pk != ask.from_unit_id:  # type: ignore[union-attr]
        raise ValidationFailed.on(
            "requester_item", f"must belong to {ask.from_unit.name}, who asked"
        )
    dep = dependency_request(
        organisation=ask.organisation,
        actor=actor,
        requester_item=requester_item,
        provider_unit=ask.to_unit,
        title=ask.text[:300],
        needed_by=needed_by,
        effort=effort,
    )
    ask.dependency = dep
    ask.save(update_fields=["dependency"])
    return dep


# ---- peer review ----------------------------------------------------------------------


def review_default_units(objective: Objective) -> list[Unit]:
    """The units a draft should be shown to: those it depends on and those depending on it."""
    krs = list(objective.key_results.filter(archived_at__isnull=True).values_list("pk", flat=True))
    inits = list(Initiative.objects.filter(key_results__in=krs).values_list("pk", flat=True))
    deps = Dependency.objects.filter(organisation=objective.organisation).exclude(
        state__in=[S.CANCELLED, S.DECLINED]
    )
    out_units = deps.filter(
        Q(requester_kr__in=krs) | Q(requester_initiative__in=inits)
    ).values_list("provider_unit", flat=True)
    in_units = deps.filter(Q(provider_kr__in=krs) | Q(provider_initiative__in=inits)).values_list(
        "requester_unit", flat=True
    )
    own = {objective.owner_unit_id}
    ids = (set(out_units) | set(in_units)) - own
    return list(Unit.objects.filter(pk__in=ids, archived_at__isnull=True).order_by("name"))


@transaction.atomic
def review_request(
    *, objective: Objective, actor: Person | None, units: Collection[Unit] | None = None
) -> list[Review]:
    """Send a draft objective to peer units for comments, proposals and endorsement."""
    if objective.state != Objective.State.DRAFT:
        raise Conflict("only a draft objective is sent for review")
    own_units = {objective.owner_unit_id, *objective.contributors.values_list("pk", flat=True)} - {
        None
    }
    if not works_in_any(actor, own_units):
        raise Forbidden("only people of the objective's units may send it for review")
    chosen = list(units) if units is not None else review_default_units(objective)
    if not chosen:
        raise ValidationFailed.on(
            "units", "name the peer units to ask (none depend on this objective yet)"
        )
    now = timezone.now()
    made = []
    for unit in chosen:
        if unit.organisation_id != objective.organisation_id:
            raise ValidationFailed.on("units", "unknown unit")
        if unit.pk == objective.owner_unit_id:
            raise ValidationFailed.on("units", "the owner unit does not review its own objective")
        review, created = Review.objects.get_or_create(
            objective=objective,
            unit=unit,
            defaults={
                "organisation": objective.organisation,
                "requested_by": actor,
                "requested_at": now,
            },
        )
        if created:
            made.append(review)
    event_record(
        organisation=objective.organisation,
        actor=actor,
        verb="review.requested",
        obj=objective,
        after={"units": sorted(u.key for u in chosen)},
    )
    return made


_NOTE_STATE = {
    ReviewNote.Kind.COMMENT: Review.State.COMMENTED,
    ReviewNote.Kind.PROPOSAL: Review.State.CHANGES_PROPOSED,
    ReviewNote.Kind.ENDORSEMENT: Review.State.ENDORSED,
}


@transaction.atomic
def review_respond(
    *, review: Review, actor: Person | None, kind: str, text: str = ""
) -> ReviewNote:
    """A reviewer unit comments, proposes a change, or (a leader) endorses the objective."""
    if kind not in ReviewNote.Kind.values:
        raise ValidationFailed.on("kind", "must be comment, proposal or endorsement")
    if kind != ReviewNote.Kind.ENDORSEMENT and not (text or "").strip():
        raise ValidationFailed.on("text", "say what you think or propose")
    if kind == ReviewNote.Kind.ENDORSEMENT:
        require_leader(actor, [review.unit], "endorse for it")
    else:
        require_worker(actor, [review.unit], "review for it")
    note = ReviewNote.objects.create(
        review=review, author=actor, kind=kind, text=(text or "").strip()
    )
    before = snapshot(review)
    # An endorsement stands until the reviewer proposes a change again.
    if review.state != Review.State.ENDORSED or kind == ReviewNote.Kind.PROPOSAL:
        review.state = _NOTE_STATE[ReviewNote.Kind(kind)]
    review.answered_at = timezone.now()
    review.save()
    event_record(
        organisation=review.organisation,
        actor=actor,
        verb=f"review.{kind}",
        obj=review,
        before=before,
        after={**snapshot(review), "text": note.text},
    )
    return note


# ---- findings store -------------------------------------------------------------------

KR_LOCAL_CODES = frozenset({"STALE_CHECKIN", "OFF_PACE", "LIKELY_MISS", "LOW_CONFIDENCE"})
DEPENDENCY_CODES = frozenset(
    {
        "DEPENDENCY_UNANSWERED",
        "DEPENDENCY_DECLINED",
        "DEPENDENCY_TOO_LATE",
        "DEPENDENCY_CYCLE",
        "UPSTREAM_AT_RISK",
        "OVER_CAPACITY",
        "SINGLE_POINT_OF_FAILURE",
    }
)


@dataclass(frozen=True)
class Scope:
    """Which stored findings a refresh replaces: these codes, on these subjects (None: all)."""

    codes: frozenset[str] | None = None
    subjects: frozenset[Ref] | None = None

    def holds(self, f: engine.Finding) -> bool:
        return (self.codes is None or f.code in self.codes) and (
            self.subjects is None or f.subject in self.subjects
        )


# Id lists sent to the database are cut to this size: SQLite's default build allows
# 32,766 variables per statement.
CHUNK = 5000

_FIELDS = (
    "code",
    "severity",
    "subject_type",
    "subject_id",
    "title",
    "explanation",
    "suggestion",
    "links",
)


def _values(f: engine.Finding) -> tuple[Any, ...]:
    return (
        f.code,
        f.severity.value,
        f.subject[0],
        f.subject[1],
        f.title[:500],
        list(f.explanation),
        f.suggestion,
        [list(ref) for ref in f.links],
    )


def _stored_in_scope(
    organisation: Organisation, scopes: list[Scope]
) -> tuple[dict[str, tuple[Any, ...]], list[int] | None]:
    """The stored findings inside the scopes, by key, and their ids (None: the whole org).

    A scope naming subjects is read kind by kind on the (organisation, subject) index: the
    check-in path runs this on every check-in, and one OR-ed filter made the database scan.
    """
    # No ORDER BY: the model's ordering led SQLite to walk the severity index instead.
    rows = Finding.objects.filter(organisation=organisation).order_by()
    columns = ("pk", "key", "first_seen_at", *_FIELDS)
    if any(s.codes is None and s.subjects is None for s in scopes):
        return {r[1]: r for r in rows.values_list(*columns)}, None
    stored: dict[str, tuple[Any, ...]] = {}
    for s in scopes:
        q = rows if s.codes is None else rows.filter(code__in=s.codes)
        if s.subjects is None:
            stored.update((r[1], r) for r in q.values_list(*columns))
            continue
        by_kind: dict[str, list[int]] = {}
        for kind, pk in s.subjects:
            by_kind.setdefault(kind, []).append(pk)
        for kind, pks in by_kind.items():
            for start in range(0, len(pks), CHUNK):
                part = q.filter(subject_type=kind, subject_id__in=pks[start : start + CHUNK])
                stored.update((r[1], r) for r in part.values_list(*columns))
    return stored, [r[0] for r in stored.values()]


def _store(organisation: Organisation, found: list[engine.Finding], scopes: list[Scope]) -> None:
    """Replace the stored findings inside the scopes by those found; keep first-seen times.

    Set-based: one read of the rows in scope and their units, chunked deletes of what went
    away or changed, one UPDATE marking the rest seen, bulk inserts of what is new or
    changed (a changed finding is re-inserted with its first-seen time, under its key).
    """
    now = timezone.now()
    keep = [f for f in found if any(s.holds(f) for s in scopes)]
    stored, ids = _stored_in_scope(organisation, scopes)
    through = Finding.units.through
    units_of: dict[int, set[int]] = {}
    if ids is None:
        links = through.objects.filter(finding__organisation=organisation)
        for fid, uid in links.values_list("finding_id", "unit_id"):
            units_of.setdefault(fid, set()).add(uid)
    else:
        for start in range(0, len(ids), CHUNK):
            links = through.objects.filter(finding_id__in=ids[start : start + CHUNK])
            for fid, uid in links.values_list("finding_id", "unit_id"):
                units_of.setdefault(fid, set()).add(uid)

    drop: list[int] = []
    write: list[tuple[engine.Finding, dt.datetime]] = []
    fresh = {f.key for f in keep}
    drop.extend(r[0] for key, r in stored.items() if key not in fresh)
    for f in keep:
        row = stored.get(f.key)
        if row is None:
            write.append((f, now))
        elif tuple(row[3:]) != _values(f) or units_of.get(row[0], set()) != set(f.unit_ids):
            drop.append(row[0])
            write.append((f, row[2]))
    for start in range(0, len(drop), CHUNK):
        Finding.objects.filter(pk__in=drop[start : start + CHUNK]).delete()
    if ids is None:
        Finding.objects.filter(organisation=organisation).update(last_seen_at=now)
    else:
        gone = set(drop)
        seen = [pk for pk in ids if pk not in gone]
        for start in range(0, len(seen), CHUNK):
            Finding.objects.filter(pk__in=seen[start : start + CHUNK]).update(last_seen_at=now)
    if len(write) >= BULK_FROM:
        _insert_bulk(organisation, write, now)
        return
    made = Finding.objects.bulk_create(
        [
            Finding(
                organisation=organisation,
                key=f.key,
                first_seen_at=first,
                last_seen_at=now,
                **dict(zip(_FIELDS, _values(f), strict=True)),
            )
            for f, first in write
        ],
        batch_size=2000,
    )
    through.objects.bulk_create(
        [
            through(finding_id=row.pk, unit_id=u)
            for row, (f, _) in zip(made, write, strict=True)
            for u in f.unit_ids
        ],
        batch_size=5000,
    )


# A full refresh writes every finding (420,000 at 350,000 KRs): through the bulk path, not
# one model instance per row. It takes a table lock on PostgreSQL for its ids, so the
# few rows a check-in writes go the ordinary way.
BULK_FROM = 1000


def _insert_bulk(
    organisation: Organisation, write: list[tuple[engine.Finding, dt.datetime]], now: dt.datetime
) -> None:
    first_id = ids_reserve(Finding)
    bulk_insert(
        Finding,
        (
            {
                "id": first_id + n,
                "organisation_id": organisation.pk,
                "key": f.key,
                "first_seen_at": first,
                "last_seen_at": now,
                **dict(zip(_FIELDS, _values(f), strict=True)),
            }
            for n, (f, first) in enumerate(write)
        ),
    )
    bulk_insert(
        Finding.units.through,
        (
            {"finding_id": first_id + n, "unit_id": u}
            for n, (f, _) in enumerate(write)
            for u in f.unit_ids
        ),
    )


def findings_refresh_full(
    organisation: Organisation, *, now: dt.datetime | None = None
) -> list[engine.Finding]:
    """Recompute every finding, and every stored progress and status, of the organisation.

    The snapshot is read and analysed before the write transaction opens, so SQLite's write
    lock is held only while the results are stored. The stored numbers go first (the same
    way: read, then a short write), so whatever reads them afterwards sees this run's.
    """
    with cyclic_gc_paused():
        numbers_refresh_full(organisation, now=now)
        found = engine.analyse(selectors.snapshot_of(organisation, now=now))
        with transaction.atomic():
            _store(organisation, found, [Scope()])
    return found


def findings_refresh_kr(organisation: Organisation, kr_id: int) -> None:
    """After a check-in: the KR's own findings and the upstream risk of whoever waits on it."""
    scope = selectors.risk_scope(organisation, ("kr", kr_id))
    snap = selectors.snapshot_of(
        organisation,
        kr_ids={pk for kind, pk in scope.items if kind == "kr"},
        initiative_ids={pk for kind, pk in scope.items if kind == "initiative"},
        dependency_ids=scope.dependency_ids,
    )
    found = engine.analyse(snap, codes=KR_LOCAL_CODES | {"UPSTREAM_AT_RISK"})
    _store(
        organisation,
        found,
        [
            Scope(KR_LOCAL_CODES, frozenset({("kr", kr_id)})),
            Scope(frozenset({"UPSTREAM_AT_RISK"}), scope.downstream),
        ],
    )


def findings_refresh_dependencies(
    organisation: Organisation, objective_ids: Collection[int] = ()
) -> None:
    """After a dependency step: every dependency-graph finding, over dependencies and their items."""
    rows = list(Dependency.objects.filter(organisation=organisation).values(*selectors.DEP_FIELDS))
    refs = [r for d in rows for r in (selectors._requester_ref(d), selectors._provider_ref(d)) if r]
    initiative_ids = {pk for kind, pk in refs if kind == "initiative"}
    # An initiative's dependency underpins the KRs it drives (DEPENDENCY_DECLINED, SPOF).
    driven = Initiative.key_results.through.objects.filter(
        initiative_id__in=initiative_ids
    ).values_list("keyresult_id", flat=True)
    snap = selectors.snapshot_of(
        organisation,
        kr_ids={pk for kind, pk in refs if kind == "kr"} | set(driven),
        objective_ids=set(objective_ids),
        initiative_ids=initiative_ids,
    )
    codes = DEPENDENCY_CODES | ({"BUBBLE_GOAL"} if objective_ids else set())
    found = engine.analyse(snap, codes=codes)
    scopes = [Scope(DEPENDENCY_CODES)]
    if objective_ids:
        scopes.append(
            Scope(frozenset({"BUBBLE_GOAL"}), frozenset(("objective", o) for o in objective_ids))
        )
    _store(organisation, found, scopes)


# Bulk writers (demo, plan apply, imports) defer refreshes and run one full refresh at the end.
_deferred: contextvars.ContextVar[set[int] | None] = contextvars.ContextVar(
    "findings_deferred", default=None
)


@contextlib.contextmanager
def findings_deferred() -> Iterator[None]:
    """Collect the organisations a block changes; refresh each once, fully, at the end."""
    if _deferred.get() is not None:
        yield
        return
    token = _deferred.set(set())
    try:
        yield
        touched = _deferred.get() or set()
    finally:
        _deferred.reset(token)
    for org in Organisation.objects.filter(pk__in=touched):
        findings_refresh_full(org)


def _requester_objectives(dep_id: int) -> set[int]:
    """The objectives whose BUBBLE_GOAL a dependency step can change: the requesting KR's, or
    those of the KRs the requesting initiative drives."""
    row = (
        Dependency.objects.filter(pk=dep_id)
        .values("requester_kr__objective_id", "requester_initiative_id")
        .first()
    )
    if row is None:
        return set()
    if row["requester_kr__objective_id"]:
        return {row["requester_kr__objective_id"]}
    return set(
        Objective.objects.filter(
            key_results__initiatives=row["requester_initiative_id"]
        ).values_list("pk", flat=True)
    )


def _on_event(event: ActivityEvent) -> None:
    deferred = _deferred.get()
    if deferred is not None:
        deferred.add(event.organisation_id)
        return
    org = event.organisation
    if event.verb == "checkin.recorded":
        findings_refresh_kr(org, event.object_id)
    elif event.verb.startswith("dependency."):
        findings_refresh_dependencies(org, _requester_objectives(event.object_id))
    elif event.verb.startswith("review."):
        oid = (
            event.object_id
            if event.object_type == "objective"
            else Review.objects.get(pk=event.object_id).objective_id
        )
        findings_refresh_dependencies(org, {oid})
    elif event.verb == "kpi.point_recorded":
        return  # the check-ins it writes on following KRs refresh themselves
    elif event.verb.split(".")[0] in STRUCTURAL:
        findings_refresh_full(org)


# Changes to the shape of the plan can move any finding; they are rare next to check-ins.
STRUCTURAL = {"objective", "key_result", "initiative", "kpi", "unit", "cycle", "organisation"}


def connect() -> None:
    """Subscribe the findings store to the activity events (called from AppConfig.ready)."""
    subscribe("", _on_event)


def finding_rows(organisation: Organisation, found: list[engine.Finding]) -> list[dict[str, Any]]:
    """Findings as plain rows naming subjects, units and links by key, like `lockstep check
    plan.yaml` prints them."""
    from lockstep.goals.models import KPI

    refs = {ref for f in found for ref in (f.subject, *f.links)}
    refs |= {("unit", u) for f in found for u in f.unit_ids}
    keyed: dict[str, Any] = {
        "kr": KeyResult,
        "objective": Objective,
        "unit": Unit,
        "kpi": KPI,
        "dependency": Dependency,
    }
    keys: dict[Ref, str] = {}
    for kind, model in keyed.items():
        ids = [pk for k, pk in refs if k == kind]
        for pk, key in model.objects.filter(organisation=organisation, pk__in=ids).values_list(
            "pk", "key"
        ):
            keys[(kind, pk)] = key
    return [engine.finding_row(f, keys) for f in found]
