"""`lockstep plan`, `lockstep export` and `lockstep import` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.activity.models import ActivityEvent
from lockstep.cli import main
from lockstep.demo.loader import remove_demo
from lockstep.goals.models import KeyResult, Objective
from lockstep.org.models import Organisation

PLAN = """\
organisation: {slug: acme, name: Acme}
units:
  - key: acme
    name: Acme
    kind: company
    children:
      - {key: product, name: Product, kind: department}
      - {key: marketing, name: Marketing, kind: department}
cycles:
  - {key: q1, name: Q1, kind: quarter, start: 2026-01-01, end: 2026-03-31}
objectives:
  - key: grow
    title: Grow
    cycle: q1
    level: company
  - key: launch
    title: Launch
    cycle: q1
    level: shared
    contributors: [product, marketing]
    contributes_to: [{objective: grow, weight: 2}]
    key_results:
      - {key: visits, title: Visits, kind: increase, start: 0, target: 5000, owner: marketing}
"""


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


def test_validate_accepts_a_good_plan(db, plan_file, capsys):
    assert main(["plan", "validate", str(plan_file)]) == 0
    assert "valid" in capsys.readouterr().out
    assert not Organisation.objects.exists()


def test_validate_names_the_line_and_exits_1(db, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.replace("target: 5000", "target: 0"))
    assert main(["plan", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 23" in err and "target" in err and "must differ from the start" in err


def test_invalid_yaml_is_reported_with_its_line(db, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.replace("    title: Launch\n", "    title: [Launch\n"))
    assert main(["plan", "apply", str(bad)]) == 1
    assert "line " in capsys.readouterr().err
    assert not Organisation.objects.exists()


def test_diff_then_apply_then_nothing_to_do(db, plan_file, capsys):
    assert main(["plan", "diff", str(plan_file)]) == 0
    diff = capsys.readouterr().out
    assert "+ objective launch" in diff and "+ key_result visits" in diff
    assert not Organisation.objects.exists()

    assert main(["plan", "apply", str(plan_file)]) == 0
    capsys.readouterr()
    assert Objective.objects.count() == 2 and KeyResult.objects.get().target == 5000
    events = ActivityEvent.objects.count()

    assert main(["plan", "apply", str(plan_file)]) == 0
    assert capsys.readouterr().out.strip() == "No changes."
    assert ActivityEvent.objects.count() == events

    plan_file.write_text(PLAN.replace("target: 5000", "target: 6000"))
    assert main(["plan", "diff", str(plan_file)]) == 0
    assert "~ key_result visits: target 5000.0 -> 6000.0" in capsys.readouterr().out


def test_unknown_unit_writes_nothing(db, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.replace("owner: marketing", "owner: finance"))
    assert main(["plan", "apply", str(bad)]) == 1
    assert "finance" in capsys.readouterr().err
    assert not Organisation.objects.exists() and not ActivityEvent.objects.exists()


def test_demo_round_trips_through_a_yaml_plan(db, tmp_path, capsys):
    """export -> apply to an empty database -> export gives the same file."""
    assert main(["demo"]) == 0
    first = tmp_path / "first.yaml"
    assert main(["export", "--org", "northwind", "-o", str(first)]) == 0
    remove_demo()
    assert not Organisation.objects.exists()

    assert main(["plan", "apply", str(first)]) == 0
    second = tmp_path / "second.yaml"
    assert main(["export", "--org", "northwind", "-o", str(second)]) == 0
    assert second.read_text() == first.read_text()
    assert "feature-x-launch" in first.read_text()


def test_csv_export_and_import(db, plan_file, tmp_path, capsys):
    assert main(["plan", "apply", str(plan_file)]) == 0
    out = tmp_path / "okrs.csv"
    assert main(["export", "--format", "csv", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.splitlines()[0].startswith("objective_key,objective_title,cycle")
    out.write_text(text.replace("5000.0", "7000.0"))
    capsys.readouterr()
    assert main(["import", str(out)]) == 0
    assert KeyResult.objects.get(key="visits").target == 7000

    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace(",marketing,", ",finance,"))
    before = ActivityEvent.objects.count()
    assert main(["import", str(bad)]) == 1
    assert "finance" in capsys.readouterr().err
    assert ActivityEvent.objects.count() == before
    assert KeyResult.objects.get(key="visits").target == 7000


def test_synth_command_builds_an_organisation_with_findings(db, capsys):
    import json

    assert main(["synth", "--slug", "tiny", "--krs", "120", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["key_results"] == 120 and out["findings"] > 0
    assert KeyResult.objects.filter(organisation__slug="tiny").count() == 120


def test_synth_command_takes_a_profile(db, capsys):
    import json

    assert main(["synth", "--slug", "prof", "--profile", "small", "--krs", "90"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["key_results"] == 90  # --krs overrides the profile's size


def test_a_billion_laughs_plan_is_refused_at_its_first_alias(db, tmp_path, capsys):
    import time

    lines = ["organisation: {slug: x, name: X}", "a: &a [lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):  # 8^10 "lol"s if the aliases were expanded
        refs = ", ".join(f"*{chr(96 + i)}" for _ in range(8))
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{refs}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    began = time.perf_counter()
    assert main(["plan", "validate", str(bomb)]) == 1
    assert time.perf_counter() - began < 5
    err = capsys.readouterr().err
    assert "line 3" in err and "aliases (*name) are not allowed" in err


def test_a_plan_over_the_size_limit_is_refused_unread(db, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCKSTEP_MAX_PLAN_MB", "1")
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(SystemExit, match="over 1 MB"):
        main(["plan", "validate", str(big)])
