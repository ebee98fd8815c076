"""Server time and query count of every page on the demo organisation.

    .venv/bin/python bench/pages.py [--runs 25] [--postgres] [--out bench/results]

A fresh database (SQLite in a temporary folder, or with --postgres a PostgreSQL database
of its own) gets the
demo organisation (`lockstep demo`), then every main page is requested through Django's
full request stack in this process (test client, signed in as the demo user): a few
warm-up requests, then --runs timed ones. Server time is the wall time of the request
inside Django (routing, middleware, views, queries, templates), without the network.
Reports the median and p95 per page and the number of SQL statements of one request;
writes <out>/<date>-pages-<database>.json and .md. `make bench-pages` runs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 150.0
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DATABASE = "lockstep_pages"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=25)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--postgres",
        action="store_true",
        help=f"a fresh PostgreSQL database {PG_DATABASE} on {PG_SERVER} instead of SQLite",
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--no-write", action="store_true", help="print only")
    return p.parse_args(argv)


def measure(runs: int, warmup: int) -> list[dict[str, Any]]:
    """Time every page; each row: label, path, status, median/p95 ms, statements."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from lockstep.demo.loader import DEMO_USERNAME

    client = Client()
    client.force_login(get_user_model().objects.get(username=DEMO_USERNAME))
    rows = []
    from lockstep.demo.tour import main_pages

    for label, path in main_pages():
        for _ in range(warmup):
            client.get(path)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - t0) * 1000)
        with CaptureQueriesContext(connection) as ctx:
            client.get(path)
        samples.sort()
        rows.append(
            {
                "page": label,
                "path": path,
                "status": response.status_code,
                "median_ms": round(statistics.median(samples), 1),
                "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 1),
                "queries": len(ctx.captured_queries),
                "bytes": len(response.content),
            }
        )
    return rows


def markdown(record: dict[str, Any]) -> str:
    lines = [
        f"# Page server times on the demo, {record['date']}",
        "",
        f"{record['database']}, commit {record['commit']}, {record['machine']}; "
        f"{record['runs']} requests per page after {record['warmup']} warm-up, "
        "in process through Django's request stack (no network). "
        f"Target: median < {TARGET_MS:g} ms.",
        "",
        "| page | path | status | median ms | p95 ms | SQL statements | KB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in record["pages"]:
        lines.append(
            f"| {r['page']} | `{r['path']}` | {r['status']} | {r['median_ms']} | "
            f"{r['p95_ms']} | {r['queries']} | {r['bytes'] / 1024:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _commit() -> str | None:
    import subprocess

    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _fresh_postgres() -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DATABASE}")


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    with tempfile.TemporaryDirectory(prefix="lockstep-pages-") as tmp:
        os.environ["DJANGO_SETTINGS_MODULE"] = "lockstep.settings"
        os.environ["LOCKSTEP_DATA_DIR"] = tmp
        if args.postgres:
            _fresh_postgres()
            os.environ["LOCKSTEP_DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
        else:
            os.environ.pop("LOCKSTEP_DATABASE_URL", None)
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from lockstep.cli import main as lockstep

        call_command("migrate", verbosity=0)
        if lockstep(["demo", "--reset"]) != 0:
            return 1
        rows = measure(args.runs, args.warmup)
        vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        record = {
            "date": dt.date.today().isoformat(),
            "commit": _commit(),
            "database": vendor,
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}",
            "runs": args.runs,
            "warmup": args.warmup,
            "pages": rows,
        }
    text = markdown(record)
    print(text)
    if not args.no_write:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"{record['date']}-pages-{vendor}"
        (args.out / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
        (args.out / f"{stem}.md").write_text(text)
    slow = [r for r in rows if r["median_ms"] >= TARGET_MS or r["status"] != 200]
    for r in slow:
        print(f"over target or failed: {r['page']} ({r['status']}, {r['median_ms']} ms)")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
