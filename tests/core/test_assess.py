"""The column-wise assessment equals the scalar reference functions, number for number."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.core import assess
from lockstep.core.forecast import forecast_value, likely_miss
from lockstep.core.progress import Commitment, KRKind, Margins, kr_progress, kr_status
from lockstep.core.snapshot import CheckInSums

numbers = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.0, 5.0, 1e308, -1e308]),
)


@st.composite
def krs(draw: st.DrawFn) -> dict:
    n = draw(st.integers(min_value=0, max_value=4))
    return {
        "kind": draw(st.sampled_from(list(KRKind))),
        "start": draw(numbers),
        "target": draw(numbers),
        "value": draw(st.one_of(st.none(), numbers)),
        "checked_in": draw(st.booleans()),
        "expected": draw(st.floats(min_value=0, max_value=1)),
        "sums": CheckInSums(
            n,
            draw(st.floats(min_value=0, max_value=200)) if n else 0.0,
            draw(numbers) if n else 0.0,
            draw(st.floats(min_value=0, max_value=40_000)) if n else 0.0,
            draw(numbers) if n else 0.0,
        ),
        "due_t": draw(st.floats(min_value=1, max_value=400)),
        "commitment": draw(st.sampled_from(list(Commitment))),
    }


def same(a: float | None, b: float) -> bool:
    if a is None:
        return math.isnan(b)
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=300, deadline=None)
@given(st.lists(krs(), min_size=1, max_size=30), st.sampled_from([Margins(), Margins(0.0, 0.5)]))
def test_assess_many_equals_the_scalar_functions(rows: list[dict], margins: Margins) -> None:
    got = assess.assess_many(
        kind=np.array([assess.KIND_CODES[r["kind"]] for r in rows], dtype=np.int8),
        start=np.array([r["start"] for r in rows]),
        target=np.array([r["target"] for r in rows]),
        value=np.array([math.nan if r["value"] is None else r["value"] for r in rows]),
        checked_in=np.array([r["checked_in"] for r in rows]),
        expected=np.array([r["expected"] for r in rows]),
        sums=tuple(  # type: ignore[arg-type]
            np.array([float(getattr(r["sums"], f)) for r in rows])
            for f in ("n", "st", "sv", "stt", "stv")
        ),
        due_t=np.array([r["due_t"] for r in rows]),
        success=np.array([1.0 if r["commitment"] == "committed" else 0.7 for r in rows]),
        margins=margins,
    )
    for i, r in enumerate(rows):
        kind, start, target = r["kind"], r["start"], r["target"]
        progress = kr_progress(kind, start, target, r["value"])
        status = kr_status(progress, r["expected"], checked_in=r["checked_in"], margins=margins)
        fv = forecast_value(r["sums"], start_value=start, due_t=r["due_t"])
        fp = None if fv is None else kr_progress(kind, start, target, fv)
        miss = status != "done" and likely_miss(fp, r["commitment"])
        assert got.progress[i] == progress
        assert assess.STATUSES[got.statuses[i]] == status
        assert same(fv, got.forecast_value[i])
        assert same(fp, got.forecast_progress[i])
        assert bool(got.likely_miss[i]) == miss
