"""The scale benchmark: Lockstep on SQLite and PostgreSQL at several sizes of organisation.

    .venv/bin/python bench/run.py [--smoke] [--sizes small,medium,enterprise]
        [--databases sqlite,postgresql] [--runs 2] [--checkins 200] [--load-seconds 8]

For each database and size, a fresh database gets a synthetic organisation
(`lockstep.synth`, seeded) and its first full findings refresh; then a fresh process
measures, so its peak memory is the analysis's and not the generator's:

1. the full analysis: the snapshot (every row the engine needs, `snapshot_of`) and the
   engine over it (roll-ups, forecasts, risk propagation, every finding: `analyse`),
   median of --runs; peak RSS of that process;
2. one check-in through the API (`POST /api/v1/key-results/{id}/checkins`, in process
   through Django's full request stack), end to end with the incremental update of stored
   numbers and findings: p50 / p95 / p99 of --checkins;
3. the company dashboard and a department dashboard (`GET /api/v1/dashboard`): p50 / p95;
4. sustained load (bench/load.py: uvicorn workers in their own processes, wrk on
   loopback) for reads and for check-ins, at the largest size of each database;
5. the floor: the statements the snapshot runs, replayed on the driver's own cursor
   (rows fetched, no objects built), and the ratio of (1) to it;
6. growth: the exponent of a log-log least-squares fit of each figure against the number
   of key results, across the sizes;
7. the bulk import: --import-rows seeded check-ins (bench/checkins_csv.py) imported from
   CSV at the largest size of each database, after everything else (it adds check-ins).

`make bench` (sizes small, medium, enterprise on both databases) writes
bench/results/<date>.json, <date>.md and <date>.png; `make bench-smoke` runs the same
code on the small profile only, with short runs, into var/bench/ (CI runs it so the
benchmark never rots). PostgreSQL runs in a database of its own, `lockstep_bench`,
dropped and created for every size.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import gc
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VAR = Path(os.environ.get("LOCKSTEP_BENCH_VAR") or ROOT / "var" / "bench")
SLUG = "bench"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PG_DATABASE = "lockstep_bench"
# Key results per size; small and enterprise are the synth profiles of the same names.
SIZES = {"small": 1_000, "medium": 35_000, "enterprise": 350_000, "planet": 1_000_000}
DEFAULT_SIZES = ["small", "medium", "enterprise"]
ELAPSED_WEEKS = 12  # `now` in the quarter's last week, as the synth profiles have it


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="small profile, short runs, into var/")
    p.add_argument("--sizes", default=",".join(DEFAULT_SIZES))
    p.add_argument("--databases", default="sqlite,postgresql")
    p.add_argument("--runs", type=int, default=2, help="timed runs of the full analysis")
    p.add_argument("--checkins", type=int, default=200, help="API check-ins timed per size")
    p.add_argument("--dashboards", type=int, default=30, help="requests per dashboard")
    p.add_argument("--load-seconds", type=float, default=8, help="wrk duration per mix")
    p.add_argument("--no-load", action="store_true", help="skip the sustained load")
    p.add_argument(
        "--import-rows",
        type=int,
        default=1_000_000,
        help="check-ins bulk-imported from CSV at the largest size (0: skip)",
    )
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.runs, args.checkins, args.dashboards = "small", 2, 30, 10
        args.load_seconds = min(args.load_seconds, 3)
        args.import_rows = min(args.import_rows, 2_000)
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.databases = [d for d in args.databases.split(",") if d]
    for s in args.sizes:
        if s not in SIZES:
            p.error(f"unknown size {s!r}: choose from {', '.join(SIZES)}")
    for d in args.databases:
        if d not in ("sqlite", "postgresql"):
            p.error(f"unknown database {d!r}: sqlite or postgresql")
    return args


def _configure(database_url: str, data_dir: Path) -> None:
    """Point the settings at the benchmark database; before Django is imported."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "lockstep.settings"
    os.environ["LOCKSTEP_DATA_DIR"] = str(data_dir)
    os.environ["LOCKSTEP_DATABASE_URL"] = database_url
    os.environ["LOCKSTEP_DB_CONN_MAX_AGE"] = "0"
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def _maxrss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _percentiles(samples: list[float], *qs: int) -> dict[str, float]:
    """Nearest-rank percentiles in milliseconds, e.g. {"p50_ms": …}."""
    ordered = sorted(samples)
    out = {}
    for q in qs:
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        out[f"p{q}_ms"] = round(ordered[rank - 1] * 1000, 2)
    return out


