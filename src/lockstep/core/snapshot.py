"""The plain-data picture of an organisation that the alignment engine analyses.

Built from the database (alignment/selectors.py) or from a YAML plan file (plans/), so
the same engine checks a live organisation and a plan under review. Ids are opaque ints;
items that can depend on each other are named by `Ref` ("kr", 7), ("initiative", 3),
("dependency", 12), ("objective", 4), ("unit", 2), ("kpi", 1).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from lockstep.core.progress import Commitment, KRKind, Margins

Ref = tuple[str, int]

# The rows below are treated as immutable but not declared frozen: a frozen dataclass
# sets each field through object.__setattr__, about ten times slower to build, and a
# 350,000-KR snapshot builds over a million rows (2-3 s of the full analysis).


class DependencyState(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COUNTERED = "countered"
    DELIVERED = "delivered"
    MISSED = "missed"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class UnitSnap:
    id: int
    key: str
    name: str
    parent_id: int | None = None
    weekly_capacity: float | None = None
    capacity_unit: str = "hours"


@dataclass(slots=True)
class CycleSnap:
    id: int
    key: str
    start: dt.date
    end: dt.date


@dataclass(slots=True)
class ObjectiveSnap:
    id: int
    key: str
    title: str
    cycle_id: int
    level: str  # company | shared | unit
    owner_unit_id: int | None = None
    contributor_ids: tuple[int, ...] = ()
    state: str = "published"  # draft | published | closed
    parents: tuple[tuple[int, float], ...] = ()  # (parent objective id, link weight)


@dataclass(slots=True)
class CheckInSums:
    """Running sums of a KR's check-ins, t in days since its cycle start, for least squares."""

    n: int = 0
    st: float = 0.0
    sv: float = 0.0
    stt: float = 0.0
    stv: float = 0.0


@dataclass(slots=True)
class KRSnap:
    id: int
    key: str
    title: str
    objective_id: int
    kind: KRKind
    start: float
    target: float
    due: dt.date  # effective: its own due date or the cycle end
    weight: float = 1.0
    commitment: Commitment = Commitment.COMMITTED
    owner_unit_id: int | None = None
    co_owner_ids: tuple[int, ...] = ()
    cadence_days: int = 7
    kpi_id: int | None = None
    current_value: float | None = None
    last_checkin_at: dt.datetime | None = None
    last_confidence: int | None = None
    sums: CheckInSums = field(default_factory=CheckInSums)


@dataclass(slots=True)
class InitiativeSnap:
    id: int
    title: str
    owner_unit_id: int
    kr_ids: tuple[int, ...] = ()
    state: str = "planned"  # planned | in_progress | blocked | done | cancelled
    due: dt.date | None = None


@dataclass(slots=True)
class DependencySnap:
    """Unit `requester` needs `title` from unit `provider` by `needed_by`."""

    id: int
    title: str
    requester_unit_id: int
    provider_unit_id: int
    needed_by: dt.date
    state: DependencyState
    requested_at: dt.datetime
    requester_item: Ref | None = None  # ("kr" | "initiative", id) of the requesting unit
    provider_item: Ref | None = None  # ("kr" | "initiative", id) that delivers it, once accepted
    effort: float = 0.0  # load on the provider's weekly capacity, in its capacity unit
    answered_at: dt.datetime | None = None


@dataclass(slots=True)
class KPISnap:
    id: int
    key: str
    name: str
    owner_unit_ids: tuple[int, ...] = ()


@dataclass(slots=True)
class Endorsement:
    """A peer unit's answer to a draft objective's review: endorsed or not (yet)."""

    objective_id: int
    unit_id: int
    endorsed: bool


@dataclass(frozen=True)
class Thresholds:
    """Organisation settings the findings use; defaults follow PRODUCT.md section 5."""

    margins: Margins = field(default_factory=Margins)
    answer_window_days: int = 5
    max_objectives_per_unit: int = 5
    max_krs_per_objective: int = 5
    low_confidence: int = 3
    single_point_min_units: int = 3
    task_share: float = 0.5


@dataclass(frozen=True)
class Snapshot:
    now: dt.datetime
    tz: dt.tzinfo = dt.UTC
    thresholds: Thresholds = field(default_factory=Thresholds)
    units: tuple[UnitSnap, ...] = ()
    cycles: tuple[CycleSnap, ...] = ()
    objectives: tuple[ObjectiveSnap, ...] = ()
    krs: tuple[KRSnap, ...] = ()
    initiatives: tuple[InitiativeSnap, ...] = ()
    dependencies: tuple[DependencySnap, ...] = ()
    kpis: tuple[KPISnap, ...] = ()
    endorsements: tuple[Endorsement, ...] = ()


# Objects allocated while paused past which they go to the permanent generation on resume.
FREEZE_FROM = 100_000


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a snapshot or its findings are built.

    Building a 350,000-KR snapshot allocates millions of small acyclic objects; each
    allocation burst triggers collections that re-scan the whole, growing heap, which cost
    a third of the analysis time. Reference counting still frees everything as usual. On
    resuming after a large batch, everything tracked moves to the permanent generation
    (`gc.freeze`), or the first collection would walk the million rows just built (~1 s
    at 350,000 KRs) although none of them is garbage; reference counting frees frozen
    objects like any other. The price: a cycle that was already garbage at that moment is
    never collected, so small pauses (a check-in's partial snapshot) do not freeze.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_count()[0] > FREEZE_FROM:
            gc.freeze()
        gc.enable()
