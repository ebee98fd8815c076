"""The shape of a plan: one pydantic model per entity, strict about fields and types.

The models check what one value can check on its own (types, choices, key syntax, ranges);
rules that relate values to each other or to other entities live in `validate.py`, where
they can name the exact field. Text is stripped on the way in because the services store
titles stripped, and a plan must compare equal to what the database gives back.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from lockstep.core.progress import Commitment, KRKind
from lockstep.core.snapshot import DependencyState
from lockstep.goals.models import Cycle, Objective
from lockstep.keys import is_valid_key
from lockstep.org.models import Membership, Unit
from lockstep.plans.problems import Locator, Path, plain_locator


def _key(value: str) -> str:
    if not is_valid_key(value):
        raise ValueError("use lower-case letters, digits, '-' or '_' (at most 100 characters)")
    return value


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _email(value: str) -> str:
    # The person service stores e-mail addresses lower-cased; compare them the same way.
    value = value.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise ValueError("is not an e-mail address")
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)"
        ) from None
    return value


Key = Annotated[str, AfterValidator(_key)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Name = Annotated[str, Field(max_length=200), AfterValidator(_text)]
Title = Annotated[str, Field(max_length=300), AfterValidator(_text)]
Measure = Annotated[str, Field(max_length=50)]
Number = Annotated[float, Field(allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# YAML gives dates as date objects; a quoted "2026-10-01" is accepted too.
Day = Annotated[dt.date, Field(strict=False)]

# The choices of the models (and of KRKind, Commitment), spelled out so that type checkers
# see them too, in the models' order (pydantic lists them so in its messages).
# CHOICES pairs each with its source; tests/plans/test_schema.py keeps them in step.
UnitKind = Literal["company", "division", "department", "team", "other"]
CapacityUnit = Literal["hours", "jobs"]
Role = Literal["leader", "member", "viewer"]
CycleKind = Literal["year", "quarter", "month", "two_weeks", "week", "custom"]
Level = Literal["company", "shared", "unit"]
State = Literal["draft", "published", "closed"]
KRKindName = Literal["increase", "decrease", "at_least", "at_most", "milestone"]
CommitmentName = Literal["committed", "aspirational"]
DependencyStateName = Literal[
    "requested", "accepted", "declined", "countered", "delivered", "missed", "cancelled"
]
CHOICES: list[tuple[Any, list[str]]] = [
    (UnitKind, Unit.Kind.values),
    (CapacityUnit, Unit.CapacityUnit.values),
    (Role, Membership.Role.values),
    (CycleKind, Cycle.Kind.values),
    (Level, Objective.Level.values),
    (State, Objective.State.values),
    (KRKindName, [k.value for k in KRKind]),
    (CommitmentName, [c.value for c in Commitment]),
    (DependencyStateName, [s.value for s in DependencyState]),
]


class Spec(BaseModel):
    """Unknown fields and loose types are errors: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", strict=True)


class OrganisationSpec(Spec):
    slug: Key
    name: Name
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    on_track_margin: Number = 0.1
    at_risk_margin: Number = 0.25


class UnitSpec(Spec):
    key: Key
    name: Name
    kind: UnitKind = "team"
    weekly_capacity: NonNegative | None = None
    capacity_unit: CapacityUnit = "hours"
    children: list[UnitSpec] = []


class MembershipSpec(Spec):
    unit: Key
    role: Role = "member"


class PersonSpec(Spec):
    email: Email
    name: Name
    is_org_admin: bool = False
    memberships: list[MembershipSpec] = []


class CycleSpec(Spec):
    key: Key
    name: Name
    kind: CycleKind
    start: Day
    end: Day
    children: list[CycleSpec] = []


class KPISpec(Spec):
    key: Key
    name: Name
    measure: Measure = ""
    healthy_min: Number | None = None
    healthy_max: Number | None = None
    owners: list[Key] = []


class LinkSpec(Spec):
    objective: Key
    weight: Positive = 1.0


