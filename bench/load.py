"""Benchmark: sustained API load on loopback, from wrk, against several uvicorn workers.

    .venv/bin/python bench/load.py --database-url URL --org SLUG \
        [--seconds 10] [--connections 16] [--workers 2] [--threads 2] [--conn-max-age N] \
        [--data-dir DIR]

The database must already hold organisation SLUG (the demo's `northwind`, or one made by
`lockstep.synth.synth_generate`). `load_run` then

1. prepares it in a child process: links a Django user to the organisation's first
   org-admin person (creating the user if none is linked), opens a session for it straight
   in the session table, and picks the key results a check-in may go to now: not archived,
   objective not closed, cycle running for longer than the test lasts, numeric kinds first;
2. starts `uvicorn lockstep.asgi:application --workers N` on a free port of 127.0.0.1,
   production-like (DEBUG off, a fresh secret key shared with the child), and waits until
   it answers a signed-in read and a check-in;
3. reads: wrk rotates over GET /api/v1/key-results/{id}, /api/v1/objectives?limit=20 and
   /api/v1/units/{id} (2:1:1) for `seconds`;
4. check-ins: wrk POSTs JSON check-ins to the key results in rotation for `seconds`; the
   wrk script keeps the id of every check-in the server acknowledged (201);
5. stops the server (SIGTERM to its process group, so in-flight requests finish) and counts,
   in another child, the organisation's check-in rows and how many acknowledged ids exist.

`conn_max_age` None leaves LOCKSTEP_DB_CONN_MAX_AGE to the settings' default, as `lockstep
serve` runs. On PostgreSQL the server uses its connection pool (LOCKSTEP_DB_POOL_*, see the
README), which ignores it; with LOCKSTEP_DB_POOL=0 in the environment a value above 0
shows why the pool is there: under ASGI every request runs in a thread of its own, so a
persistent connection is never reused and connections pile up until "too many clients".

`lost` is the acknowledged check-ins without a row (must be 0). `in_flight_at_stop` is the
rows nobody saw acknowledged: requests wrk had sent when its time was up, which the server
still finished; at most one per connection. Errors are every response outside 2xx plus
wrk's socket errors (connect, read, write, timeout); `statuses` shows which.

wrk (the Debian/Ubuntu package `wrk`) must be on PATH; the timing process is wrk itself,
so the server's workers and wrk share the CPU. Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WRK_SCRIPT = ROOT / "bench" / "wrk" / "requests.lua"
HOST = "127.0.0.1"
INSTALL_HINT = "wrk not installed (apt-get install wrk)"
REPORT_PREFIX = "lockstep-report "
# Key results the check-ins rotate over, and units the reads do; enough to spread row locks.
MAX_KEY_RESULTS = 500
MAX_UNITS = 200
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 20.0
CHILD_TIMEOUT = 600.0


class WrkMissing(RuntimeError):
    """wrk is not on PATH."""


def wrk_path() -> str:
    """The wrk executable, or WrkMissing saying how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing(f"{INSTALL_HINT}: bench/load.py drives the load with wrk")
    return path


# ---- wrk's output ----------------------------------------------------------------------

_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def _ms(number: str, unit: str) -> float:
    return float(number) * _TIME_UNITS_MS[unit]


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests, rate, latency percentiles (ms), socket errors and non-2xx of wrk's summary."""
    out: dict[str, Any] = {}
    m = re.search(rf"^\s*Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", text, re.M)
    if m:
        out["avg_ms"] = round(_ms(m[1], m[2]), 3)
        out["max_ms"] = round(_ms(m[5], m[6]), 3)
    for pct, number, unit in re.findall(rf"^\s*(\d+(?:\.\d+)?)%\s+{_TIME}\s*$", text, re.M):
        out[f"p{pct}_ms"] = round(_ms(number, unit), 3)
    m = re.search(rf"^\s*(\d+) requests in {_TIME}", text, re.M)
    if m is None:
        raise ValueError(f"not a wrk summary: {text[-500:]!r}")
    out["requests"] = int(m[1])
    out["duration_s"] = round(_ms(m[2], m[3]) / 1000, 3)
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    out["rps"] = float(m[1]) if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = dict(
        zip(("connect", "read", "write", "timeout"), (int(g) for g in m.groups()), strict=True)
        if m
        else dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    )
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx_3xx"] = int(m[1]) if m else 0
    return out


