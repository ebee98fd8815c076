"""Benchmark: the alignment engine's full analysis, on the demo and on a synthetic organisation.

    DJANGO_SETTINGS_MODULE=lockstep.settings .venv/bin/python bench/analysis.py \
        [--krs 50000] [--runs 5] [--seed 1] [--database-url URL] [--flush] [--profile] [--keep]

Without --database-url it works in a fresh SQLite file under var/bench/ (removed afterwards
unless --keep). With a URL it uses that database, which must hold no organisation yet
(--flush empties it first: every table). A PostgreSQL example, in a database of its own:

    psql -h 127.0.0.1 -U postgres -c 'create database lockstep_bench'
    .venv/bin/python bench/analysis.py --database-url postgres://postgres@127.0.0.1:5432/lockstep_bench

A child process migrates, loads the demo (lockstep.demo.loader.load_demo) and synthesises
an organisation of --krs key results (lockstep.synth.synth_generate); the parent then
times, for each organisation, the snapshot build (alignment.selectors.snapshot_of), the
engine alone (core.findings.analyse) and the whole findings_refresh_full (snapshot,
analyse, store), each the median of --runs runs with min and max. The first full refresh
is timed apart, on an emptied findings store: it inserts every finding, while later ones
find the same problems again and write only what moved. Generating in a child keeps the
parent's peak memory (getrusage maxrss) to what the analysis itself needs.

Prints a Markdown table and writes bench/results/analysis-<YYYY-MM-DD>.json (a run of the
same database vendor and size on the same day replaces the earlier one). --profile also
writes cProfile listings of one warm and one cold full refresh of the synthetic
organisation to var/bench/.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import cProfile
import datetime as dt
import gc
import io
import json
import multiprocessing
import os
import platform
import pstats
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
VAR = ROOT / "var" / "bench"
DEMO_SLUG = "northwind"
SYNTH_SLUG = "bench-synth"


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--krs", type=int, default=50_000, help="key results of the synthetic org")
    p.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic organisation")
    p.add_argument("--database-url", help="use this database instead of a fresh SQLite file")
    p.add_argument("--flush", action="store_true", help="empty the given database first")
    p.add_argument("--profile", action="store_true", help="cProfile the synthetic refresh")
    p.add_argument("--keep", action="store_true", help="keep the SQLite file under var/bench/")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def _configure(database_url: str | None, run_dir: Path) -> None:
    """Point the settings at the benchmark database; before Django is imported."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lockstep.settings")
    os.environ["LOCKSTEP_DATA_DIR"] = str(run_dir)
    os.environ["LOCKSTEP_DATABASE_URL"] = database_url or f"sqlite:///{run_dir / 'bench.sqlite3'}"
    os.environ["LOCKSTEP_DB_CONN_MAX_AGE"] = "0"
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def _maxrss_mb() -> float:
    # Linux reports kilobytes (macOS bytes); the benchmark machines are Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---- the child: build the database ---------------------------------------------------


def _prepare(
    database_url: str | None, run_dir: str, now_iso: str, krs: int, seed: int, flush: bool
) -> dict[str, Any]:
    _configure(database_url, Path(run_dir))
    import django

    django.setup()
    from django.core.management import call_command

    from lockstep.demo.loader import load_demo
    from lockstep.org.models import Organisation
    from lockstep.synth import synth_generate

    call_command("migrate", verbosity=0)
    if flush:
        call_command("flush", interactive=False, verbosity=0)
    if Organisation.objects.exists():
        raise SystemExit(
            "the database already holds organisations: use an empty database or --flush"
        )
    now = dt.datetime.fromisoformat(now_iso)
    t0 = time.perf_counter()
    load_demo(now=now)
    t1 = time.perf_counter()
    stats = synth_generate(slug=SYNTH_SLUG, krs=krs, seed=seed, now=now)
    t2 = time.perf_counter()
    return {
        "demo_seconds": round(t1 - t0, 2),
        "synth_seconds": round(t2 - t1, 2),
        "synth": stats.as_dict(),
        "maxrss_mb": _maxrss_mb(),
    }


