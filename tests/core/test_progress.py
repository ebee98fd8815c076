"""Progress, pace, status and grade of key results (PRODUCT.md section 4), without a database."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lockstep.core.progress import (
    Commitment,
    Grade,
    KRKind,
    Margins,
    Status,
    clamp01,
    combined_status,
    expected_progress,
    grade,
    kr_progress,
    kr_status,
    success_threshold,
    target_is_valid,
)

INC, DEC, LEAST, MOST, MILE = (
    KRKind.INCREASE,
    KRKind.DECREASE,
    KRKind.AT_LEAST,
    KRKind.AT_MOST,
    KRKind.MILESTONE,
)
ON, RISK, OFF, DONE, NS = (
    Status.ON_TRACK,
    Status.AT_RISK,
    Status.OFF_TRACK,
    Status.DONE,
    Status.NOT_STARTED,
)

finite = st.floats(allow_nan=False, allow_infinity=False)
# Timing on a shared machine varies; the properties are about values, not speed.
relaxed = settings(deadline=None)


def below(x: float) -> float:
    """The largest float smaller than x: the first value that misses a boundary."""
    return math.nextafter(x, -math.inf)


# --- kr_progress -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "start", "target", "current", "expected"),
    [
        # increase: (v - s) / (t - s)
        pytest.param(INC, 0, 100, None, 0.0, id="increase-no-checkin-is-start"),
        pytest.param(INC, 0, 100, 0, 0.0, id="increase-at-start"),
        pytest.param(INC, 0, 100, 25, 0.25, id="increase-quarter"),
        pytest.param(INC, 10, 20, 15, 0.5, id="increase-offset-start"),
        pytest.param(INC, -10, 10, 0, 0.5, id="increase-negative-start"),
        pytest.param(INC, 0, 100, 100, 1.0, id="increase-at-target"),
        pytest.param(INC, 0, 100, 150, 1.0, id="increase-past-target-clamped"),
        pytest.param(INC, 0, 100, -10, 0.0, id="increase-below-start-clamped"),
        pytest.param(INC, 40, 60, None, 0.0, id="increase-none-means-start-not-zero"),
        # decrease: same formula, target below start
        pytest.param(DEC, 100, 0, None, 0.0, id="decrease-no-checkin"),
        pytest.param(DEC, 100, 0, 75, 0.25, id="decrease-quarter"),
        pytest.param(DEC, 50, 20, 35, 0.5, id="decrease-half"),
        pytest.param(DEC, 100, 0, 0, 1.0, id="decrease-at-target"),
        pytest.param(DEC, 100, 0, -5, 1.0, id="decrease-past-target-clamped"),
        pytest.param(DEC, 100, 0, 120, 0.0, id="decrease-worse-than-start-clamped"),
        # at_least: 1 if v >= t, else v / t (0 if t <= 0 and not met)
        pytest.param(LEAST, 0, 80, 80, 1.0, id="at_least-met-exactly"),
        pytest.param(LEAST, 0, 80, 100, 1.0, id="at_least-exceeded"),
        pytest.param(LEAST, 0, 80, 40, 0.5, id="at_least-half"),
        pytest.param(LEAST, 20, 80, None, 0.25, id="at_least-no-checkin-uses-start"),
        pytest.param(LEAST, 0, 80, -10, 0.0, id="at_least-negative-value-clamped"),
        pytest.param(LEAST, 0, 0, 0, 1.0, id="at_least-zero-target-met"),
        pytest.param(LEAST, 0, 0, -5, 0.0, id="at_least-zero-target-missed"),
        pytest.param(LEAST, 0, -10, -10, 1.0, id="at_least-negative-target-met"),
        pytest.param(LEAST, 0, -10, -5, 1.0, id="at_least-negative-target-exceeded"),
        pytest.param(LEAST, 0, -10, -20, 0.0, id="at_least-negative-target-missed"),
        # at_most: 1 if v <= t, else t / v
        pytest.param(MOST, 0, 5, 5, 1.0, id="at_most-met-exactly"),
        pytest.param(MOST, 0, 5, 3, 1.0, id="at_most-under"),
        pytest.param(MOST, 0, 5, 10, 0.5, id="at_most-double"),
        pytest.param(MOST, 0, 5, 20, 0.25, id="at_most-four-times"),
        pytest.param(MOST, 8, 5, None, 0.625, id="at_most-no-checkin-uses-start"),
        pytest.param(MOST, 0, 0, 4, 0.0, id="at_most-zero-target-over"),
        # t / v would be 2 here; the value is over the ceiling, so it is not met.
        pytest.param(MOST, 0, -10, -5, 0.0, id="at_most-negative-target-over"),
        pytest.param(MOST, 0, -10, -12, 1.0, id="at_most-negative-target-met"),
        # milestone without steps: start 0, target 1, current 0 or 1
        pytest.param(MILE, 0, 1, None, 0.0, id="milestone-not-checked-in"),
        pytest.param(MILE, 0, 1, 0, 0.0, id="milestone-not-done"),
        pytest.param(MILE, 0, 1, 1, 1.0, id="milestone-done"),
        # milestone with steps: target = number of steps, current = steps done
        pytest.param(MILE, 0, 4, None, 0.0, id="milestone-steps-none"),
        pytest.param(MILE, 0, 4, 1, 0.25, id="milestone-1-of-4"),
        pytest.param(MILE, 0, 4, 3, 0.75, id="milestone-3-of-4"),
        pytest.param(MILE, 0, 4, 4, 1.0, id="milestone-all-steps"),
        pytest.param(MILE, 0, 4, 5, 1.0, id="milestone-more-steps-clamped"),
        # degenerate targets (refused by target_is_valid) still give a number in [0, 1]
        pytest.param(INC, 5, 5, 5, 1.0, id="increase-start-equals-target-met"),
        pytest.param(INC, 5, 5, 4, 0.0, id="increase-start-equals-target-missed"),
        pytest.param(MILE, 0, 0, 0, 0.0, id="milestone-without-any-step"),
    ],
)
def test_kr_progress(
    kind: KRKind, start: float, target: float, current: float | None, expected: float
) -> None:
    assert kr_progress(kind, start, target, current) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kind", "start", "target", "current", "expected"),
    [
        # (v - s) and (t - s) both overflow to inf here; the answer must not be inf/inf = NaN.
        pytest.param(INC, -1e308, 1e308, 1e308, 1.0, id="huge-span-target-reached"),
        pytest.param(INC, -1e308, 1e308, 0.0, 0.5, id="huge-span-halfway"),
        pytest.param(DEC, 1e308, -1e308, 0.0, 0.5, id="huge-span-decrease-halfway"),
    ],
)
def test_kr_progress_survives_huge_finite_values(
    kind: KRKind, start: float, target: float, current: float, expected: float
) -> None:
    assert kr_progress(kind, start, target, current) == pytest.approx(expected)


def test_kr_progress_is_not_1_until_the_target_is_reached() -> None:
    # 1e17 - (-1) rounds to 1e17, so the plain formula says 1.0 (done) one unit short.
    progress = kr_progress(INC, -1e17, 0.0, -1.0)
    assert progress < 1.0
    assert kr_status(progress, 0.5, checked_in=True) is not DONE


def test_kr_progress_accepts_a_kind_read_as_plain_string() -> None:
    assert kr_progress("at_least", 0, 80, 40) == pytest.approx(0.5)  # type: ignore[arg-type]


def test_kr_progress_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown KR kind"):
        kr_progress("sideways", 0, 1, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        pytest.param(-0.5, 0.0, id="negative"),
        pytest.param(0.0, 0.0, id="zero"),
        pytest.param(0.3, 0.3, id="inside"),
        pytest.param(1.0, 1.0, id="one"),
        pytest.param(7.0, 1.0, id="above"),
        pytest.param(math.inf, 1.0, id="inf"),
        pytest.param(-math.inf, 0.0, id="minus-inf"),
        pytest.param(math.nan, 0.0, id="nan"),
    ],
)
def test_clamp01(x: float, expected: float) -> None:
    assert clamp01(x) == expected


# --- expected_progress (the pace line) ---------------------------------------------------

CYCLE_START = datetime(2025, 1, 1, tzinfo=UTC)
DUE = CYCLE_START + timedelta(days=10)


@pytest.mark.parametrize(
    ("at", "start", "due", "expected"),
    [
        pytest.param(CYCLE_START, CYCLE_START, DUE, 0.0, id="at-cycle-start"),
        pytest.param(CYCLE_START + timedelta(days=5), CYCLE_START, DUE, 0.5, id="halfway"),
        pytest.param(
            CYCLE_START + timedelta(days=2, hours=12), CYCLE_START, DUE, 0.25, id="quarter"
        ),
        pytest.param(CYCLE_START - timedelta(days=3), CYCLE_START, DUE, 0.0, id="before-start"),
        pytest.param(DUE, CYCLE_START, DUE, 1.0, id="at-due"),
        pytest.param(DUE + timedelta(days=30), CYCLE_START, DUE, 1.0, id="after-due-clamped"),
        pytest.param(DUE - timedelta(seconds=1), DUE, DUE, 0.0, id="zero-window-before"),
        pytest.param(DUE, DUE, DUE, 1.0, id="zero-window-at-due"),
        pytest.param(DUE + timedelta(seconds=1), DUE, DUE, 1.0, id="zero-window-after"),
        pytest.param(CYCLE_START, DUE, CYCLE_START, 1.0, id="due-before-start-at-due"),
        pytest.param(
            CYCLE_START - timedelta(days=1), DUE, CYCLE_START, 0.0, id="due-before-start-earlier"
        ),
    ],
)
def test_expected_progress(at: datetime, start: datetime, due: datetime, expected: float) -> None:
    assert expected_progress(at, start, due) == pytest.approx(expected)


# --- kr_status ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("progress", "expected", "checked_in", "status"),
    [
        pytest.param(0.5, 0.5, True, ON, id="on-the-pace-line"),
        pytest.param(0.9, 0.5, True, ON, id="ahead"),
        pytest.param(0.0, 0.0, True, ON, id="nothing-expected-yet"),
        pytest.param(0.5 - 0.10, 0.5, True, ON, id="exactly-on-track-margin-is-on-track"),
        pytest.param(below(0.5 - 0.10), 0.5, True, RISK, id="just-past-on-track-margin"),
        pytest.param(0.3, 0.5, True, RISK, id="inside-at-risk-band"),
        pytest.param(0.5 - 0.25, 0.5, True, RISK, id="exactly-at-risk-margin-is-at-risk"),
        pytest.param(below(0.5 - 0.25), 0.5, True, OFF, id="just-past-at-risk-margin"),
        pytest.param(0.0, 0.5, True, OFF, id="far-behind"),
        pytest.param(1.0, 0.5, True, DONE, id="done-at-progress-1"),
        pytest.param(1.0, 1.0, False, DONE, id="done-even-without-checkin"),
        pytest.param(below(1.0), 0.0, True, ON, id="almost-done-is-not-done"),
        pytest.param(0.0, 0.8, False, NS, id="not-checked-in-is-not-started"),
        pytest.param(0.6, 0.8, False, NS, id="not-checked-in-wins-over-pace"),
    ],
)
def test_kr_status_default_margins(
    progress: float, expected: float, checked_in: bool, status: Status
) -> None:
    assert kr_status(progress, expected, checked_in=checked_in) is status


def test_default_margins_are_the_product_defaults() -> None:
    assert Margins() == Margins(on_track=0.10, at_risk=0.25)


TIGHT = Margins(on_track=0.05, at_risk=0.15)
NO_SLACK = Margins(on_track=0.0, at_risk=0.0)
NO_RISK_BAND = Margins(on_track=0.2, at_risk=0.2)


@pytest.mark.parametrize(
    ("progress", "expected", "margins", "status"),
    [
        pytest.param(0.6 - 0.05, 0.6, TIGHT, ON, id="tight-on-track-boundary"),
        pytest.param(below(0.6 - 0.05), 0.6, TIGHT, RISK, id="tight-just-past-on-track"),
        pytest.param(0.6 - 0.15, 0.6, TIGHT, RISK, id="tight-at-risk-boundary"),
        pytest.param(below(0.6 - 0.15), 0.6, TIGHT, OFF, id="tight-just-past-at-risk"),
        # 0.40 is at_risk with the defaults (0.6 - 0.25 = 0.35): the margins matter.
        pytest.param(0.40, 0.6, TIGHT, OFF, id="tight-off-where-default-is-at-risk"),
        pytest.param(0.6, 0.6, NO_SLACK, ON, id="no-slack-on-the-line"),
        pytest.param(below(0.6), 0.6, NO_SLACK, OFF, id="no-slack-any-lag-is-off"),
        pytest.param(0.6 - 0.2, 0.6, NO_RISK_BAND, ON, id="no-risk-band-boundary"),
        pytest.param(below(0.6 - 0.2), 0.6, NO_RISK_BAND, OFF, id="no-risk-band-skips-at-risk"),
    ],
)
def test_kr_status_custom_margins(
    progress: float, expected: float, margins: Margins, status: Status
) -> None:
    assert kr_status(progress, expected, checked_in=True, margins=margins) is status


@pytest.mark.parametrize(
    ("on_track", "at_risk"),
    [
        pytest.param(0.3, 0.2, id="on-track-wider-than-at-risk"),
        pytest.param(-0.1, 0.2, id="negative-on-track"),
        pytest.param(0.1, 1.5, id="at-risk-above-1"),
        pytest.param(math.nan, 0.2, id="nan"),
    ],
)
def test_margins_refuse_bad_ordering(on_track: float, at_risk: float) -> None:
    with pytest.raises(ValueError, match="margins"):
        Margins(on_track=on_track, at_risk=at_risk)


@pytest.mark.parametrize(
    ("on_track", "at_risk"),
    [
        pytest.param(0.0, 0.0, id="both-zero"),
        pytest.param(0.2, 0.2, id="equal"),
        pytest.param(0.0, 1.0, id="widest"),
    ],
)
def test_margins_accept_good_ordering(on_track: float, at_risk: float) -> None:
    margins = Margins(on_track=on_track, at_risk=at_risk)
    assert (margins.on_track, margins.at_risk) == (on_track, at_risk)


# --- combined_status ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param([], NS, id="empty"),
        pytest.param([ON], ON, id="one-on-track"),
        pytest.param([ON, RISK], RISK, id="at-risk-beats-on-track"),
        pytest.param([RISK, OFF, ON], OFF, id="off-track-is-worst"),
        pytest.param([DONE, RISK], RISK, id="done-aside"),
        pytest.param([NS, ON], ON, id="not-started-aside"),
        pytest.param([NS, DONE, OFF], OFF, id="both-aside"),
        pytest.param([DONE, DONE], DONE, id="all-done"),
        pytest.param([NS, NS], NS, id="none-begun"),
        pytest.param([DONE, NS], ON, id="done-and-not-started-is-on-track"),
    ],
)
def test_combined_status(statuses: list[Status], expected: Status) -> None:
    assert combined_status(statuses) is expected


def test_combined_status_accepts_a_one_shot_iterable() -> None:
    assert combined_status(iter([DONE, DONE])) is DONE


# --- grade, success threshold, target validity -------------------------------------------


@pytest.mark.parametrize(
    ("final", "colour"),
    [
        pytest.param(0.0, Grade.RED, id="zero"),
        pytest.param(0.39, Grade.RED, id="0.39"),
        pytest.param(below(0.4), Grade.RED, id="just-below-0.4"),
        pytest.param(0.4, Grade.YELLOW, id="0.4"),
        pytest.param(0.69, Grade.YELLOW, id="0.69"),
        pytest.param(below(0.7), Grade.YELLOW, id="just-below-0.7"),
        pytest.param(0.7, Grade.GREEN, id="0.7"),
        pytest.param(1.0, Grade.GREEN, id="one"),
        pytest.param(-0.2, Grade.RED, id="below-range-clamped"),
        pytest.param(1.3, Grade.GREEN, id="above-range-clamped"),
        pytest.param(math.nan, Grade.RED, id="nan"),
    ],
)
def test_grade(final: float, colour: Grade) -> None:
    assert grade(final) is colour


@pytest.mark.parametrize(
    ("commitment", "threshold"),
    [
        pytest.param(Commitment.COMMITTED, 1.0, id="committed"),
        pytest.param(Commitment.ASPIRATIONAL, 0.7, id="aspirational"),
        # A commitment read from the database is a plain string.
        pytest.param("committed", 1.0, id="committed-as-string"),
        pytest.param("aspirational", 0.7, id="aspirational-as-string"),
    ],
)
def test_success_threshold(commitment: Commitment, threshold: float) -> None:
    assert success_threshold(commitment) == threshold


@pytest.mark.parametrize(
    ("kind", "start", "target", "valid"),
    [
        pytest.param(INC, 0, 100, True, id="increase-up"),
        pytest.param(INC, 100, 0, False, id="increase-down"),
        pytest.param(INC, 5, 5, False, id="increase-flat"),
        pytest.param(DEC, 100, 0, True, id="decrease-down"),
        pytest.param(DEC, 0, 100, False, id="decrease-up"),
        pytest.param(DEC, 5, 5, False, id="decrease-flat"),
        pytest.param(MILE, 0, 1, True, id="milestone-single"),
        pytest.param(MILE, 0, 4, True, id="milestone-steps"),
        pytest.param(MILE, 0, 0, False, id="milestone-no-step"),
        pytest.param(MILE, 0, -1, False, id="milestone-negative"),
        pytest.param(MILE, 1, 4, False, id="milestone-not-from-zero"),
        pytest.param(LEAST, 0, 80, True, id="at_least"),
        pytest.param(LEAST, 5, -3, True, id="at_least-any-target"),
        pytest.param(MOST, 0, 0, True, id="at_most-zero"),
        pytest.param(MOST, 9, 5, True, id="at_most-any"),
        pytest.param("increase", 100, 0, False, id="kind-as-plain-string"),
    ],
)
def test_target_is_valid(kind: KRKind, start: float, target: float, valid: bool) -> None:
    assert target_is_valid(kind, start, target) is valid


# --- properties --------------------------------------------------------------------------


@relaxed
@given(
    kind=st.sampled_from(KRKind),
    start=finite,
    target=finite,
    current=st.none() | finite,
)
def test_progress_is_always_within_0_and_1(
    kind: KRKind, start: float, target: float, current: float | None
) -> None:
    assert 0.0 <= kr_progress(kind, start, target, current) <= 1.0


@relaxed
@given(start=finite, target=finite, a=finite, b=finite)
def test_increase_is_monotonic_in_current(start: float, target: float, a: float, b: float) -> None:
    start, target = sorted((start, target))
    lo, hi = sorted((a, b))
    assume(start != target)
    assert kr_progress(INC, start, target, lo) <= kr_progress(INC, start, target, hi)


@relaxed
@given(start=finite, target=finite, a=finite, b=finite)
def test_decrease_is_monotonic_non_increasing_in_current(
    start: float, target: float, a: float, b: float
) -> None:
    target, start = sorted((start, target))
    lo, hi = sorted((a, b))
    assume(start != target)
    assert kr_progress(DEC, start, target, lo) >= kr_progress(DEC, start, target, hi)


@relaxed
@given(start=finite, target=finite, current=finite)
def test_increase_and_decrease_reach_1_exactly_at_the_target(
    start: float, target: float, current: float
) -> None:
    assume(start != target)
    kind = INC if target > start else DEC
    reached = current >= target if kind is INC else current <= target
    assert (kr_progress(kind, start, target, current) == 1.0) is reached


@relaxed
@given(start=finite, target=finite, current=finite)
def test_at_least_is_1_exactly_when_met(start: float, target: float, current: float) -> None:
    assert (kr_progress(LEAST, start, target, current) == 1.0) is (current >= target)


@relaxed
@given(start=finite, target=finite, current=finite)
def test_at_most_is_1_exactly_when_met(start: float, target: float, current: float) -> None:
    assert (kr_progress(MOST, start, target, current) == 1.0) is (current <= target)


@relaxed
@given(steps=st.integers(min_value=1, max_value=1000), data=st.data())
def test_milestone_progress_is_steps_done_over_steps(steps: int, data: st.DataObject) -> None:
    done = data.draw(st.integers(min_value=0, max_value=steps))
    assert kr_progress(MILE, 0, steps, done) == pytest.approx(done / steps)


times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))


@relaxed
@given(start=times, due=times, a=times, b=times)
def test_expected_progress_is_monotonic_in_time_and_clamped(
    start: datetime, due: datetime, a: datetime, b: datetime
) -> None:
    early, late = sorted((a, b))
    e_early = expected_progress(early, start, due)
    e_late = expected_progress(late, start, due)
    assert 0.0 <= e_early <= e_late <= 1.0


unit_floats = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def margins(draw: st.DrawFn) -> Margins:
    on_track, at_risk = sorted((draw(unit_floats), draw(unit_floats)))
    return Margins(on_track=on_track, at_risk=at_risk)


@relaxed
@given(
    progress=st.floats(max_value=1.0, exclude_max=True, allow_nan=False),
    expected=unit_floats,
    checked_in=st.booleans(),
    m=margins(),
)
def test_kr_status_is_never_done_below_progress_1(
    progress: float, expected: float, checked_in: bool, m: Margins
) -> None:
    assert kr_status(progress, expected, checked_in=checked_in, margins=m) is not DONE


# Best first: more progress must never give a worse status.
_RANK = {DONE: 0, ON: 1, RISK: 2, OFF: 3, NS: 4}


@relaxed
@given(a=unit_floats, b=unit_floats, expected=unit_floats, checked_in=st.booleans(), m=margins())
def test_more_progress_never_gives_a_worse_status(
    a: float, b: float, expected: float, checked_in: bool, m: Margins
) -> None:
    lo, hi = sorted((a, b))
    s_lo = kr_status(lo, expected, checked_in=checked_in, margins=m)
    s_hi = kr_status(hi, expected, checked_in=checked_in, margins=m)
    assert _RANK[s_hi] <= _RANK[s_lo]


@relaxed
@given(statuses=st.lists(st.sampled_from(Status)), data=st.data())
def test_combined_status_ignores_order_and_takes_the_worst(
    statuses: list[Status], data: st.DataObject
) -> None:
    result = combined_status(statuses)
    assert combined_status(data.draw(st.permutations(statuses))) is result
    ranked = [s for s in statuses if s in (ON, RISK, OFF)]
    if ranked:
        assert result is max(ranked, key=[ON, RISK, OFF].index)
