"""Progress, status and forecast of many key results at once, column by column (NumPy).

The same numbers as `progress.kr_progress`, `progress.kr_status`, `forecast.forecast_value`
and `forecast.likely_miss`, which stay the reference for one KR: a full analysis assesses
every KR of the organisation (350,000 in the enterprise profile), and one Python call
chain per KR cost about 3 s of it. Here each rule is one array expression over all KRs,
with the same floating-point operations in the same order, so the results are equal to
the scalar ones bit for bit (tests/core/test_assess.py checks that on random input).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lockstep.core.progress import _JUST_BELOW_ONE, KRKind, Margins, Status

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int8]

# Kind codes for the `kind` column.
KIND_CODES: dict[str, int] = {k.value: i for i, k in enumerate(KRKind)}
_INCREASE, _DECREASE, _AT_LEAST, _AT_MOST, _MILESTONE = (
    KIND_CODES[k] for k in ("increase", "decrease", "at_least", "at_most", "milestone")
)
# Status codes of `statuses`, in the order of this tuple.
STATUSES = (Status.NOT_STARTED, Status.ON_TRACK, Status.AT_RISK, Status.OFF_TRACK, Status.DONE)
_NOT_STARTED, _ON_TRACK, _AT_RISK, _OFF_TRACK, _DONE = range(5)

# As in forecast.py: below this share of n·Σt² the check-ins count as made at one moment.
_SAME_MOMENT = 1e-10


def _clamp01(x: Floats) -> Floats:
    out = np.where(x < 0, 0.0, np.where(x > 1, 1.0, x))
    return np.where(np.isnan(x), 0.0, out)


def progress_many(
    kind: Ints, start: Floats, target: Floats, value: Floats, missing: Bools | None = None
) -> Floats:
    """`kr_progress` of every KR; where `missing` (no check-in yet) the start value counts."""
    with np.errstate(all="ignore"):
        v = value if missing is None else np.where(missing, start, value)
        out = np.zeros(len(kind))
        way = (kind == _INCREASE) | (kind == _DECREASE) | (kind == _MILESTONE)
        flat = way & (target == start)
        out[flat] = np.where((kind[flat] != _MILESTONE) & (v[flat] == target[flat]), 1.0, 0.0)

        w = way & ~flat
        s, t, x = start[w], target[w], v[w]
        reached = np.where(t > s, x >= t, x <= t)
        done, span = x - s, t - s
        huge = np.isinf(span)
        done = np.where(huge, x / 2 - s / 2, done)
        span = np.where(huge, t / 2 - s / 2, span)
        share = np.minimum(_clamp01(done / span), _JUST_BELOW_ONE)
        out[w] = np.where(reached, 1.0, share)

        least = kind == _AT_LEAST
        t, x = target[least], v[least]
        out[least] = np.where(x >= t, 1.0, np.where(t <= 0, 0.0, _clamp01(x / t)))

        most = kind == _AT_MOST
        t, x = target[most], v[most]
        out[most] = np.where(x <= t, 1.0, np.where(x > 0, _clamp01(t / x), 0.0))
    return out


def forecast_many(
    n: Floats, st: Floats, sv: Floats, stt: Floats, stv: Floats, start: Floats, due_t: Floats
) -> Floats:
    """`forecast_value` of every KR from its running sums; NaN where it has no check-in."""
    with np.errstate(all="ignore"):
        one = np.where(st == 0, sv, start + (sv - start) * (due_t / st))
        spread = n * stt - st * st
        mean_t, mean_v = st / n, sv / n
        slope = (n * stv - st * sv) / spread
        many = np.where(spread <= _SAME_MOMENT * n * stt, mean_v, mean_v + slope * (due_t - mean_t))
        return np.where(n <= 0, np.nan, np.where(n == 1, one, many))


@dataclass(slots=True)
class Assessed:
    """Columns of the assessment of many KRs, in the order they were given."""

    progress: Floats
    statuses: npt.NDArray[np.int8]  # codes into STATUSES
    forecast_value: Floats  # NaN: no forecast
    forecast_progress: Floats  # NaN: no forecast
    likely_miss: Bools


def assess_many(
    *,
    kind: Ints,
    start: Floats,
    target: Floats,
    value: Floats,  # the current value; NaN: none yet
    checked_in: Bools,
    expected: Floats,
    sums: tuple[Floats, Floats, Floats, Floats, Floats],
    due_t: Floats,
    success: Floats,
    margins: Margins,
) -> Assessed:
    """Progress, status, forecast and likely miss of every KR (see findings.KRAssessment)."""
    progress = progress_many(kind, start, target, value, np.isnan(value))
    statuses = np.full(len(kind), _OFF_TRACK, dtype=np.int8)
    statuses[progress >= expected - margins.at_risk] = _AT_RISK
    statuses[progress >= expected - margins.on_track] = _ON_TRACK
    statuses[~checked_in] = _NOT_STARTED
    statuses[progress >= 1.0] = _DONE
    fvalue = forecast_many(*sums, start, due_t)
    has_forecast = sums[0] > 0
    fprogress = np.where(has_forecast, progress_many(kind, start, target, fvalue), np.nan)
    miss = has_forecast & (statuses != _DONE) & (fprogress < success)
    return Assessed(progress, statuses, fvalue, fprogress, miss)
