"""The least-squares forecast of a key result (PRODUCT.md section 4), without a database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import reduce
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.core.forecast import (
    days_since,
    forecast_progress,
    forecast_value,
    likely_miss,
    sums_add,
)
from lockstep.core.progress import Commitment, KRKind
from lockstep.core.snapshot import CheckInSums

relaxed = settings(deadline=None)
BERLIN = ZoneInfo("Europe/Berlin")


def sums_of(points: Iterable[tuple[float, float]]) -> CheckInSums:
    return reduce(lambda s, p: sums_add(s, *p), points, CheckInSums())


# --- sums_add ------------------------------------------------------------------------------


def test_sums_add_keeps_the_five_running_sums() -> None:
    sums = sums_of([(2, 10), (3, 20)])
    assert sums == CheckInSums(n=2, st=5, sv=30, stt=4 + 9, stv=20 + 60)


# --- forecast_value ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "start", "due_t", "expected"),
    [
        pytest.param([], 0, 30, None, id="no-checkin"),
        # The line from (0, 0) through (10, 20): slope 2, at 30 -> 60.
        pytest.param([(10, 20)], 0, 30, 60.0, id="one-checkin-line-from-start"),
        # From (0, 100) through (5, 90): slope -2, at 20 -> 60.
        pytest.param([(5, 90)], 100, 20, 60.0, id="one-checkin-falling"),
        # A check-in at t = 0 gives no direction: the value stays flat.
        pytest.param([(0, 5)], 0, 30, 5.0, id="one-checkin-at-t0-flat"),
        # (10, 10) and (20, 30): slope 2, at 30 -> 50; the start value plays no part.
        pytest.param([(10, 10), (20, 30)], 999, 30, 50.0, id="two-checkins"),
        # n=4, St=6, Sv=11, Stt=14, Stv=22: slope (88-66)/(56-36) = 1.1,
        # through the centre (1.5, 2.75): at 4 -> 2.75 + 1.1 * 2.5 = 5.5.
        pytest.param([(0, 1), (1, 3), (2, 2), (3, 5)], 0, 4, 5.5, id="several-least-squares"),
        pytest.param([(5, 7), (10, 7), (12, 7)], 0, 40, 7.0, id="flat-values"),
        # Every check-in at one moment: no slope, the mean.
        pytest.param([(5, 4), (5, 8)], 0, 30, 6.0, id="same-moment-mean"),
        pytest.param([(0, 4), (0, 8), (0, 9)], 0, 30, 7.0, id="all-at-t0-mean"),
        # Due before the check-ins: the line runs backwards too.
        pytest.param([(10, 10), (20, 30)], 0, 5, 0.0, id="projected-backwards"),
    ],
)
def test_forecast_value(
    points: list[tuple[float, float]], start: float, due_t: float, expected: float | None
) -> None:
    got = forecast_value(sums_of(points), start_value=start, due_t=due_t)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@relaxed
@given(
    a=st.floats(-1e4, 1e4),
    b=st.floats(-1e3, 1e3),
    days=st.lists(st.integers(0, 365), min_size=1, max_size=30),
    due=st.integers(0, 400),
)
def test_points_on_a_line_forecast_that_line(a: float, b: float, days: list[int], due: int) -> None:
    points = [(float(t), a + b * t) for t in days]
    sums = sums_of(points)
    got = forecast_value(sums, start_value=a, due_t=due)
    if len(set(days)) == 1 and (len(days) > 1 or days[0] == 0):
        want = a + b * days[0]  # one moment: no slope to follow, the value stays
    else:
        want = a + b * due
    assert got == pytest.approx(want, rel=1e-6, abs=1e-6 * (1 + abs(a) + abs(b) * 400))


# --- forecast_progress and likely_miss -----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "start", "target", "points", "due_t", "expected"),
    [
        pytest.param(KRKind.INCREASE, 0, 100, [], 30, None, id="no-checkin"),
        # Forecast value 60 of 0 -> 100.
        pytest.param(KRKind.INCREASE, 0, 100, [(10, 20)], 30, 0.6, id="increase"),
        # 4.2 -> 2.0 s; (10, 3.7), (20, 3.2): -0.05/day, at 30 -> 2.7; (4.2-2.7)/2.2.
        pytest.param(
            KRKind.DECREASE, 4.2, 2.0, [(10, 3.7), (20, 3.2)], 30, 1.5 / 2.2, id="decrease"
        ),
        pytest.param(KRKind.INCREASE, 0, 100, [(10, 50)], 30, 1.0, id="clamped-at-one"),
        pytest.param(KRKind.INCREASE, 50, 100, [(10, 40)], 30, 0.0, id="clamped-at-zero"),
        # at_least 95: forecast 90 (flat) -> 90/95.
        pytest.param(KRKind.AT_LEAST, 0, 95, [(3, 90), (6, 90)], 14, 90 / 95, id="at-least"),
        # Milestone of 4 steps: 1 step by day 7 -> 4 steps by day 28.
        pytest.param(KRKind.MILESTONE, 0, 4, [(7, 1)], 28, 1.0, id="milestone-steps"),
    ],
)
def test_forecast_progress(
    kind: KRKind,
    start: float,
    target: float,
    points: list[tuple[float, float]],
    due_t: float,
    expected: float | None,
) -> None:
    got = forecast_progress(kind, start, target, sums_of(points), due_t)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("forecast", "commitment", "expected"),
    [
        (None, Commitment.COMMITTED, False),
        (None, Commitment.ASPIRATIONAL, False),
        (1.0, Commitment.COMMITTED, False),
        (0.99, Commitment.COMMITTED, True),
        (0.7, Commitment.ASPIRATIONAL, False),
        (0.69, Commitment.ASPIRATIONAL, True),
        (0.8, Commitment.COMMITTED, True),
        (0.8, Commitment.ASPIRATIONAL, False),
    ],
)
def test_likely_miss(forecast: float | None, commitment: Commitment, expected: bool) -> None:
    assert likely_miss(forecast, commitment) is expected


# --- days_since ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "tz", "expected"),
    [
        pytest.param(dt.datetime(2026, 10, 1, tzinfo=dt.UTC), dt.UTC, 0.0, id="midnight-is-0"),
        pytest.param(dt.datetime(2026, 10, 2, 12, tzinfo=dt.UTC), dt.UTC, 1.5, id="noon-next"),
        pytest.param(dt.datetime(2026, 9, 30, 18, tzinfo=dt.UTC), dt.UTC, -0.25, id="before"),
        # Midnight in Berlin (summer time, UTC+2) is 22:00 UTC the day before.
        pytest.param(dt.datetime(2026, 9, 30, 22, tzinfo=dt.UTC), BERLIN, 0.0, id="zone"),
        # Summer time ends on 25 October: 31 calendar days hold 31 days and one hour.
        pytest.param(dt.datetime(2026, 11, 1, tzinfo=BERLIN), BERLIN, 31 + 1 / 24, id="dst"),
        # A naive moment is read in the zone.
        pytest.param(dt.datetime(2026, 10, 1, 6), BERLIN, 0.25, id="naive-in-zone"),
    ],
)
def test_days_since(moment: dt.datetime, tz: dt.tzinfo, expected: float) -> None:
    assert days_since(moment, dt.date(2026, 10, 1), tz) == pytest.approx(expected)