# ---- child 1: build the database ----------------------------------------------------------


def _prepare(database_url: str, data_dir: str, size: str, now_iso: str, seed: int) -> dict:
    _configure(database_url, Path(data_dir))
    import django

    django.setup()
    from django.core.management import call_command

    from lockstep.alignment.services import findings_refresh_full
    from lockstep.bulk import tables_analyze
    from lockstep.org.models import Organisation
    from lockstep.synth import synth_generate

    call_command("migrate", verbosity=0)
    now = dt.datetime.fromisoformat(now_iso)
    t0 = time.perf_counter()
    stats = synth_generate(
        slug=SLUG, krs=SIZES[size], seed=seed, now=now, elapsed_weeks=ELAPSED_WEEKS
    )
    t1 = time.perf_counter()
    found = findings_refresh_full(Organisation.objects.get(slug=SLUG), now=now)
    t2 = time.perf_counter()
    # As `lockstep synth` does: the refresh rewrote every row's numbers and all findings.
    tables_analyze()
    return {
        "synth": stats.as_dict(),
        "synth_s": round(t1 - t0, 2),
        "checkins_written_per_s": round(stats.checkins / (t1 - t0)),
        "first_refresh_s": round(t2 - t1, 2),
        "findings": len(found),
        "maxrss_mb": _maxrss_mb(),
    }


# ---- child 2: measure ---------------------------------------------------------------------


class _Statements:
    """Record the statements run inside the block, to replay them as the floor."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.seen: list[tuple[str, Any]] = []

    def __enter__(self) -> list[tuple[str, Any]]:
        def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            self.seen.append((sql, params))
            return execute(sql, params, many, context)

        self._ctx = self.connection.execute_wrapper(wrapper)
        self._ctx.__enter__()
        return self.seen

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def _floor(connection: Any, statements: list[tuple[str, Any]]) -> tuple[float, int]:
    """Replay `statements` on the driver's cursor, fetching every row; seconds and rows."""
    connection.ensure_connection()
    raw = connection.connection
    rows = 0
    t0 = time.perf_counter()
    cursor = raw.cursor()
    for sql, params in statements:
        if connection.vendor == "sqlite":
            # Django writes %s placeholders; the sqlite3 module takes ?.
            sql = sql.replace("%s", "?")
        cursor.execute(sql, params or ())
        rows += len(cursor.fetchall())
    cursor.close()
    return time.perf_counter() - t0, rows


def _bench_user(org: Any) -> Any:
    """A sign-in for the organisation's first admin (synthetic people have none)."""
    from django.contrib.auth import get_user_model

    from lockstep.org.models import Person

    admin = Person.objects.filter(organisation=org, is_org_admin=True).order_by("pk").first()
    if admin.user_id is None:
        user = get_user_model().objects.create_user(f"bench-{org.slug}", password=None)
        admin.user = user
        admin.save(update_fields=["user"])
    return admin.user


def _checkin_targets(org: Any, now: dt.datetime, count: int, seed: int) -> list[tuple[int, float]]:
    """(KR id, a valid value) for `count` numeric KRs whose cycle holds `now`."""
    from lockstep.goals.models import KeyResult

    today = now.date()
    rows = list(
        KeyResult.objects.filter(
            organisation=org,
            archived_at__isnull=True,
            kind__in=["increase", "decrease", "at_least", "at_most"],
            objective__cycle__start__lte=today,
            objective__cycle__end__gte=today,
            objective__state="published",
        )
        .order_by("pk")
        .values_list("pk", "start", "target")[: count * 20]
    )
    rng = random.Random(seed)
    picked = rng.sample(rows, min(count, len(rows)))
    return [
        (pk, round(start + (target - start) * rng.uniform(0.2, 0.9), 2))
        for pk, start, target in picked
    ]


