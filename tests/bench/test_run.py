"""bench/run.py: the arithmetic and the report, and a real smoke run of the whole driver."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _module()


def test_growth_exponent_is_the_log_log_slope():
    assert run._fit([(1_000, 0.1), (10_000, 1.0), (100_000, 10.0)]) == 1.0
    assert run._fit([(1_000, 2.0), (100_000, 2.0)]) == 0.0
    square = run._fit([(10, 100), (100, 10_000)])
    assert math.isclose(square, 2.0)
    # One point, or missing figures, give no fit rather than a made-up one.
    assert run._fit([(1_000, 1.0)]) is None
    assert run._fit([(1_000, None), (2_000, 0)]) is None


def test_percentiles_are_nearest_rank_in_milliseconds():
    samples = [i / 1000 for i in range(1, 101)]  # 1 … 100 ms
    assert run._percentiles(samples, 50, 95, 99) == {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0}
    assert run._percentiles([0.004], 50, 99) == {"p50_ms": 4.0, "p99_ms": 4.0}


def _result(vendor: str, krs: int, seconds: float) -> dict:
    return {
        "database": vendor,
        "size": "x",
        "key_results": krs,
        "objectives": krs // 4,
        "units": krs // 16,
        "checkins": krs * 5,
        "analysis": {"median_s": seconds, "findings": 3, "peak_rss_mb": 100.0},
        "floor": {"median_s": seconds / 2, "ratio": 2.0},
        "checkin": {"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0},
        "dashboard": {
            "company": {"p50_ms": 5.0, "p95_ms": 6.0},
            "department": {"error": "HTTP 404"},
        },
        "preparation": {"synth_s": 1.0, "checkins_written_per_s": 1000, "first_refresh_s": 2.0},
    }


def test_growth_per_database_and_the_markdown_report():
    results = [_result("sqlite", 1_000, 0.1), _result("sqlite", 100_000, 10.0)]
    growth = run._growth(results)
    assert growth["sqlite"]["full analysis"] == 1.0
    assert growth["sqlite"]["department dashboard p95"] is None  # it failed: no figure
    record = {
        "date": "2026-11-21",
        "commit": "abc1234",
        "machine": {"nproc": 2, "cpu": "CPU", "memory_gb": 24, "python": "3.11"},
        "results": results,
        "growth": growth,
    }
    table = run.markdown(record)
    assert "| sqlite | x | 100,000 |" in table
    assert "| 10.0 / 20.0 / 30.0 |" in table  # check-in p50 / p95 / p99
    assert "| 5.0 / 6.0 | - / - |" in table  # the failed dashboard shows no figure
    assert "| sqlite | 1.00 |" in table  # growth row


def test_smoke_run_writes_json_markdown_and_plot(tmp_path):
    """`make bench-smoke`'s code path end to end on SQLite (no load: bench/load has its test)."""
    env = {**os.environ, "LOCKSTEP_BENCH_VAR": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--smoke",
            "--databases",
            "sqlite",
            "--no-load",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(next(tmp_path.glob("smoke-*.json")).read_text())
    (result,) = record["results"]
    assert result["database"] == "sqlite" and result["key_results"] == 1_000
    assert result["analysis"]["findings"] > 0 and result["floor"]["rows"] > 1_000
    assert result["checkin"]["n"] == 30
    assert next(tmp_path.glob("smoke-*.png")).stat().st_size > 10_000
    table = next(tmp_path.glob("smoke-*.md")).read_text()
    assert "| sqlite | small | 1,000 |" in table
    # The bulk import ran on the smoke size's 2,000 rows, after everything else.
    assert result["import"]["rows"] == 2_000 and result["import"]["seconds"] > 0
    assert "| sqlite | small | 2,000 |" in table