def parse_report(text: str) -> dict[str, Any]:
    """The line bench/wrk/requests.lua writes at the end: statuses, acknowledged ids."""
    for line in text.splitlines():
        if line.startswith(REPORT_PREFIX):
            report: dict[str, Any] = json.loads(line.removeprefix(REPORT_PREFIX))
            report["statuses"] = {int(k): v for k, v in report["statuses"].items()}
            return report
    raise ValueError("wrk printed no lockstep-report line (was the script run?)")


def _phase(summary: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    ok = sum(n for status, n in report["statuses"].items() if 200 <= status < 300)
    bad = sum(n for status, n in report["statuses"].items() if not 200 <= status < 300)
    return {
        "rps": round(summary["rps"], 1),
        "requests": summary["requests"],
        "ok": ok,
        "errors": bad + sum(summary["socket_errors"].values()),
        "statuses": {str(s): n for s, n in sorted(report["statuses"].items())},
        "socket_errors": summary["socket_errors"],
        "duration_s": summary["duration_s"],
        **{k: summary[k] for k in ("p50_ms", "p75_ms", "p90_ms", "p99_ms") if k in summary},
        "avg_ms": summary.get("avg_ms"),
        "max_ms": summary.get("max_ms"),
    }


# ---- the run ---------------------------------------------------------------------------


def load_run(
    *,
    database_url: str,
    data_dir: Path,
    org_slug: str,
    seconds: float = 10,
    connections: int = 16,
    workers: int = 2,
    threads: int = 2,
    conn_max_age: int | None = None,
) -> dict[str, Any]:
    """Serve organisation `org_slug` with uvicorn, load it with wrk: reads, then check-ins.

    `conn_max_age` sets LOCKSTEP_DB_CONN_MAX_AGE for the server; None keeps the settings'
    default.
    """
    wrk = wrk_path()
    if not 1 <= threads <= connections:
        raise ValueError("need 1 <= threads <= connections")
    if workers < 1 or seconds <= 0:
        raise ValueError("need workers >= 1 and seconds > 0")
    duration = max(1, math.ceil(seconds))
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _django_env(database_url, data_dir, conn_max_age)
    with tempfile.TemporaryDirectory(prefix="load-", dir=data_dir) as tmp:
        work = Path(tmp)
        plan = _child(env, "prepare", {"org": org_slug, "margin_seconds": 2 * duration + 300})
        cookie = f"sessionid={plan['session_key']}; csrftoken={plan['csrf_token']}"
        headers = {"Cookie": cookie}
        post_headers = {
            **headers,
            "Content-Type": "application/json",
            "X-CSRFToken": plan["csrf_token"],
        }
        reads = _read_requests(plan)
        checkins = _checkin_requests(plan)
        server_log = work / "server.log"
        report: dict[str, Any] = {
            "database": plan["vendor"],
            "organisation": org_slug,
            "workers": workers,
            "connections": connections,
            "threads": threads,
            "seconds": duration,
            "conn_max_age": plan["conn_max_age"],
            "pool": plan["pool"],
            "key_results": len(plan["key_results"]),
            # The CPU is shared with whatever else runs; a busy machine shows here.
            "nproc": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        }
        try:
            with _server(env, workers, server_log) as base:
                probe_rows = _probe(base, plan, headers, post_headers, reads, checkins)
                read_out, read_report = _wrk(
                    wrk, base, reads, headers, duration, connections, threads, work / "reads"
                )
                check_out, check_report = _wrk(
                    wrk,
                    base,
                    checkins,
                    post_headers,
                    duration,
                    connections,
                    threads,
                    work / "checkins",
                    capture_ids=True,
                )
        except BaseException:
            # Still delete the session, and keep the server's log if it holds a traceback.
            with contextlib.suppress(Exception):
                _server_log(server_log, keep_in=data_dir)
            with contextlib.suppress(Exception):
                _finish(env, org_slug, plan["session_key"], [], work)
            raise
        counted = _finish(env, org_slug, plan["session_key"], check_report["ids"], work)
        report["server_log"] = _server_log(server_log, keep_in=data_dir)
        report["reads"] = {**_phase(read_out, read_report), "mix": _mix(reads)}
        rows_added = counted["checkins"] - plan["checkins"] - probe_rows
        phase = _phase(check_out, check_report)
        report["checkins"] = {
            **phase,
            "unparsed_ok": check_report["unparsed"],
            "rows_added": rows_added,
            "lost": phase["ok"] - counted["found"],
            "in_flight_at_stop": rows_added - counted["found"],
        }
    return report


def _finish(
    env: dict[str, str], org_slug: str, session_key: str, ids: list[str], work: Path
) -> dict[str, Any]:
    ids_file = work / "acknowledged.json"
    ids_file.write_text(json.dumps(ids))
    args = {"org": org_slug, "session_key": session_key, "ids_file": str(ids_file)}
    return _child(env, "finish", args)


def _django_env(database_url: str, data_dir: Path, conn_max_age: int | None) -> dict[str, str]:
    env = dict(os.environ)
    # A caller's setting (the analysis benchmark exports 0) must not leak into the server.
    env.pop("LOCKSTEP_DB_CONN_MAX_AGE", None)
    if conn_max_age is not None:
        env["LOCKSTEP_DB_CONN_MAX_AGE"] = str(conn_max_age)
    env.update(
        DJANGO_SETTINGS_MODULE="lockstep.settings",
        LOCKSTEP_DATABASE_URL=database_url,
        LOCKSTEP_DATA_DIR=str(data_dir),
        LOCKSTEP_DEBUG="0",
        # Sessions and the auth hash are signed with it: child and server must share it.
        LOCKSTEP_SECRET_KEY=secrets.token_urlsafe(50),
        LOCKSTEP_ALLOWED_HOSTS=HOST,
        LOCKSTEP_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p
        ),
    )
    return env


