"""A check-in import killed halfway leaves the database exactly as it was.

`lockstep import-checkins` runs in a process of its own against a database of its own
(a SQLite file, or a fresh PostgreSQL database when the suite runs on PostgreSQL). The
test waits until the import's transaction has started writing (SQLite: the write lock is
held; PostgreSQL: its backend has a transaction id), kills it with SIGKILL (no clean-up
code runs), and compares every check-in, every KR's running values and every objective's
numbers with the state before. The same file then imports completely.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DATABASE = "lockstep_killtest"
ROWS = 200_000

STATE = """
import json, django
django.setup()
from lockstep.goals.models import CheckIn, KeyResult, Objective
from lockstep.activity.models import ActivityEvent
print(json.dumps({
    "checkins": CheckIn.objects.count(),
    "krs": [list(r) for r in KeyResult.objects.order_by("pk").values_list(
        "pk", "current_value", "checkin_count", "last_checkin_at", "progress", "status",
        "sum_t", "sum_v")],
    "objectives": [list(r) for r in Objective.objects.order_by("pk").values_list(
        "pk", "progress", "status")],
    "events": ActivityEvent.objects.count(),
}, default=str))
"""


def _env(tmp: Path, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="lockstep.settings",
        LOCKSTEP_DATA_DIR=str(tmp),
        LOCKSTEP_DATABASE_URL=database_url,
        LOCKSTEP_DB_POOL="0",
    )
    return env


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _state(env: dict[str, str]) -> dict:
    return json.loads(_run([sys.executable, "-c", STATE], env))


def _sqlite_writing(path: Path) -> bool:
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True  # "database is locked": the importer holds the write lock
    finally:
        probe.close()


def _pg_writing() -> bool:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as c:
        row = c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_xid IS NOT NULL",
            [PG_DATABASE],
        ).fetchone()
    return bool(row and row[0])


def _fresh_pg() -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {PG_DATABASE}")


@pytest.mark.django_db
def test_an_import_killed_mid_write_changes_nothing(tmp_path):
    if connection.vendor == "postgresql":
        _fresh_pg()
        url = f"{PG_SERVER}/{PG_DATABASE}"
        writing = _pg_writing
    else:
        db = tmp_path / "kill.sqlite3"
        url = f"sqlite:///{db}"

        def writing() -> bool:
            return _sqlite_writing(db)

    env = _env(tmp_path, url)
    lockstep = str(Path(sys.executable).with_name("lockstep"))
    _run([lockstep, "demo"], env)
    csv_path = tmp_path / "checkins.csv"
    _run(
        [
            sys.executable,
            "bench/checkins_csv.py",
            "--org",
            "northwind",
            "--rows",
            str(ROWS),
            "-o",
            str(csv_path),
        ],
        env,
    )
    before = _state(env)

    importer = subprocess.Popen(
        [lockstep, "import-checkins", str(csv_path), "--org", "northwind"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not writing():
        assert importer.poll() is None, "the import ended before it was seen writing"
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.02)
    time.sleep(0.3)  # well inside the write: 200,000 rows take seconds
    importer.send_signal(signal.SIGKILL)
    out, _ = importer.communicate(timeout=60)
    assert importer.returncode == -signal.SIGKILL
    assert "Imported" not in out

    if connection.vendor == "postgresql":
        # The server rolls the dead connection's transaction back once it notices it.
        deadline = time.monotonic() + 30
        while _pg_writing():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert _state(env) == before

    # Nothing half-done stands in the way: the same file now imports in full.
    out = _run([lockstep, "import-checkins", str(csv_path), "--org", "northwind"], env)
    assert f"Imported {ROWS:,} check-ins" in out
    after = _state(env)
    assert after["checkins"] == before["checkins"] + ROWS
