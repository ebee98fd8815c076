"""The database settings: a connection pool on PostgreSQL, so connections stay bounded."""

from __future__ import annotations

import threading

import pytest
from django.core.signals import request_finished, request_started
from django.db import connection

from lockstep.settings import database_from_env

PG = "postgres://lockstep@127.0.0.1:5432/lockstep"


def test_postgresql_pools_connections_and_keeps_none_per_thread():
    db = database_from_env({"LOCKSTEP_DATABASE_URL": PG})
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 10, "timeout": 20.0}
    # Django refuses a pool with persistent connections; an old setting must not break it.
    assert (
        database_from_env({"LOCKSTEP_DATABASE_URL": PG, "LOCKSTEP_DB_CONN_MAX_AGE": "60"})[
            "CONN_MAX_AGE"
        ]
        == 0
        == db["CONN_MAX_AGE"]
    )
    sized = database_from_env(
        {
            "LOCKSTEP_DATABASE_URL": PG,
            "LOCKSTEP_DB_POOL_MIN": "1",
            "LOCKSTEP_DB_POOL_MAX": "4",
            "LOCKSTEP_DB_POOL_TIMEOUT": "2.5",
        }
    )
    assert sized["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 4, "timeout": 2.5}


def test_without_the_pool_connections_close_after_each_request_unless_asked():
    off = database_from_env({"LOCKSTEP_DATABASE_URL": PG, "LOCKSTEP_DB_POOL": "0"})
    assert "pool" not in off.get("OPTIONS", {}) and off["CONN_MAX_AGE"] == 0
    kept = database_from_env(
        {"LOCKSTEP_DATABASE_URL": PG, "LOCKSTEP_DB_POOL": "0", "LOCKSTEP_DB_CONN_MAX_AGE": "60"}
    )
    assert kept["CONN_MAX_AGE"] == 60


def test_sqlite_has_no_pool():
    db = database_from_env({"LOCKSTEP_DATABASE_URL": "sqlite:////tmp/lockstep-x.sqlite3"})
    assert db["CONN_MAX_AGE"] == 0 and "pool" not in db["OPTIONS"]
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's connection pool")
def test_requests_in_fresh_threads_reuse_the_pools_connections():
    if connection.pool is None:
        pytest.skip("the pool is switched off (LOCKSTEP_DB_POOL=0)")
    most = connection.settings_dict["OPTIONS"]["pool"]["max_size"]

    def request() -> None:
        # What uvicorn does with a sync view: a thread of its own, Django's request signals
        # around it (request_finished hands the connection back).
        request_started.send(sender=None)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            request_finished.send(sender=None)

    for _ in range(3 * most):
        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
    assert _backends() <= most