class KeyResultSpec(Spec):
    key: Key
    title: Title
    kind: KRKindName
    start: Number | None = None
    target: Number | None = None
    measure: Measure = ""
    owner: Key | None = None
    owner_person: Email | None = None
    co_owners: list[Key] = []
    weight: Positive = 1.0
    due: Day | None = None
    commitment: CommitmentName = "committed"
    cadence_days: Annotated[int, Field(ge=1, le=32767)] = 7
    kpi: Key | None = None
    steps: list[Title] = []

    @model_validator(mode="after")
    def _derive_numbers(self) -> KeyResultSpec:
        # The service stores a milestone as start 0, target = number of steps (1 without
        # steps); filling them in here lets a plan leave them out and still compare equal.
        if self.kind == KRKind.MILESTONE:
            self.start = 0.0 if self.start is None else self.start
            self.target = float(len(self.steps) or 1) if self.target is None else self.target
        elif self.start is None:
            self.start = 0.0
        return self


class ObjectiveSpec(Spec):
    key: Key
    title: Title
    cycle: Key
    level: Level = "unit"
    owner: Key | None = None
    contributors: list[Key] = []
    state: State = "published"
    private: bool = False  # seen only by its units' people and admins
    description: str = ""
    contributes_to: list[LinkSpec] = []
    key_results: list[KeyResultSpec] = []
    # Peer units that endorsed the objective. Read by `check` only: reviews are a
    # conversation held in the app, so apply ignores this and export leaves it out.
    endorsed_by: list[Key] = []


class DependencySpec(Spec):
    """Unit `to` is asked for `title` by `needed_by`, for the requesting key result `from`."""

    key: Key
    title: Title
    description: str = ""
    from_: Key = Field(alias="from")  # `from` is a Python keyword
    to: Key
    delivered_by: Key | None = None
    needed_by: Day
    state: DependencyStateName = "requested"
    counter_date: Day | None = None
    effort: NonNegative = 0.0
    reason: Annotated[str, AfterValidator(str.strip)] = ""


# The list sections of a plan, in the order a plan file writes them.
SECTIONS: dict[str, type[Spec]] = {
    "units": UnitSpec,
    "people": PersonSpec,
    "cycles": CycleSpec,
    "kpis": KPISpec,
    "objectives": ObjectiveSpec,
    "dependencies": DependencySpec,
}


class Plan(Spec):
    """An organisation as plan data: what `plan_load` reads and `plan_from_db` gives."""

    organisation: OrganisationSpec
    units: list[UnitSpec] = []
    people: list[PersonSpec] = []
    cycles: list[CycleSpec] = []
    kpis: list[KPISpec] = []
    objectives: list[ObjectiveSpec] = []
    dependencies: list[DependencySpec] = []

    # Where the plan came from, so a problem found later (even at apply time) names the
    # line of the file or CSV row it comes from.
    _locator: Locator | None = PrivateAttr(default=None)

    def locate(self, path: Path) -> tuple[int | None, str]:
        """(line or None, readable path) of a position in this plan."""
        return (self._locator or plain_locator)(path)

    def with_locator(self, locator: Locator) -> Plan:
        """This plan, remembering how to name positions in its source."""
        self._locator = locator
        return self


# ---- walking a plan -------------------------------------------------------------------


def tree(
    nodes: Iterable[Any], path: Path, *, by_key: bool = False
) -> Iterator[tuple[Path, Any, Any]]:
    """(path, node, parent) for every node of a unit or cycle tree, parents first.

    With `by_key`, siblings come in key order; paths keep the positions in the plan.
    """

    def level(items: Iterable[Any], at: Path, parent: Any) -> list[tuple[Path, Any, Any]]:
        entries = [((*at, i), node, parent) for i, node in enumerate(items)]
        return sorted(entries, key=lambda e: e[1].key) if by_key else entries

    stack = level(nodes, path, None)[::-1]
    while stack:
        node_path, node, parent = stack.pop()
        yield node_path, node, parent
        stack.extend(level(node.children, (*node_path, "children"), node)[::-1])


def key_results(plan: Plan) -> Iterator[tuple[Path, KeyResultSpec, ObjectiveSpec]]:
    """(path, key result, its objective) for every key result of the plan."""
    for i, objective in enumerate(plan.objectives):
        for j, kr in enumerate(objective.key_results):
            yield ("objectives", i, "key_results", j), kr, objective
