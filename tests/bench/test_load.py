"""bench/load.py: wrk's summary parsed right, and a short real run loses no check-in."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_module():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


load = _load_module()

WITH_ERRORS = """\
Running 2s test @ http://127.0.0.1:41234/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.34ms    5.67ms   1.20s    85.00%
    Req/Sec   325.50     40.12   410.00     70.00%
  Latency Distribution
     50%  850.00us
     75%   14.90ms
     90%   19.30ms
     99%    1.05s
  1302 requests in 2.00s, 1.23MB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 3
Requests/sec:    650.12
Transfer/sec:    628.45KB
lockstep-report {"statuses": {"201": 1299, "409": 2, "500": 1}, "ids": [4,5,6], "unparsed": 0}
"""

CLEAN = """\
Running 10s test @ http://127.0.0.1:8000/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   635.91us  120.00us   2.50ms   93.69%
    Req/Sec     6.20k   807.00     7.00k    86.54%
  Latency Distribution
     50%  600.00us
     75%  700.00us
     90%  800.00us
     99%    1.20ms
  123456 requests in 10.01s, 17.76MB read
Requests/sec:  12333.27
Transfer/sec:      1.78MB
lockstep-report {"statuses": {"200": 123456}, "ids": [], "unparsed": 0}
"""


def test_parse_wrk_converts_units_and_reads_errors():
    out = load.parse_wrk(WITH_ERRORS)
    assert out["requests"] == 1302
    assert out["duration_s"] == 2.0
    assert out["rps"] == 650.12
    assert (out["p50_ms"], out["p75_ms"], out["p90_ms"], out["p99_ms"]) == (
        0.85,
        14.9,
        19.3,
        1050.0,
    )
    assert out["avg_ms"] == 12.34
    assert out["max_ms"] == 1200.0
    assert out["socket_errors"] == {"connect": 0, "read": 2, "write": 0, "timeout": 5}
    assert out["non_2xx_3xx"] == 3


def test_parse_wrk_without_error_lines():
    out = load.parse_wrk(CLEAN)
    assert out["requests"] == 123456
    assert out["rps"] == 12333.27
    assert out["p50_ms"] == 0.6
    assert out["p99_ms"] == 1.2
    assert out["socket_errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    assert out["non_2xx_3xx"] == 0


def test_parse_wrk_refuses_other_text():
    with pytest.raises(ValueError, match="not a wrk summary"):
        load.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_phase_counts_every_non_2xx_and_socket_error():
    phase = load._phase(load.parse_wrk(WITH_ERRORS), load.parse_report(WITH_ERRORS))
    assert phase["ok"] == 1299
    assert phase["errors"] == 2 + 1 + 2 + 5  # 409s, 500, read errors, timeouts
    assert phase["statuses"] == {"201": 1299, "409": 2, "500": 1}
    clean = load._phase(load.parse_wrk(CLEAN), load.parse_report(CLEAN))
    assert (clean["ok"], clean["errors"]) == (123456, 0)


def test_missing_wrk_says_how_to_install(monkeypatch):
    monkeypatch.setattr(load.shutil, "which", lambda name: None)
    with pytest.raises(load.WrkMissing, match=r"apt-get install wrk"):
        load.wrk_path()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (apt-get install wrk)")
def test_short_run_against_sqlite_loses_no_checkin(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'load.sqlite3'}"
    build = textwrap.dedent(
        """
        import django
        django.setup()
        from django.core.management import call_command
        from lockstep.synth import synth_generate
        call_command("migrate", verbosity=0)
        synth_generate(slug="load-test", krs=300, seed=1)
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lockstep.settings",
        "LOCKSTEP_DATABASE_URL": database_url,
        "LOCKSTEP_DATA_DIR": str(tmp_path),
    }
    subprocess.run([sys.executable, "-c", build], env=env, cwd=ROOT, check=True, timeout=120)

    result = load.load_run(
        database_url=database_url,
        data_dir=tmp_path,
        org_slug="load-test",
        seconds=2,
        connections=4,
        workers=2,
        threads=2,
    )

    assert result["database"] == "sqlite"
    reads, checkins = result["reads"], result["checkins"]
    assert reads["rps"] > 0 and reads["requests"] > 0
    assert reads["errors"] == 0, reads
    assert checkins["rps"] > 0 and checkins["ok"] > 0
    assert checkins["errors"] == 0, checkins
    assert checkins["lost"] == 0, checkins
    assert 0 <= checkins["in_flight_at_stop"] <= result["connections"], checkins
    assert checkins["rows_added"] == checkins["ok"] + checkins["in_flight_at_stop"]
    assert result["server_log"]["internal_errors"] == 0, result["server_log"]
