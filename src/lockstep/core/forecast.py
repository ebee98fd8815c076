"""Forecast of a key result: a least-squares line through its check-ins (PRODUCT.md section 4).

Each check-in is a point (t, value), t in days since the KR's cycle start. The straight
line that minimises the squared distances to those points is fixed by five running sums
(n, Σt, Σv, Σt², Σtv), so recording a check-in updates a KR in constant time and a
forecast never rereads the history: analysis cost grows with the number of KRs, not of
check-ins.

With one check-in there is no trend to fit, so the line runs from the start value at the
cycle start (t = 0) through that check-in; a check-in made at t = 0 gives no direction and
the value stays flat. When every check-in shares one t the slope is undefined and the
forecast is their mean. The line, projected to the due date, is turned into progress by
the same formulas as the current value (`progress.kr_progress`).
"""

from __future__ import annotations

import datetime as dt

from lockstep.core.progress import Commitment, KRKind, kr_progress, success_threshold
from lockstep.core.snapshot import CheckInSums

_SECONDS_PER_DAY = 86_400.0

# n·Σt² - (Σt)² is n² times the variance of t. Rounding in the sums leaves an error of a few
# ulps of n·Σt²; below this share of it the check-ins count as made at one moment.
_SAME_MOMENT = 1e-10


def sums_add(sums: CheckInSums, t_days: float, value: float) -> CheckInSums:
    """The running sums with one more check-in of `value` at `t_days` since the cycle start."""
    return CheckInSums(
        n=sums.n + 1,
        st=sums.st + t_days,
        sv=sums.sv + value,
        stt=sums.stt + t_days * t_days,
        stv=sums.stv + t_days * value,
    )


def forecast_value(sums: CheckInSums, *, start_value: float, due_t: float) -> float | None:
    """The value the check-in trend line reaches at `due_t` days; None without a check-in."""
    n = sums.n
    if n <= 0:
        return None
    if n == 1:
        t, v = sums.st, sums.sv
        if t == 0:
            return v
        return start_value + (v - start_value) * (due_t / t)
    spread = n * sums.stt - sums.st * sums.st
    mean_t, mean_v = sums.st / n, sums.sv / n
    if spread <= _SAME_MOMENT * n * sums.stt:
        return mean_v
    slope = (n * sums.stv - sums.st * sums.sv) / spread
    # Through the centre of mass rather than from the intercept: the same line, but the
    # value near the check-ins does not hang on a far extrapolation back to t = 0.
    return mean_v + slope * (due_t - mean_t)


def forecast_progress(
    kind: KRKind, start: float, target: float, sums: CheckInSums, due_t: float
) -> float | None:
    """Progress the KR would show at its due date if the trend holds; None without a check-in."""
    value = forecast_value(sums, start_value=start, due_t=due_t)
    if value is None:
        return None
    return kr_progress(kind, start, target, value)


def likely_miss(forecast_progress: float | None, commitment: Commitment) -> bool:
    """Whether the forecast falls short of success (committed 1.0, aspirational 0.7)."""
    if forecast_progress is None:
        return False
    return forecast_progress < success_threshold(commitment)


def checkin_overdue(elapsed: dt.timedelta, cadence_days: int) -> bool:
    """A KR's check-in is overdue once more than its cadence has passed since the last one
    (or, before the first, since its cycle began): the STALE_CHECKIN finding and My week
    both ask this."""
    return elapsed > dt.timedelta(days=cadence_days)


def cycle_origin(cycle_start: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Midnight at the start of the cycle's first day in `tz`: t = 0 of the forecast."""
    return dt.datetime.combine(cycle_start, dt.time(), tzinfo=tz)


def days_since(moment: dt.datetime, cycle_start: dt.date, tz: dt.tzinfo) -> float:
    """Elapsed days from midnight of `cycle_start` in `tz` to `moment` (naive: read in `tz`)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    # Both sides in UTC: Python subtracts two datetimes sharing one tzinfo as wall-clock
    # times, which would make a day across a daylight-saving change 24 hours long.
    elapsed = moment.astimezone(dt.UTC) - cycle_origin(cycle_start, tz).astimezone(dt.UTC)
    return elapsed.total_seconds() / _SECONDS_PER_DAY