# ---- the parent: time the analysis ---------------------------------------------------


def _spread(samples: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(samples), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
    }


def _measure(slug: str, now: dt.datetime, runs: int) -> dict[str, Any]:
    from django.db import connection

    from lockstep.alignment.models import Dependency, Finding
    from lockstep.alignment.selectors import snapshot_of
    from lockstep.alignment.services import findings_refresh_full
    from lockstep.core.findings import analyse
    from lockstep.goals.models import CheckIn, KeyResult, Objective
    from lockstep.org.models import Organisation, Unit

    org = Organisation.objects.get(slug=slug)
    Finding.objects.filter(organisation=org).delete()
    # Each step starts from a collected heap, so one step's garbage is not charged to the next.
    gc.collect()
    t = time.perf_counter()
    findings_refresh_full(org, now=now)
    first = time.perf_counter() - t
    snapshots, engines, fulls = [], [], []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        snap = snapshot_of(org, now=now)
        t1 = time.perf_counter()
        analyse(snap)
        t2 = time.perf_counter()
        del snap
        gc.collect()
        t3 = time.perf_counter()
        findings_refresh_full(org, now=now)
        t4 = time.perf_counter()
        snapshots.append(t1 - t0)
        engines.append(t2 - t1)
        fulls.append(t4 - t3)
    # One more, counting queries: how many round trips a warm refresh makes.
    with _QueryCounter(connection) as queries:
        found = findings_refresh_full(org, now=now)
    by_severity: dict[str, int] = {}
    by_code: dict[str, int] = {}
    for f in found:
        by_severity[f.severity.value] = by_severity.get(f.severity.value, 0) + 1
        by_code[f.code] = by_code.get(f.code, 0) + 1
    return {
        "organisation": slug,
        "units": Unit.objects.filter(organisation=org).count(),
        "objectives": Objective.objects.filter(organisation=org).count(),
        "key_results": KeyResult.objects.filter(organisation=org).count(),
        "checkins": CheckIn.objects.filter(organisation=org).count(),
        "dependencies": Dependency.objects.filter(organisation=org).count(),
        "findings": len(found),
        "findings_by_severity": dict(sorted(by_severity.items())),
        "findings_by_code": dict(sorted(by_code.items())),
        "snapshot_s": _spread(snapshots),
        "analyse_s": _spread(engines),
        "full_refresh_s": _spread(fulls),
        "first_full_refresh_s": round(first, 4),
        "warm_refresh_queries": queries[0],
        "maxrss_mb": _maxrss_mb(),
    }


