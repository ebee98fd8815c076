"""The findings catalogue, scenario by scenario: each YAML file here is a small plan with
check-ins and the findings it must and must not give (plan_load -> plan_snapshot -> analyse).

A scenario file holds:

    description: one line saying why the findings should (not) fire
    now: 2026-11-16T12:00:00+00:00          # the moment of the check
    checkins: {kr-key: [[2026-11-10T09:00:00+00:00, 42, 7], ...]}   # when, value, confidence
    expect:
      present: [CODE, "CODE:kind:key", ...]   # kind: unit, objective, kr, kpi, dependency
      absent: [CODE, "CODE:kind:key", ...]
      explains: {"CODE:kind:key": [text the explanation must contain, ...]}
    plan: {...}                                # a plan, as `lockstep plan` reads it

Every code of the catalogue needs a scenario where it fires and one where it does not;
`test_every_code_has_a_positive_and_a_negative_scenario` keeps it so.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockstep.core.findings import CATALOGUE, Finding, analyse, ref_key
from lockstep.plans import plan_load
from lockstep.plans.check import plan_keys, plan_snapshot

HERE = Path(__file__).parent
FILES = sorted(HERE.glob("*.yaml"))
FIELDS = {"description", "now", "checkins", "expect", "plan"}


def _read(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and set(data) <= FIELDS, f"{path.name}: fields {FIELDS}"
    return data


def _moment(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def _run(data: dict[str, Any]) -> dict[str, Finding]:
    """The findings of a scenario, each by "CODE:kind:key"."""
    plan = plan_load(yaml.safe_dump(data["plan"], sort_keys=False), source="plan")
    checkins = {
        kr: [(_moment(at), float(value), int(confidence)) for at, value, confidence in rows]
        for kr, rows in (data.get("checkins") or {}).items()
    }
    found = analyse(plan_snapshot(plan, now=_moment(data["now"]), checkins=checkins))
    keys = plan_keys(plan)
    return {f"{f.code}:{ref_key(f.subject, keys)}": f for f in found}


def _matches(entry: str, by_name: dict[str, Finding]) -> bool:
    return any(name == entry or name.split(":")[0] == entry for name in by_name)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path: Path) -> None:
    data = _read(path)
    expect = data["expect"]
    by_name = _run(data)
    report = f"{path.name}: {data['description']}\nfound:\n" + "".join(
        f"  {name}: {f.title}\n" for name, f in by_name.items()
    )

    missing = [e for e in expect.get("present", []) if not _matches(e, by_name)]
    unwanted = [e for e in expect.get("absent", []) if _matches(e, by_name)]
    assert not missing and not unwanted, f"missing {missing}, unwanted {unwanted}\n{report}"
    for name, texts in (expect.get("explains") or {}).items():
        explanation = " ".join(by_name[name].explanation)
        absent = [t for t in texts if t not in explanation]
        assert not absent, f"{name} does not mention {absent}: {explanation!r}\n{report}"


def _codes(entries: list[str]) -> set[str]:
    return {e.split(":")[0] for e in entries}


def test_every_code_has_a_positive_and_a_negative_scenario() -> None:
    positive: dict[str, list[str]] = {code: [] for code in CATALOGUE}
    negative: dict[str, list[str]] = {code: [] for code in CATALOGUE}
    for path in FILES:
        expect = _read(path)["expect"]
        for code in _codes(expect.get("present", [])):
            positive.setdefault(code, []).append(path.name)
        for code in _codes(expect.get("absent", [])):
            negative.setdefault(code, []).append(path.name)
    assert set(positive) == set(negative) == set(CATALOGUE), "a scenario names an unknown code"
    assert not [c for c, files in positive.items() if not files], "codes that never fire"
    assert not [c for c, files in negative.items() if not files], "codes never shown quiet"


def test_each_scenario_says_why_in_one_line() -> None:
    for path in FILES:
        description = _read(path)["description"]
        assert isinstance(description, str) and description.strip(), path.name
        assert "\n" not in description.strip(), f"{path.name}: one line, please"