def _measure(
    database_url: str,
    data_dir: str,
    now_iso: str,
    runs: int,
    checkins: int,
    dashboards: int,
    seed: int,
) -> dict:
    _configure(database_url, Path(data_dir))
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count
    from django.test import Client

    from lockstep.alignment.selectors import snapshot_of
    from lockstep.core.findings import analyse
    from lockstep.org.models import Organisation, Unit

    now = dt.datetime.fromisoformat(now_iso)
    org = Organisation.objects.get(slug=SLUG)
    rss_before = _maxrss_mb()

    # 1. the full analysis
    snapshot_s, engine_s, total_s, findings = [], [], [], 0
    statements: list[tuple[str, Any]] = []
    for i in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        if i == 0:
            with _Statements(connection) as statements:
                snap = snapshot_of(org, now=now)
        else:
            snap = snapshot_of(org, now=now)
        t1 = time.perf_counter()
        findings = len(analyse(snap))
        t2 = time.perf_counter()
        del snap
        snapshot_s.append(t1 - t0)
        engine_s.append(t2 - t1)
        total_s.append(t2 - t0)
    peak_mb = _maxrss_mb()

    # 5. the floor: the same statements, rows fetched and dropped
    floors, floor_rows = [], 0
    for _ in range(runs):
        gc.collect()
        seconds, floor_rows = _floor(connection, statements)
        floors.append(seconds)

    # 2. one check-in through the API, end to end
    user = _bench_user(org)
    client = Client()
    client.force_login(user)
    times = []
    for kr_id, value in _checkin_targets(org, now, checkins, seed):
        t0 = time.perf_counter()
        response = client.post(
            f"/api/v1/key-results/{kr_id}/checkins",
            {"value": value, "confidence": 6, "note": "bench"},
            content_type="application/json",
        )
        times.append(time.perf_counter() - t0)
        if response.status_code != 201:
            raise RuntimeError(
                f"check-in on KR {kr_id}: {response.status_code} {response.content[:300]!r}"
            )

    # 3. the dashboards: the company's and a department's (the one with the most teams)
    department = (
        Unit.objects.filter(organisation=org, kind="department", archived_at__isnull=True)
        .annotate(n=Count("children"))
        .order_by("-n", "pk")
        .first()
    )
    boards: dict[str, Any] = {}
    for label, url in (
        ("company", "/api/v1/dashboard"),
        ("department", f"/api/v1/dashboard?unit={department.pk}"),
    ):
        samples = []
        status = 0
        for _ in range(dashboards + 2):
            t0 = time.perf_counter()
            status = client.get(url).status_code
            samples.append(time.perf_counter() - t0)
        if status != 200:
            boards[label] = {"error": f"HTTP {status}"}
            continue
        boards[label] = _percentiles(samples[2:], 50, 95)  # two warm-up requests left out

    analysis_median = statistics.median(total_s)
    floor_median = statistics.median(floors)
    return {
        "analysis": {
            "median_s": round(analysis_median, 3),
            "snapshot_median_s": round(statistics.median(snapshot_s), 3),
            "engine_median_s": round(statistics.median(engine_s), 3),
            "runs": [round(t, 3) for t in total_s],
            "findings": findings,
            "rss_before_mb": rss_before,
            "peak_rss_mb": peak_mb,
        },
        "floor": {
            "median_s": round(floor_median, 3),
            "statements": len(statements),
            "rows": floor_rows,
            "ratio": round(analysis_median / floor_median, 2) if floor_median else None,
        },
        "checkin": {"n": len(times), **_percentiles(times, 50, 95, 99)},
        "dashboard": boards,
    }


# ---- the parent ---------------------------------------------------------------------------


def _in_child(fn: Any, *args: Any) -> Any:
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return pool.submit(fn, *args).result()


def _fresh_database(vendor: str, run_dir: Path, size: str) -> str:
    if vendor == "sqlite":
        return f"sqlite:///{run_dir / f'{size}.sqlite3'}"
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    return f"{PG_SERVER}/{PG_DATABASE}"


