"""The `lockstep` command: demo data, serving, status, plans, import/export, backup/restore."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lockstep.settings")
    import django

    django.setup()


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _organisation(slug: str | None) -> Any:
    from lockstep.org.models import Organisation

    if slug:
        org = Organisation.objects.filter(slug=slug).first()
        if org is None:
            raise SystemExit(f"lockstep: no organisation with slug {slug!r}")
        return org
    orgs = list(Organisation.objects.order_by("slug")[:2])
    if len(orgs) != 1:
        found = ", ".join(o.slug for o in Organisation.objects.order_by("slug")) or "none"
        raise SystemExit(f"lockstep: name the organisation with --org (found: {found})")
    return orgs[0]


def cmd_demo(args: argparse.Namespace) -> int:
    from lockstep.demo.loader import (
        DEMO_PASSWORD,
        DEMO_USERNAME,
        demo_exists,
        load_demo,
        remove_demo,
    )

    _migrate()
    if demo_exists():
        if args.if_empty:
            print(f"Demo organisation already loaded. Sign in as {DEMO_USERNAME} / {DEMO_PASSWORD}")
            return 0
        if not args.reset:
            print(
                "lockstep: the demo organisation exists; use --reset to load it again",
                file=sys.stderr,
            )
            return 1
        remove_demo()
    org = load_demo()
    print(
        f"Loaded the demo organisation {org.name!r}. Sign in as {DEMO_USERNAME} / {DEMO_PASSWORD}"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    _migrate()
    url = f"http://{args.host}:{args.port}/"
    print(f"Lockstep is serving on {url}  (API docs: {url}api/v1/docs)", flush=True)
    from lockstep.demo.loader import DEMO_PASSWORD, DEMO_USERNAME, demo_exists

    if demo_exists():
        print(f"Demo login: {DEMO_USERNAME} / {DEMO_PASSWORD}", flush=True)
    uvicorn.run(
        "lockstep.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        lifespan="off",
    )
    return 0


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    from django.db.models import Q

    from lockstep.goals import selectors
    from lockstep.goals.models import Cycle
    from lockstep.org.models import Unit

    org = _organisation(args.org)
    query = selectors.objectives_query(org).filter(archived_at__isnull=True)
    if args.cycle:
        cycle = Cycle.objects.filter(organisation=org, key=args.cycle).first()
        if cycle is None:
            raise SystemExit(f"lockstep: unknown cycle {args.cycle!r}")
        query = query.filter(cycle=cycle)
    if args.unit:
        unit = Unit.objects.filter(organisation=org, key=args.unit).first()
        if unit is None:
            raise SystemExit(f"lockstep: unknown unit {args.unit!r}")
        query = query.filter(
            Q(owner_unit=unit) | Q(contributors=unit) | Q(key_results__owner_unit=unit)
        ).distinct()
    objectives = list(query.order_by("cycle__start", "key"))
    numbers = selectors.objective_numbers([o.pk for o in objectives], organisation=org)
    krs = (
        selectors.key_results_query(org)
        .filter(objective__in=objectives, archived_at__isnull=True)
        .order_by("key")
    )
    by_objective: dict[int, list[Any]] = {}
    for kr in krs:
        by_objective.setdefault(kr.objective_id, []).append(kr)
    rows = [["ITEM", "OWNER", "PROGRESS", "PACE", "STATUS"]]
    for o in objectives:
        n = numbers[o.pk]
        owner = o.owner_unit.key if o.owner_unit else ",".join(u.key for u in o.contributors.all())
        rows.append(
            [
                f"{o.title} [{o.cycle.key}]",
                owner,
                f"{n.progress:.0%}",
                f"{n.expected:.0%}",
                n.status,
            ]
        )
        for kr in by_objective.get(o.pk, []):
            k = selectors.kr_numbers(kr, organisation=org)
            rows.append(
                [
                    f"  - {kr.title}",
                    kr.owner_unit.key if kr.owner_unit else "(none)",
                    f"{k.progress:.0%}",
                    f"{k.expected:.0%}",
                    k.status,
                ]
            )
    if len(rows) == 1:
        print("No objectives match.")
        return 0
    print(_table(rows))
    return 0


def _read(path: str) -> str:
    """A plan or plan CSV, refused past LOCKSTEP_MAX_PLAN_MB (default 50): a plan is read
    whole and checked in memory (check-in CSVs stream and have no such limit)."""
    limit = int(os.environ.get("LOCKSTEP_MAX_PLAN_MB", "50")) * 1024 * 1024
    try:
        with (
            open(path, encoding="utf-8")
            if path != "-"
            else contextlib.nullcontext(sys.stdin) as stream
        ):
            text = stream.read(limit + 1)
    except OSError as exc:
        raise SystemExit(f"lockstep: cannot read {path}: {exc.strerror}") from None
    if len(text) > limit:
        raise SystemExit(
            f"lockstep: {path} is over {limit // (1024 * 1024)} MB (LOCKSTEP_MAX_PLAN_MB); "
            "nothing was read into the organisation"
        )
    return text


def cmd_plan(args: argparse.Namespace) -> int:
    from lockstep.org.models import Organisation
    from lockstep.plans import PlanError, plan_apply, plan_diff, plan_from_db, plan_load

    try:
        plan = plan_load(_read(args.file), source=args.file)
        if args.action == "validate":
            print(f"{args.file}: valid")
            return 0
        existing = Organisation.objects.filter(slug=plan.organisation.slug).first()
        if args.action == "diff":
            current = plan_from_db(existing) if existing else None
            changes = plan_diff(current, plan)
            print("\n".join(map(str, changes)) if changes else "No changes.")
            return 0
        result = plan_apply(plan, prune=args.prune)
    except PlanError as exc:
        for problem in exc.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        return 1
    print("\n".join(map(str, result.changes)) if result.changes else "No changes.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from lockstep.plans import csv_export, plan_dump, plan_from_db

    org = _organisation(args.org)
    text = plan_dump(plan_from_db(org)) if args.format == "yaml" else csv_export(org)
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from lockstep.plans import PlanError, csv_import

    org = _organisation(args.org)
    try:
        result = csv_import(org, _read(args.file))
    except PlanError as exc:
        for problem in exc.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        return 1
    print("\n".join(map(str, result.changes)) if result.changes else "No changes.")
    return 0


def cmd_import_checkins(args: argparse.Namespace) -> int:
    from lockstep.errors import LockstepError
    from lockstep.goals.imports import checkins_import_csv
    from lockstep.plans import PlanError

    org = _organisation(args.org)
    try:
        with (
            open(args.file, encoding="utf-8-sig", newline="")
            if args.file != "-"
            else contextlib.nullcontext(sys.stdin)
        ) as stream:
            result = checkins_import_csv(
                organisation=org,
                text_or_stream=stream,
                actor=None,
                findings=not args.numbers_only,
                again=args.again,
            )
    except OSError as exc:
        raise SystemExit(f"lockstep: cannot read {args.file}: {exc.strerror}") from None
    except PlanError as exc:
        for problem in exc.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        return 1
    except LockstepError as exc:
        print(f"lockstep: {exc.message}", file=sys.stderr)
        return 1
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
    print(
        f"Imported {result.checkins:,} check-ins on {result.key_results:,} key results "
        f"in {result.timings['total']:.1f} s ({steps})"
    )
    if not args.numbers_only and not result.findings_refreshed:
        print(
            "lockstep: the check-ins are stored, but refreshing the findings failed; "
            "run `lockstep check` (do not import the file again)",
            file=sys.stderr,
        )
    return 0


def _print_findings(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        print("No findings.")
        return
    table = [["SEVERITY", "CODE", "SUBJECT", "TITLE"]]
    table += [[r["severity"], r["code"], r["subject"], r["title"]] for r in rows]
    print(_table(table))
    counts = {s: sum(1 for r in rows if r["severity"] == s) for s in ("error", "warning", "info")}
    print(f"\n{counts['error']} errors, {counts['warning']} warnings, {counts['info']} info")


def cmd_check(args: argparse.Namespace) -> int:
    """Findings of a plan file (no database needed) or of an organisation in the database."""
    if args.file:
        from lockstep.plans import PlanError
        from lockstep.plans.check import check_plan_rows

        try:
            rows = check_plan_rows(_read(args.file), source=args.file)
        except PlanError as exc:
            for problem in exc.problems:
                print(f"{args.file}: {problem}", file=sys.stderr)
            return 2
    else:
        from lockstep.alignment.services import finding_rows, findings_refresh_full

        org = _organisation(args.org)
        rows = finding_rows(org, findings_refresh_full(org))
    _print_findings(rows, args.format)
    return 1 if any(r["severity"] == "error" for r in rows) else 0


def cmd_synth(args: argparse.Namespace) -> int:
    """Generate a synthetic organisation through the bulk path, then compute its findings."""
    from lockstep.alignment.services import findings_refresh_full
    from lockstep.bulk import tables_analyze
    from lockstep.org.models import Organisation
    from lockstep.synth import PROFILES, synth_generate

    _migrate()
    profile = PROFILES[args.profile] if args.profile else None
    krs = args.krs or (profile.krs if profile else 1000)
    stats = synth_generate(
        slug=args.slug,
        krs=krs,
        seed=args.seed,
        elapsed_weeks=profile.elapsed_weeks if profile else None,
    )
    org = Organisation.objects.get(slug=args.slug)
    found = findings_refresh_full(org)
    # The first refresh writes every row's numbers and all findings: analyse those too.
    tables_analyze()
    print(json.dumps({**stats.as_dict(), "findings": len(found)}, indent=2, default=str))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Back up the whole database to FILE (SQLite file copy, or gzip JSON of every row)."""
    from lockstep.backup import BackupError, backup_create

    try:
        result = backup_create(path=Path(args.file), fmt=args.format)
    except (BackupError, OSError) as exc:
        print(f"lockstep: backup failed: {exc}", file=sys.stderr)
        return 1
    rows = f", {result.rows:,} rows" if result.rows is not None else ""
    print(f"Backed up to {result.path} ({result.format}{rows})")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore FILE into the database, all or nothing; refuses a non-empty one without --force."""
    from lockstep.backup import BackupError, backup_format_of, backup_restore

    try:
        if backup_format_of(Path(args.file)) == "json":
            _migrate()  # rows load into this code's schema
        result = backup_restore(path=Path(args.file), force=args.force)
    except (BackupError, OSError) as exc:
        print(f"lockstep: restore refused, the database is unchanged: {exc}", file=sys.stderr)
        return 1
    _migrate()  # a backup of older code gets this code's migrations
    rows = f", {result.rows:,} rows" if result.rows is not None else ""
    print(f"Restored {result.path} ({result.format}{rows})")
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["lockstep manage", *args.rest])
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lockstep", description="Keep departments in step.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="load the demo organisation (migrates first)")
    d.add_argument("--reset", action="store_true", help="delete and reload the demo organisation")
    d.add_argument("--if-empty", action="store_true", help="do nothing if it is already loaded")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="serve the web app and API (migrates first)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_serve)

    st = sub.add_parser("status", help="a progress table of objectives and key results")
    st.add_argument("--org", help="organisation slug (default: the only one)")
    st.add_argument("--unit", help="unit key")
    st.add_argument("--cycle", help="cycle key")
    st.set_defaults(func=cmd_status)

    pl = sub.add_parser("plan", help="OKRs as code: validate, diff or apply a YAML plan")
    pl.add_argument("action", choices=["validate", "diff", "apply"])
    pl.add_argument("file", help="the plan file, or - for standard input")
    pl.add_argument(
        "--prune", action="store_true", help="apply: archive what the plan no longer lists"
    )
    pl.set_defaults(func=cmd_plan)

    ex = sub.add_parser("export", help="export objectives and key results")
    ex.add_argument("--org", help="organisation slug (default: the only one)")
    ex.add_argument("--format", choices=["yaml", "csv"], default="yaml")
    ex.add_argument("-o", "--output", help="file to write (default: standard output)")
    ex.set_defaults(func=cmd_export)

    im = sub.add_parser("import", help="import objectives and key results from CSV (atomic)")
    im.add_argument("file", help="the CSV file, or - for standard input")
    im.add_argument("--org", help="organisation slug (default: the only one)")
    im.set_defaults(func=cmd_import)

    ic = sub.add_parser(
        "import-checkins",
        help="import check-ins from CSV (key_result, at, value, confidence, note); atomic",
    )
    ic.add_argument("file", help="the CSV file, or - for standard input")
    ic.add_argument("--org", help="organisation slug (default: the only one)")
    ic.add_argument(
        "--numbers-only",
        action="store_true",
        help="refresh stored progress and status; leave the findings to the next full refresh",
    )
    ic.add_argument(
        "--again",
        action="store_true",
        help="import a file that was imported before (refused by default: it would double)",
    )
    ic.set_defaults(func=cmd_import_checkins)

    ck = sub.add_parser(
        "check", help="run the alignment engine on a plan file or the database; exit 1 on errors"
    )
    ck.add_argument(
        "file", nargs="?", help="a YAML plan (default: the organisation in the database)"
    )
    ck.add_argument("--org", help="organisation slug (default: the only one)")
    ck.add_argument("--format", choices=["table", "json"], default="table")
    ck.set_defaults(func=cmd_check)

    sy = sub.add_parser("synth", help="generate a synthetic organisation (seeded) for benchmarks")
    sy.add_argument("--slug", default="synth", help="slug of the new organisation")
    sy.add_argument(
        "--profile",
        choices=["small", "enterprise", "planet"],
        help="a named size: small (~1,000 KRs), enterprise (~350,000), planet (1,000,000)",
    )
    sy.add_argument(
        "--krs", type=int, help="number of key results (default 1000, or the profile's)"
    )
    sy.add_argument("--seed", type=int, default=1)
    sy.set_defaults(func=cmd_synth)

    bk = sub.add_parser("backup", help="back up the whole database to a file (consistent)")
    bk.add_argument("file", help="the backup file to write")
    bk.add_argument(
        "--format",
        choices=["sqlite", "json"],
        help="sqlite: a copy of the SQLite file (default on SQLite); "
        "json: gzip JSON of every row, portable between databases (default on PostgreSQL)",
    )
    bk.set_defaults(func=cmd_backup)

    rs = sub.add_parser("restore", help="restore a backup file, all or nothing")
    rs.add_argument("file", help="a file written by `lockstep backup`")
    rs.add_argument(
        "--force", action="store_true", help="replace a database that already holds data"
    )
    rs.set_defaults(func=cmd_restore)

    m = sub.add_parser(
        "manage", help="run a Django management command (migrate, createsuperuser, ...)"
    )
    m.add_argument("rest", nargs=argparse.REMAINDER)
    m.set_defaults(func=cmd_manage)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _setup()
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