def _child(env: dict[str, str], op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run a database step of this file in a fresh interpreter; its last line is JSON."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", op, json.dumps(args)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load.py {op} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _read_requests(plan: dict[str, Any]) -> list[tuple[str, str, str]]:
    rng = random.Random(1)
    krs = [kr["id"] for kr in plan["key_results"]]
    units = plan["units"] or [None]
    pages = max(1, min(5, math.ceil(plan["objectives"] / 20)))
    out = []
    for i in range(max(400, 2 * len(krs))):
        kind = ("kr", "objectives", "kr", "unit")[i % 4]
        if kind == "kr":
            path = f"/api/v1/key-results/{rng.choice(krs)}"
        elif kind == "unit" and units[0] is not None:
            path = f"/api/v1/units/{rng.choice(units)}"
        else:
            path = f"/api/v1/objectives?limit=20&offset={20 * rng.randrange(pages)}"
        out.append(("GET", path, ""))
    return out


def _checkin_requests(plan: dict[str, Any]) -> list[tuple[str, str, str]]:
    rng = random.Random(2)
    out = []
    for kr in plan["key_results"]:
        for _ in range(3):
            low, high = sorted((kr["start"], kr["target"]))
            if kr["kind"] == "milestone":
                value: float = rng.randint(0, int(kr["target"]))
            else:
                value = round(rng.uniform(low, high), 2)
            body = {"value": value, "confidence": rng.randint(3, 9), "note": "load test"}
            out.append(("POST", f"/api/v1/key-results/{kr['id']}/checkins", json.dumps(body)))
    rng.shuffle(out)
    return out


def _mix(requests: list[tuple[str, str, str]]) -> dict[str, int]:
    mix: dict[str, int] = {}
    for _, path, _ in requests:
        name = re.sub(r"/\d+", "/{id}", path.split("?")[0])
        mix[name] = mix.get(name, 0) + 1
    return mix


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(env: dict[str, str], workers: int, log: Path) -> Iterator[str]:
    """uvicorn in its own process group on a free loopback port; always stopped after."""
    port = _free_port()
    base = f"http://{HOST}:{port}"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "lockstep.asgi:application",
        "--workers",
        str(workers),
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "10",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(base, proc, log)
        yield base
    finally:
        _stop(proc)


def _wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited ({proc.returncode}):\n{_tail(log)}")
        try:
            _http("GET", base + "/login/", {}, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"uvicorn did not answer within {SERVER_START_TIMEOUT:.0f} s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=SERVER_STOP_TIMEOUT)
    # The workers are in the same group; make sure none outlives the supervisor.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _http(
    method: str, url: str, headers: dict[str, str], body: str = "", timeout: float = 10
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body.encode() if body else None, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _probe(
    base: str,
    plan: dict[str, Any],
    headers: dict[str, str],
    post_headers: dict[str, str],
    reads: list[tuple[str, str, str]],
    checkins: list[tuple[str, str, str]],
) -> int:
    """Fail early and clearly if signing in or a check-in does not work; warm the workers."""
    status, body = _http("GET", base + "/api/v1/organisation", headers)
    if status != 200:
        raise RuntimeError(f"signed-in GET /api/v1/organisation answered {status}: {body[:300]!r}")
    for _, path, _ in reads[:20]:
        status, body = _http("GET", base + path, headers)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    _, path, payload = checkins[0]
    status, body = _http("POST", base + path, post_headers, payload)
    if status != 201:
        raise RuntimeError(f"POST {path} answered {status}: {body[:300]!r}")
    return 1


def _wrk(
    wrk: str,
    base: str,
    requests: list[tuple[str, str, str]],
    headers: dict[str, str],
    duration: int,
    connections: int,
    threads: int,
    stem: Path,
    *,
    capture_ids: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    listing = stem.with_suffix(".tsv")
    listing.write_text("".join("\t".join(r).rstrip("\t") + "\n" for r in requests))
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += [base + "/", "--", str(listing)] + (["ids"] if capture_ids else [])
    proc = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    stem.with_suffix(".out").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return parse_wrk(proc.stdout), parse_report(proc.stdout)


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _server_log(log: Path, keep_in: Path) -> dict[str, Any]:
    """What the server complained about: 500s, tracebacks, 'database is locked'.

    A log with a traceback is copied to `keep_in`, since the run's own directory goes.
    """
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return {"lines": 0}
    lines = text.splitlines()
    out: dict[str, Any] = {
        "lines": len(lines),
        "internal_errors": text.count("Internal Server Error"),
        "tracebacks": text.count("Traceback (most recent call last)"),
        "database_locked": text.count("database is locked"),
    }
    # The last line of each traceback names the exception; keep the distinct ones.
    exceptions = sorted(
        {line for line in lines if re.match(r"^[\w.]+(Error|Exception|Locked|Denied)\b.*", line)}
    )
    if exceptions:
        out["exceptions"] = exceptions[:10]
    if lines and not exceptions:
        out["tail"] = lines[-10:]
    if out["tracebacks"]:
        kept = keep_in / f"load-server-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
        shutil.copyfile(log, kept)
        out["kept"] = str(kept)
    return out


# ---- the children: database steps ------------------------------------------------------


def _child_prepare(org_slug: str, margin_seconds: float) -> dict[str, Any]:
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, transaction
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from lockstep.core.progress import KRKind
    from lockstep.goals.models import CheckIn, KeyResult, Objective
    from lockstep.goals.selectors import cycle_window, org_tz
    from lockstep.org.models import Organisation, Person, Unit

    org = Organisation.objects.filter(slug=org_slug).first()
    if org is None:
        raise SystemExit(f"no organisation {org_slug!r} in this database")
    admins = Person.objects.filter(
        organisation=org, is_org_admin=True, archived_at__isnull=True
    ).order_by("pk")
    person = admins.filter(user__isnull=False, user__is_active=True).first() or admins.first()
    if person is None:
        raise SystemExit(f"organisation {org_slug!r} has no org-admin person to sign in as")
    with transaction.atomic():
        if person.user is None:
            User = get_user_model()
            user, _ = User.objects.get_or_create(username=f"load-{org.pk}-{person.pk}")
            # Linking a login to a person is set-up, not a product action: no service or
            # event, as the demo loader does for its sign-in.
            person.user = user
            person.save(update_fields=["user"])
        user = person.user
        session = SessionStore()
        session[SESSION_KEY] = user._meta.pk.value_to_string(user)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.set_expiry(6 * 3600)
        session.create()

    now = timezone.now()
    tz = org_tz(org)
    windows: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    numeric: list[dict[str, Any]] = []
    milestones: list[dict[str, Any]] = []
    rows = (
        KeyResult.objects.filter(
            organisation=org, archived_at__isnull=True, objective__archived_at__isnull=True
        )
        .exclude(objective__state=Objective.State.CLOSED)
        .select_related("objective__cycle")
        .order_by("pk")
    )
    for kr in rows.iterator(chunk_size=2000):
        cycle = kr.objective.cycle
        if cycle.pk not in windows:
            windows[cycle.pk] = cycle_window(cycle, tz)
        start, end = windows[cycle.pk]
        if not start <= now < end - dt.timedelta(seconds=margin_seconds):
            continue
        row = {"id": kr.pk, "kind": kr.kind, "start": kr.start, "target": kr.target}
        (milestones if kr.kind == KRKind.MILESTONE else numeric).append(row)
    rng = random.Random(3)
    chosen = rng.sample(numeric, min(len(numeric), MAX_KEY_RESULTS))
    if len(chosen) < 20:  # a tiny organisation: milestones take whole steps, also fine
        chosen += rng.sample(milestones, min(len(milestones), MAX_KEY_RESULTS - len(chosen)))
    if not chosen:
        raise SystemExit(f"organisation {org_slug!r} has no key result open for check-ins now")
    units = list(
        Unit.objects.filter(organisation=org, archived_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:MAX_UNITS]
    )
    return {
        "vendor": connection.vendor,
        "conn_max_age": connection.settings_dict["CONN_MAX_AGE"],
        "pool": connection.settings_dict["OPTIONS"].get("pool"),
        "username": user.get_username(),
        "person_id": person.pk,
        "session_key": session.session_key,
        # Any 32 letters and digits make a valid CSRF secret; the header repeats the cookie.
        "csrf_token": get_random_string(32),
        "key_results": sorted(chosen, key=lambda r: r["id"]),
        "units": units,
        "objectives": Objective.objects.filter(organisation=org, archived_at__isnull=True).count(),
        "checkins": CheckIn.objects.filter(organisation=org).count(),
    }


def _child_finish(org_slug: str, session_key: str, ids_file: str) -> dict[str, Any]:
    from django.contrib.sessions.models import Session

    from lockstep.goals.models import CheckIn

    ids = [int(i) for i in json.loads(Path(ids_file).read_text())]
    rows = CheckIn.objects.filter(organisation__slug=org_slug)
    found = 0
    for i in range(0, len(ids), 5000):  # SQLite caps the parameters of one statement
        found += rows.filter(pk__in=ids[i : i + 5000]).count()
    Session.objects.filter(session_key=session_key).delete()
    return {"checkins": rows.count(), "found": found, "acknowledged": len(ids)}


def _child_main(op: str, raw: str) -> int:
    import django

    django.setup()
    args = json.loads(raw)
    if op == "prepare":
        result = _child_prepare(args["org"], args["margin_seconds"])
    elif op == "finish":
        result = _child_finish(args["org"], args["session_key"], args["ids_file"])
    else:
        raise SystemExit(f"unknown child step {op!r}")
    print(json.dumps(result))
    return 0


# ---- the command line ------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child_main(argv[1], argv[2])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", required=True, help="sqlite:///path or postgres://…")
    p.add_argument("--org", required=True, help="slug of the organisation to load")
    p.add_argument("--seconds", type=float, default=10, help="length of each wrk run")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument(
        "--conn-max-age", type=int, help="LOCKSTEP_DB_CONN_MAX_AGE of the server (default: unset)"
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=ROOT / "var" / "bench",
        help="LOCKSTEP_DATA_DIR of the server, and where run files live meanwhile",
    )
    args = p.parse_args(argv)
    try:
        result = load_run(
            database_url=args.database_url,
            data_dir=args.data_dir,
            org_slug=args.org,
            seconds=args.seconds,
            connections=args.connections,
            workers=args.workers,
            threads=args.threads,
            conn_max_age=args.conn_max_age,
        )
    except WrkMissing as e:
        print(e, file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