class _QueryCounter:
    """Count the statements run inside the block (without DEBUG's query log)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.count = [0]

    def __enter__(self) -> list[int]:
        def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            self.count[0] += 1
            return execute(sql, params, many, context)

        self._ctx = self.connection.execute_wrapper(wrapper)
        self._ctx.__enter__()
        return self.count

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def _profile(slug: str, now: dt.datetime, vendor: str) -> list[Path]:
    from lockstep.alignment.models import Finding
    from lockstep.alignment.services import findings_refresh_full
    from lockstep.org.models import Organisation

    org = Organisation.objects.get(slug=slug)
    VAR.mkdir(parents=True, exist_ok=True)
    written = []
    for label in ("warm", "cold"):
        if label == "cold":
            Finding.objects.filter(organisation=org).delete()
        profiler = cProfile.Profile()
        profiler.enable()
        findings_refresh_full(org, now=now)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        path = VAR / f"profile-{vendor}-{label}.txt"
        path.write_text(out.getvalue())
        written.append(path)
    return written


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        nproc = os.cpu_count() or 0
    return {
        "nproc": nproc,
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _database() -> dict[str, Any]:
    import django
    from django.db import connection

    if connection.vendor == "sqlite":
        import sqlite3

        version = sqlite3.sqlite_version
        size = Path(connection.settings_dict["NAME"]).stat().st_size
    else:
        with connection.cursor() as cur:
            cur.execute(
                "select current_setting('server_version'), pg_database_size(current_database())"
            )
            version, size = cur.fetchone()
    return {
        "vendor": connection.vendor,
        "version": version,
        "name": Path(str(connection.settings_dict["NAME"])).name,
        "size_mb": round(size / 2**20, 1),
        "django": django.get_version(),
    }


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _cell(spread: dict[str, float]) -> str:
    return f"{spread['median']:.3f} ({spread['min']:.3f}-{spread['max']:.3f})"


def _table(results: list[dict[str, Any]], runs: int) -> str:
    head = (
        "| organisation | units | KRs | check-ins | dependencies | findings "
        "| snapshot s | analyse s | full refresh s | first refresh s | queries | peak RSS MB |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    rows = "".join(
        f"| {r['organisation']} | {r['units']:,} | {r['key_results']:,} | {r['checkins']:,} "
        f"| {r['dependencies']:,} | {r['findings']:,} | {_cell(r['snapshot_s'])} "
        f"| {_cell(r['analyse_s'])} | {_cell(r['full_refresh_s'])} "
        f"| {r['first_full_refresh_s']:.3f} | {r['warm_refresh_queries']} | {r['maxrss_mb']:,} |\n"
        for r in results
    )
    note = (
        f"\nMedian of {runs} runs (min-max). First refresh: the findings store emptied "
        "beforehand, so every finding is inserted. Queries: statements of one warm full "
        "refresh. Peak RSS: the timing process after that organisation.\n"
    )
    return head + rows + note


def _save(record: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"analysis-{dt.date.today().isoformat()}.json"
    runs: list[dict[str, Any]] = []
    if path.exists():
        runs = json.loads(path.read_text()).get("runs", [])
    same = (record["database"]["vendor"], record["args"]["krs"])
    runs = [r for r in runs if (r["database"]["vendor"], r["args"]["krs"]) != same]
    runs.append(record)
    path.write_text(json.dumps({"runs": runs}, indent=2, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = VAR / f"run-{stamp}-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    _configure(args.database_url, run_dir)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        print(f"preparing: migrate, demo, synthetic organisation of {args.krs:,} KRs …", flush=True)
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            prepared = pool.submit(
                _prepare,
                args.database_url,
                str(run_dir),
                now.isoformat(),
                args.krs,
                args.seed,
                args.flush,
            ).result()
        print(
            f"prepared: demo in {prepared['demo_seconds']} s, synthetic organisation in "
            f"{prepared['synth_seconds']} s",
            flush=True,
        )
        import django

        django.setup()
        results = []
        for slug in (DEMO_SLUG, SYNTH_SLUG):
            print(f"timing {slug} …", flush=True)
            results.append(_measure(slug, now, args.runs))
        database = _database()
        profiles = _profile(SYNTH_SLUG, now, database["vendor"]) if args.profile else []
        record = {
            "date": dt.date.today().isoformat(),
            "now": now.isoformat(),
            "commit": _commit(),
            "machine": _machine(),
            "database": database,
            "args": {"krs": args.krs, "runs": args.runs, "seed": args.seed},
            "preparation": prepared,
            "results": results,
        }
        path = _save(record)
        machine = record["machine"]
        print()
        print(
            f"{machine['nproc']} CPU ({machine['cpu']}), {machine['platform']}, Python "
            f"{machine['python']}, {database['vendor']} {database['version']} "
            f"({database['size_mb']} MB), Django {database['django']}"
        )
        print()
        print(_table(results, args.runs))
        print(f"written: {path.relative_to(ROOT)}")
        for p in profiles:
            print(f"profile: {p.relative_to(ROOT)}")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
