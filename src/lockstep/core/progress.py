"""Progress, pace, status and grade of key results (PRODUCT.md section 4).

Every function here is pure: plain numbers and datetimes in, plain numbers or enums out,
so the rules can be checked by table tests and hypothesis properties without a database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class KRKind(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    AT_LEAST = "at_least"
    AT_MOST = "at_most"
    MILESTONE = "milestone"


class Commitment(StrEnum):
    COMMITTED = "committed"
    ASPIRATIONAL = "aspirational"


class Status(StrEnum):
    NOT_STARTED = "not_started"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    DONE = "done"


class Grade(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"


# Worse statuses sort later; an objective takes the worst of its KRs.
_SEVERITY = {Status.ON_TRACK: 0, Status.AT_RISK: 1, Status.OFF_TRACK: 2}

_JUST_BELOW_ONE = math.nextafter(1.0, 0.0)


@dataclass(frozen=True)
class Margins:
    """How far below the pace line a KR may fall and still be on track / at risk."""

    on_track: float = 0.10
    at_risk: float = 0.25

    def __post_init__(self) -> None:
        if not (0 <= self.on_track <= self.at_risk <= 1):
            raise ValueError("margins must satisfy 0 <= on_track <= at_risk <= 1")


def clamp01(x: float) -> float:
    """Clamp a number to [0, 1]; NaN becomes 0."""
    if math.isnan(x):
        return 0.0
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def target_is_valid(kind: KRKind, start: float, target: float) -> bool:
    """Whether start and target define a measurable KR of this kind."""
    # `==` rather than `is`: a kind read from the database is a plain string.
    if kind == KRKind.INCREASE:
        return target > start
    if kind == KRKind.DECREASE:
        return target < start
    if kind == KRKind.MILESTONE:
        return target > 0 and start == 0
    return True


def kr_progress(kind: KRKind, start: float, target: float, current: float | None) -> float:
    """Progress of a KR in [0, 1]; `current` is the last check-in value, None before any.

    A milestone stores steps as numbers: start 0, target = number of steps (1 without
    steps), current = steps done, so "done" and "steps done / steps" share one formula.
    """
    v = start if current is None else current
    if kind in (KRKind.INCREASE, KRKind.DECREASE, KRKind.MILESTONE):
        if target == start:
            return 1.0 if kind != KRKind.MILESTONE and v == target else 0.0
        return _share_of_way(start, target, v)
    if kind == KRKind.AT_LEAST:
        if v >= target:
            return 1.0
        if target <= 0:
            return 0.0
        return clamp01(v / target)
    if kind == KRKind.AT_MOST:
        if v <= target:
            return 1.0
        # v > target here; with target >= 0 this is the share of the way the value is over.
        return clamp01(target / v) if v > 0 else 0.0
    raise ValueError(f"unknown KR kind {kind!r}")


def _share_of_way(start: float, target: float, v: float) -> float:
    """(v - start) / (target - start) in [0, 1], and 1 only once the target is reached."""
    reached = v >= target if target > start else v <= target
    if reached:
        return 1.0
    done, span = v - start, target - start
    if math.isinf(span):
        # Huge but finite ends would give inf / inf = NaN; halved, the differences fit.
        done, span = v / 2 - start / 2, target / 2 - start / 2
    share = clamp01(done / span)
    # Rounding can carry a value just short of a far-off target to 1.0, which would
    # report the KR done; progress 1 must mean the target is reached.
    return min(share, _JUST_BELOW_ONE)


def expected_progress(at: datetime, cycle_start: datetime, due: datetime) -> float:
    """The pace line: share of the time from cycle start to due date elapsed at `at`."""
    total = (due - cycle_start).total_seconds()
    if total <= 0:
        return 1.0 if at >= due else 0.0
    return clamp01((at - cycle_start).total_seconds() / total)


def kr_status(
    progress: float, expected: float, *, checked_in: bool, margins: Margins = Margins()
) -> Status:
    """Status of a KR from its progress against the pace line."""
    if progress >= 1.0:
        return Status.DONE
    if not checked_in:
        return Status.NOT_STARTED
    if progress >= expected - margins.on_track:
        return Status.ON_TRACK
    if progress >= expected - margins.at_risk:
        return Status.AT_RISK
    return Status.OFF_TRACK


def combined_status(statuses: Iterable[Status]) -> Status:
    """Status of an objective: the worst status among its KRs and child objectives.

    done and not_started are set aside when ranking. When nothing is left: all done gives
    done, nothing begun gives not_started, and a mix of done and not yet begun counts as
    on track (work has been delivered and nothing is measured as behind).
    """
    seen = list(statuses)
    ranked = [s for s in seen if s in _SEVERITY]
    if ranked:
        return max(ranked, key=_SEVERITY.__getitem__)
    if seen and all(s is Status.DONE for s in seen):
        return Status.DONE
    if any(s is Status.DONE for s in seen):
        return Status.ON_TRACK
    return Status.NOT_STARTED


def grade(final_progress: float) -> Grade:
    """Colour of a cycle-end grade: red below 0.4, yellow below 0.7, green from 0.7."""
    p = clamp01(final_progress)
    if p < 0.4:
        return Grade.RED
    if p < 0.7:
        return Grade.YELLOW
    return Grade.GREEN


def success_threshold(commitment: Commitment) -> float:
    """Progress that counts as success: 1.0 when committed, 0.7 when aspirational."""
    return 1.0 if commitment == Commitment.COMMITTED else 0.7