def _database_info(database_url: str, vendor: str) -> dict[str, Any]:
    if vendor == "sqlite":
        import sqlite3

        path = Path(database_url.removeprefix("sqlite:///"))
        return {"version": sqlite3.sqlite_version, "size_mb": round(path.stat().st_size / 2**20, 1)}
    import psycopg

    with psycopg.connect(database_url) as conn:
        version, size = conn.execute(
            "select current_setting('server_version'), pg_database_size(current_database())"
        ).fetchone()
    return {"version": version, "size_mb": round(size / 2**20, 1)}


def _fit(points: list[tuple[float, float]]) -> float | None:
    """The slope of log(y) against log(x): how a figure grows with size."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return round(sum((x - mx) * (y - my) for x, y in pts) / sxx, 3) if sxx else None


# Each measure the growth fit covers: a label and where its figure sits in a result.
GROWTH = {
    "full analysis": ("analysis", "median_s"),
    "floor": ("floor", "median_s"),
    "check-in p95": ("checkin", "p95_ms"),
    "company dashboard p95": ("dashboard", "company", "p95_ms"),
    "department dashboard p95": ("dashboard", "department", "p95_ms"),
    "peak memory": ("analysis", "peak_rss_mb"),
}


def _dig(record: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = record
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, int | float) else None


def _growth(results: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for vendor in sorted({r["database"] for r in results}):
        mine = [r for r in results if r["database"] == vendor]
        out[vendor] = {
            label: _fit([(r["key_results"], v) for r in mine if (v := _dig(r, path)) is not None])
            for label, path in GROWTH.items()
        }
    return out


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gb": memory_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}"


def markdown(record: dict[str, Any]) -> str:
    """The results as Markdown tables: figures per database and size, then growth."""
    m = record["machine"]
    lines = [
        f"Lockstep benchmark, {record['date']} (commit {record['commit']}): {m['nproc']} cores "
        f"({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}. Medians; times in ms "
        "unless marked s.",
        "",
        "| database | size | KRs | objectives | units | check-ins | findings | analysis s "
        "| floor s | ratio | peak MB | check-in p50 / p95 / p99 | company dash p50 / p95 "
        "| dept dash p50 / p95 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in record["results"]:
        c, d = r["checkin"], r["dashboard"]
        company, dept = d.get("company", {}), d.get("department", {})
        lines.append(
            f"| {r['database']} | {r['size']} | {r['key_results']:,} | {r['objectives']:,} "
            f"| {r['units']:,} | {r['checkins']:,} | {r['analysis']['findings']:,} "
            f"| {r['analysis']['median_s']:.2f} | {r['floor']['median_s']:.2f} "
            f"| {r['floor']['ratio']} | {r['analysis']['peak_rss_mb']:,.0f} "
            f"| {_ms(c.get('p50_ms'))} / {_ms(c.get('p95_ms'))} / {_ms(c.get('p99_ms'))} "
            f"| {_ms(company.get('p50_ms'))} / {_ms(company.get('p95_ms'))} "
            f"| {_ms(dept.get('p50_ms'))} / {_ms(dept.get('p95_ms'))} |"
        )
    lines += [
        "",
        "| database | size | synth s | check-ins written /s | first refresh s |",
        "|---|---|---:|---:|---:|",
    ]
    for r in record["results"]:
        p = r["preparation"]
        lines.append(
            f"| {r['database']} | {r['size']} | {p['synth_s']} | {p['checkins_written_per_s']:,} "
            f"| {p['first_refresh_s']} |"
        )
    loads = [r for r in record["results"] if r.get("load")]
    if loads:
        lines += [
            "",
            "Sustained load (wrk on loopback, uvicorn workers):",
            "",
            "| database | size | workers | connections | reads /s | reads p50 / p99 | errors "
            "| check-ins /s | check-ins p50 / p99 | ok | rows added | lost |",
            "|---|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|",
        ]
        for r in loads:
            ld = r["load"]
            if "error" in ld:
                lines.append(f"| {r['database']} | {r['size']} | {ld['error']} |")
                continue
            rd, ci = ld["reads"], ld["checkins"]
            lines.append(
                f"| {r['database']} | {r['size']} | {ld['workers']} | {ld['connections']} "
                f"| {rd['rps']:,.0f} | {_ms(rd['p50_ms'])} / {_ms(rd['p99_ms'])} | {rd['errors']} "
                f"| {ci['rps']:,.0f} | {_ms(ci['p50_ms'])} / {_ms(ci['p99_ms'])} | {ci['ok']} "
                f"| {ci['rows_added']} | {ci['lost']} |"
            )
    imports = [r for r in record["results"] if r.get("import")]
    if imports:
        lines += [
            "",
            "Bulk import of check-ins from CSV (`lockstep import-checkins --numbers-only`; "
            "findings are the full refresh above):",
            "",
            "| database | size | rows | KRs touched | seconds | rows /s | steps s |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for r in imports:
            im = r["import"]
            steps = ", ".join(f"{k} {v}" for k, v in im["steps_s"].items() if k != "total")
            lines.append(
                f"| {r['database']} | {r['size']} | {im['rows']:,} | {im['key_results']:,} "
                f"| {im['seconds']} | {im['rows_per_s']:,} | {steps} |"
            )
    growth = record.get("growth") or {}
    if any(v is not None for g in growth.values() for v in g.values()):
        lines += ["", "Growth exponent (log-log fit against KRs, smallest to largest size):", ""]
        labels = list(GROWTH)
        lines.append("| database | " + " | ".join(labels) + " |")
        lines.append("|---|" + "---:|" * len(labels))
        for vendor, g in growth.items():
            lines.append(
                f"| {vendor} | "
                + " | ".join("-" if g[k] is None else f"{g[k]:.2f}" for k in labels)
                + " |"
            )
    return "\n".join(lines) + "\n"


def plot(record: dict[str, Any], path: Path) -> None:
    """Scaling curves on log-log axes: the analysis and its floor, check-in, dashboards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (
            "Full analysis vs floor (s)",
            [("full analysis", ("analysis", "median_s")), ("floor", ("floor", "median_s"))],
        ),
        ("One check-in, API (p95 ms)", [("check-in p95", ("checkin", "p95_ms"))]),
        (
            "Dashboards (p95 ms)",
            [
                ("company", ("dashboard", "company", "p95_ms")),
                ("department", ("dashboard", "department", "p95_ms")),
            ],
        ),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.5))
    styles = {"sqlite": "-", "postgresql": "--"}
    for ax, (title, series) in zip(axes, panels, strict=True):
        for vendor in sorted({r["database"] for r in record["results"]}):
            mine = sorted(
                (r for r in record["results"] if r["database"] == vendor),
                key=lambda r: r["key_results"],
            )
            for label, where in series:
                pts = [(r["key_results"], v) for r in mine if (v := _dig(r, where))]
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(
                        xs, ys, styles.get(vendor, "-"), marker="o", label=f"{label} ({vendor})"
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("key results")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Lockstep scaling, {record['date']} ({record['machine']['nproc']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    started = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = VAR / f"run-{stamp}-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    largest = args.sizes[-1]
    results: list[dict[str, Any]] = []
    try:
        for vendor in args.databases:
            for size in args.sizes:
                url = _fresh_database(vendor, run_dir, size)
                print(
                    f"[{time.perf_counter() - started:6.0f} s] {vendor} {size}: generating …",
                    flush=True,
                )
                prepared = _in_child(_prepare, url, str(run_dir), size, now.isoformat(), args.seed)
                print(
                    f"[{time.perf_counter() - started:6.0f} s] {vendor} {size}: "
                    f"{prepared['synth']['key_results']:,} KRs in {prepared['synth_s']} s, first "
                    f"refresh {prepared['first_refresh_s']} s; measuring …",
                    flush=True,
                )
                measured = _in_child(
                    _measure,
                    url,
                    str(run_dir),
                    now.isoformat(),
                    args.runs,
                    args.checkins,
                    args.dashboards,
                    args.seed,
                )
                synth = prepared["synth"]
                result: dict[str, Any] = {
                    "database": vendor,
                    "size": size,
                    "key_results": synth["key_results"],
                    "objectives": synth["objectives"],
                    "units": synth["units"],
                    "people": synth["people"],
                    "checkins": synth["checkins"],
                    "dependencies": synth["dependencies"],
                    "database_info": _database_info(url, vendor),
                    "preparation": prepared,
                    **measured,
                }
                if size == largest and not args.no_load:
                    print(
                        f"[{time.perf_counter() - started:6.0f} s] {vendor} {size}: load …",
                        flush=True,
                    )
                    result["load"] = _load(url, run_dir, args.load_seconds)
                if size == largest and args.import_rows:
                    print(
                        f"[{time.perf_counter() - started:6.0f} s] {vendor} {size}: importing "
                        f"{args.import_rows:,} check-ins …",
                        flush=True,
                    )
                    result["import"] = _in_child(
                        _import, url, str(run_dir), args.import_rows, args.seed
                    )
                results.append(result)
                # Partial results survive an interrupted run.
                (run_dir / "partial.json").write_text(json.dumps(results, indent=2) + "\n")
                a = measured["analysis"]
                print(
                    f"[{time.perf_counter() - started:6.0f} s] {vendor} {size}: analysis "
                    f"{a['median_s']} s (floor {measured['floor']['median_s']} s), check-in p95 "
                    f"{measured['checkin'].get('p95_ms')} ms",
                    flush=True,
                )
                if vendor == "sqlite":
                    Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        record = {
            "date": dt.date.today().isoformat(),
            "now": now.isoformat(),
            "commit": _commit(),
            "machine": _machine(),
            "args": {k: v for k, v in vars(args).items()},
            "seconds": round(time.perf_counter() - started, 1),
            "results": results,
            "growth": _growth(results),
        }
        out_dir = VAR if args.smoke else RESULTS
        out_dir.mkdir(parents=True, exist_ok=True)
        # A run of other sizes (make bench-planet) keeps its own files beside the day's.
        name = (
            record["date"]
            if args.sizes == DEFAULT_SIZES
            else f"{record['date']}-" + "-".join(args.sizes)
        )
        base = out_dir / (f"smoke-{record['date']}" if args.smoke else name)
        base.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
        table = markdown(record)
        base.with_suffix(".md").write_text(table)
        plot(record, base.with_suffix(".png"))
        print()
        print(table)
        print(f"written: {base}.json, .md, .png ({record['seconds']} s in all)")
    finally:
        partial = run_dir / "partial.json"
        if partial.exists():
            shutil.copy(partial, VAR / f"partial-{stamp}.json")
        shutil.rmtree(run_dir, ignore_errors=True)
        if "postgresql" in args.databases:
            import psycopg

            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    return 0


def _import(database_url: str, data_dir: str, rows: int, seed: int) -> dict[str, Any]:
    """7. the bulk import: `rows` seeded check-ins as CSV through `lockstep import-checkins`'s
    service (findings left to the next full refresh, which (1) already times)."""
    _configure(database_url, Path(data_dir))
    import django

    django.setup()
    sys.path.insert(0, str(ROOT / "bench"))
    from checkins_csv import checkins_csv_write  # type: ignore[import-not-found]

    from lockstep.goals.imports import checkins_import_csv
    from lockstep.org.models import Organisation

    path = Path(data_dir) / "checkins.csv"
    krs = checkins_csv_write(SLUG, rows, seed, str(path))
    org = Organisation.objects.get(slug=SLUG)
    with path.open(encoding="utf-8", newline="") as stream:
        result = checkins_import_csv(
            organisation=org, text_or_stream=stream, actor=None, findings=False
        )
    path.unlink()
    return {
        "rows": result.checkins,
        "key_results": result.key_results,
        "krs_in_file_pool": krs,
        "seconds": round(result.timings["total"], 2),
        "steps_s": {k: round(v, 2) for k, v in result.timings.items()},
        "rows_per_s": round(result.checkins / result.timings["total"]),
        "peak_rss_mb": _maxrss_mb(),
    }


def _load(url: str, run_dir: Path, seconds: float) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "bench"))
    from load import load_run  # type: ignore[import-not-found]

    try:
        return load_run(database_url=url, data_dir=run_dir, org_slug=SLUG, seconds=seconds)
    except Exception as exc:  # the load run reports; the other figures still count
        return {"error": f"{type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    sys.exit(main())
