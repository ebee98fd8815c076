"""Bulk import of check-ins from CSV: a million rows in one pass, all or nothing.

`checkin_record` writes one check-in at a time (lock the KR, insert, update its running
values, re-roll its objective chain, record an event, refresh its findings): about a
hundred check-ins a second. An import of history would take hours that way, so this path
follows the rules of `checkin_record` in bulk instead:

1. Read and check every row before writing anything: the KR (its key, or its numeric id)
   exists in the organisation, is not archived and its objective is not closed; `at` is
   an ISO date or date-time inside the KR's cycle and not in the future (a date means
   midnight, a time without offset is read in the organisation's time zone); `value` is
   a finite number (a milestone: whole steps from 0 to its target); `confidence` is a
   whole number from 1 to 10 (empty: the KR's last confidence at that point, else 5).
   Each problem names its line and column; up to MAX_PROBLEMS are reported and nothing is
   written. The organisation's KRs are read once, as plain tuples.
2. Meanwhile fold each KR's rows into what they add to its running values: count and the
   least-squares sums (t in days since the cycle start, as `core.forecast.days_since`),
   and the latest row by time (the last in the file among equal times), which becomes the
   current value only if it is not older than the KR's own last check-in.
3. In one transaction: insert the check-ins through the bulk path (`lockstep.bulk`;
   on PostgreSQL their foreign keys are checked by the COPY, not queued to the commit),
   add the folded values to every touched KR in one UPDATE … FROM a temporary table (sums
   are added to what is stored, so a check-in recorded meanwhile is not lost; on
   PostgreSQL the same UPDATE stores the KR's new progress and status), refresh the
   stored numbers of the whole organisation once (it rewrites only what differs), and
   record one `checkin.imported` event. Any failure rolls all of it back.
4. After the commit, by default, refresh the findings once (`findings_refresh_full`).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import logging
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TextIO, cast

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from lockstep.activity.models import ActivityEvent
from lockstep.activity.services import event_record
from lockstep.alignment.services import findings_refresh_full
from lockstep.bulk import bulk_insert
from lockstep.core.forecast import cycle_origin
from lockstep.core.progress import KRKind
from lockstep.errors import Conflict
from lockstep.goals.models import CheckIn, Cycle, KeyResult, Objective
from lockstep.goals.selectors import cycle_window, kr_pace, margins_of, org_tz
from lockstep.goals.services import CLOCK_SKEW, numbers_refresh_full
from lockstep.keys import is_id
from lockstep.org.models import Organisation, Person
from lockstep.plans.csvio import unguard
from lockstep.plans.problems import PlanError, Problem

REQUIRED_COLUMNS = ("key_result", "at", "value")
OPTIONAL_COLUMNS = ("confidence", "note")
MAX_PROBLEMS = 50
DEFAULT_CONFIDENCE = 5
SOURCE = "<check-ins csv>"
_DAY_SECONDS = 86_400.0
logger = logging.getLogger(__name__)
_UTC = dt.UTC


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote, and how long each step took (seconds)."""

    checkins: int
    key_results: int
    findings_refreshed: bool
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Cycle:
    key: str
    start: dt.date
    end: dt.date
    opens: dt.datetime  # the cycle's window in UTC: [opens, closes)
    closes: dt.datetime
    origin: dt.datetime  # t = 0 of the forecast sums, in UTC


@dataclass(frozen=True)
class _KR:
    pk: int
    key: str
    cycle_id: int
    milestone_steps: int | None  # a milestone's target (whole steps); None for other kinds
    archived: bool
    closed: bool
    last_at: Any  # as the driver returns it
    last_confidence: int | None
    # What its progress and status are computed from (goals.selectors.kr_pace), as read.
    kind: str
    start: float
    target: float
    due: dt.date | None
    current_value: float | None
    checkin_count: int


class _Folded:
    """What one KR's imported rows add: count, sums, and the latest row by time."""

    __slots__ = ("at", "confidence", "n", "st", "stt", "stv", "sv", "value")

    def __init__(self) -> None:
        self.n = 0
        self.st = self.sv = self.stt = self.stv = 0.0
        self.at: dt.datetime | None = None
        self.value = 0.0
        self.confidence = 0


class _Digesting:
    """A text stream read line by line that hashes what passes through it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.sha = hashlib.sha256()

    def __iter__(self) -> Iterator[str]:
        for line in self.stream:
            self.sha.update(line.encode("utf-8"))
            yield line

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


def _refuse_a_second_import(organisation: Organisation, digest: str) -> None:
    earlier = (
        ActivityEvent.objects.filter(
            organisation=organisation, verb="checkin.imported", after__sha256=digest
        )
        .order_by("-at")
        .first()
    )
    if earlier is not None:
        raise Conflict(
            f"this file was already imported on {earlier.at:%Y-%m-%d %H:%M} UTC "
            f"({(earlier.after or {}).get('checkins')} check-ins); nothing was written. "
            "Import it once more with --again."
        )


def checkins_import_csv(
    *,
    organisation: Organisation,
    text_or_stream: str | TextIO,
    actor: Person | None,
    findings: bool = True,
    again: bool = False,
) -> ImportResult:
    """Check every row, then write all check-ins and their KRs' running values atomically.

    The file's SHA-256 is its idempotency key: a file already imported into the
    organisation is refused (nothing written) unless `again` says to import it once more.
    """
    began = time.perf_counter()
    now = timezone.now()
    reader = _Reader(organisation, now)
    stream = _Digesting(
        io.StringIO(text_or_stream) if isinstance(text_or_stream, str) else text_or_stream
    )
    reader.read(cast(TextIO, stream))
    if reader.problems:
        raise PlanError(reader.problems, source=SOURCE)
    digest = stream.hexdigest()
    timings = {"read": time.perf_counter() - began}
    with transaction.atomic(), _large_page_cache():
        # Imports into one organisation take turns, so two runs of one file cannot both
        # find it new.
        Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        if not again:
            _refuse_a_second_import(organisation, digest)
        _recheck(organisation, reader)
        step = time.perf_counter()
        # In KR order the rows land next to each other in the (key_result, at) index; the
        # sort is stable, so rows of one KR and one moment keep their order in the file.
        reader.rows.sort(key=itemgetter(0, 1))
        author_id = actor.pk if actor is not None else None
        with _foreign_keys_checked_now():
            written = bulk_insert(
                CheckIn,
                (
                    {
                        "organisation_id": organisation.pk,
                        "key_result_id": kr_id,
                        "at": at,
                        "value": value,
                        "confidence": confidence,
                        "note": note,
                        "author_id": author_id,
                        "source": CheckIn.Source.IMPORT,
                    }
                    for kr_id, at, value, confidence, note in reader.rows
                ),
            )
        step = _lap(timings, "insert", step)
        _running_values_add(reader, organisation, now)
        step = _lap(timings, "running_values", step)
        # The touched KRs' numbers are stored by now; their objectives' roll-ups moved, and
        # the clock may have moved other KRs' status: past a few thousand KRs one full
        # refresh (which rewrites only what differs) beats the incremental path.
        numbers_refresh_full(organisation, now=now)
        step = _lap(timings, "numbers", step)
        event_record(
            organisation=organisation,
            actor=actor,
            verb="checkin.imported",
            obj=organisation,
            at=now,
            after={"checkins": written, "key_results": len(reader.folded), "sha256": digest},
        )
    step = _lap(timings, "commit", step)
    refreshed = False
    if findings:
        # Findings are derived: refreshed after the commit, so SQLite's write lock is not
        # held through a whole analysis. A failure here must not read as a failed import
        # (run again, it would add every check-in twice): the next full refresh catches up.
        # Inside a caller's transaction a savepoint keeps a failure from breaking it.
        try:
            with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
                findings_refresh_full(organisation)
            refreshed = True
        except Exception:
            logger.exception("findings refresh after importing check-ins failed")
        _lap(timings, "findings", step)
    timings["total"] = time.perf_counter() - began
    return ImportResult(
        checkins=written,
        key_results=len(reader.folded),
        findings_refreshed=refreshed,
        timings=timings,
    )


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    now = time.perf_counter()
    timings[name] = now - since
    return now


# ---- reading and checking ---------------------------------------------------------------


class _Reader:
    """The rows of one file checked against the organisation's KRs and cycles."""

    def __init__(self, organisation: Organisation, now: dt.datetime) -> None:
        self.tz = org_tz(organisation)
        self.latest = now.astimezone(_UTC) + CLOCK_SKEW
        self.cycles = _cycles_of(organisation, self.tz)
        self.by_key, self.by_id = _krs_of(organisation)
        self.problems: list[Problem] = []
        # (KR id, at in UTC, value, confidence, note), in file order.
        self.rows: list[tuple[int, dt.datetime, float, int, str]] = []
        self.folded: dict[int, _Folded] = {}

    def problem(self, line: int, column: str, message: str) -> bool:
        """Note a problem (up to MAX_PROBLEMS); False once there are too many to go on."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(line, column, message))
        return len(self.problems) < MAX_PROBLEMS

    def read(self, stream: TextIO) -> None:
        """Check every row, keep the good ones and fold them by KR."""
        reader = csv.reader(stream)
        header = [cell.strip().lower() for cell in next(reader, [])]
        if header:
            header[0] = header[0].removeprefix("\ufeff")
        columns = self._columns(header)
        if columns is None:
            return
        width = len(header)
        k_kr, k_at, k_value = (columns[c] for c in REQUIRED_COLUMNS)
        k_conf, k_note = (columns.get(c) for c in OPTIONAL_COLUMNS)
        # A quoted cell may span lines: a row is named by the line it starts on.
        line = reader.line_num + 1
        for cells in reader:
            here, line = line, reader.line_num + 1
            if len(cells) != width:
                if any(c.strip() for c in cells) and not self.problem(
                    here, "", f"has {len(cells)} cells; expected {width}"
                ):
                    break
                continue
            if not self._row(
                here,
                cells[k_kr].strip(),
                cells[k_at].strip(),
                cells[k_value].strip(),
                cells[k_conf].strip() if k_conf is not None else "",
                unguard(cells[k_note].strip()) if k_note is not None else "",
            ):
                break
        else:
            if not self.rows and not self.problems:
                self.problem(line, "", "the file has no check-ins")
            return
        self.problems.append(Problem(None, "", f"stopped reading after {MAX_PROBLEMS} problems"))

    def _columns(self, header: list[str]) -> dict[str, int] | None:
        known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
        columns = {name: i for i, name in enumerate(header)}
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        unknown = [c for c in header if c not in known]
        twice = sorted({c for c in header if header.count(c) > 1})
        if missing or unknown or twice:
            parts = [
                *([f"missing {', '.join(missing)}"] if missing else []),
                *([f"unknown {', '.join(unknown)}"] if unknown else []),
                *([f"repeated {', '.join(twice)}"] if twice else []),
            ]
            self.problem(
                1,
                "",
                f"the header row must name the columns {', '.join(REQUIRED_COLUMNS)} "
                f"and optionally {', '.join(OPTIONAL_COLUMNS)} ({'; '.join(parts)})",
            )
            return None
        return columns

    def _row(
        self, line: int, ref: str, at_text: str, value_text: str, conf: str, note: str
    ) -> bool:
        """Check one row and fold it; False once there are too many problems to go on."""
        kr = self.by_key.get(ref)
        if kr is None and is_id(ref):
            kr = self.by_id.get(int(ref))
        if kr is None:
            why = "is required" if not ref else f"no key result {ref!r} in this organisation"
            return self.problem(line, "key_result", why)
        if kr.archived or kr.closed:
            why = "is archived" if kr.archived else "belongs to a closed objective"
            self.problem(line, "key_result", f"key result {kr.key!r} {why}")
        cycle = self.cycles[kr.cycle_id]
        at = self._moment(line, at_text, cycle)
        value = self._value(line, value_text, kr)
        confidence = self._confidence(line, conf, kr)
        if at is None or value is None or confidence is None or kr.archived or kr.closed:
            return len(self.problems) < MAX_PROBLEMS
        t = (at - cycle.origin).total_seconds() / _DAY_SECONDS
        folded = self.folded.get(kr.pk)
        if folded is None:
            folded = self.folded[kr.pk] = _Folded()
        folded.n += 1
        folded.st += t
        folded.sv += value
        folded.stt += t * t
        folded.stv += t * value
        if folded.at is None or at >= folded.at:
            folded.at, folded.value, folded.confidence = at, value, confidence
        self.rows.append((kr.pk, at, value, confidence, note))
        return True

    def _moment(self, line: int, text: str, cycle: _Cycle) -> dt.datetime | None:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            why = "is required" if not text else f"must be an ISO date or date-time (got {text!r})"
            self.problem(line, "at", why)
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        moment = moment.astimezone(_UTC)
        if not cycle.opens <= moment < cycle.closes:
            self.problem(
                line,
                "at",
                f"must lie inside the cycle {cycle.key!r} ({cycle.start} to {cycle.end})",
            )
            return None
        if moment > self.latest:
            self.problem(line, "at", "must not be in the future")
            return None
        return moment

    def _value(self, line: int, text: str, kr: _KR) -> float | None:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self.problem(line, "value", f"must be a finite number (got {text!r})")
            return None
        steps = kr.milestone_steps
        if steps is not None and not (0 <= value <= steps and value == int(value)):
            self.problem(line, "value", f"must be a whole number of steps from 0 to {steps}")
            return None
        return value

    def _confidence(self, line: int, text: str, kr: _KR) -> int | None:
        if not text:
            return self._last_confidence(kr)
        try:
            confidence = int(text)
        except ValueError:
            confidence = 0
        if not 1 <= confidence <= 10:
            self.problem(line, "confidence", f"must be a whole number from 1 to 10 (got {text!r})")
            return None
        return confidence

    def _last_confidence(self, kr: _KR) -> int:
        """The KR's last confidence as `checkin_record` would have left it by this row."""
        folded = self.folded.get(kr.pk)
        if folded is not None:
            stored_at = _as_utc(kr.last_at)
            if stored_at is None or folded.at is None or folded.at >= stored_at:
                return folded.confidence
        return kr.last_confidence or DEFAULT_CONFIDENCE


def _as_utc(value: Any) -> dt.datetime | None:
    """A stored date-time as the driver returns it (SQLite: naive UTC text) in UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)


def _cycles_of(organisation: Organisation, tz: dt.tzinfo) -> dict[int, _Cycle]:
    out = {}
    for cycle in Cycle.objects.filter(organisation=organisation):
        opens, closes = cycle_window(cycle, tz)
        out[cycle.pk] = _Cycle(
            cycle.key,
            cycle.start,
            cycle.end,
            opens.astimezone(_UTC),
            closes.astimezone(_UTC),
            cycle_origin(cycle.start, tz).astimezone(_UTC),
        )
    return out


def _krs_of(organisation: Organisation) -> tuple[dict[str, _KR], dict[int, _KR]]:
    """Every KR of the organisation by key and by id, read as plain tuples in one query."""
    q = connection.ops.quote_name
    kr_table, objective_table = q(KeyResult._meta.db_table), q(Objective._meta.db_table)
    by_key: dict[str, _KR] = {}
    by_id: dict[int, _KR] = {}
    milestone, closed = KRKind.MILESTONE.value, Objective.State.CLOSED.value
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT k.id, k.key, k.kind, k.target, k.archived_at IS NOT NULL, o.state, "
            f"o.cycle_id, k.last_checkin_at, k.last_confidence, k.start, k.due, "
            f"k.current_value, k.checkin_count "
            f"FROM {kr_table} k JOIN {objective_table} o ON o.id = k.objective_id "
            f"WHERE k.organisation_id = %s",
            [organisation.pk],
        )
        for (
            pk,
            key,
            kind,
            target,
            archived,
            state,
            cycle_id,
            last_at,
            last_conf,
            start,
            due,
            current_value,
            checkin_count,
        ) in cursor:
            kr = _KR(
                pk,
                key,
                cycle_id,
                int(target) if kind == milestone else None,
                bool(archived),
                state == closed,
                last_at,
                last_conf,
                kind,
                start,
                target,
                dt.date.fromisoformat(due) if isinstance(due, str) else due,  # SQLite: text
                current_value,
                checkin_count,
            )
            by_key[key] = by_id[pk] = kr
    return by_key, by_id


def _recheck(organisation: Organisation, reader: _Reader) -> None:
    """Refuse the write if a KR or cycle the rows were checked against changed since."""
    touched = reader.folded.keys()
    closed = (
        KeyResult.objects.filter(organisation=organisation)
        .filter(Q(archived_at__isnull=False) | Q(objective__state=Objective.State.CLOSED))
        .values_list("pk", flat=True)
    )
    if any(pk in touched for pk in closed):
        raise Conflict("a key result was archived or closed during the import; run it again")
    cycles = Cycle.objects.filter(organisation=organisation).values_list("pk", "start", "end")
    if any(
        (c := reader.cycles.get(pk)) is None or (c.start, c.end) != (start, end)
        for pk, start, end in cycles
    ):
        raise Conflict("a cycle changed during the import; run it again")


# ---- writing ----------------------------------------------------------------------------

# SQLite's page cache while an import writes, in KiB (its default is 2 MiB): the rows land
# all over the check-in indexes and the KR table, and a small cache spills and rereads.
SQLITE_CACHE_KIB = 262_144


@contextlib.contextmanager
def _large_page_cache() -> Iterator[None]:
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


# Where the running-values UPDATE also stores the touched KRs' progress and status. On
# PostgreSQL every rewrite of a row is a new version of it and of its ten index entries:
# leaving them to the full refresh cost a second pass over 322,637 KRs (16 s of 73 s). On
# SQLite a row is rewritten in place (that pass took 0.7 s) and computing the numbers
# here costs more (2.5 s) than it saves.
NUMBERS_FOLDED_ON = frozenset({"postgresql"})


@contextlib.contextmanager
def _foreign_keys_checked_now() -> Iterator[None]:
    """On PostgreSQL, check the foreign keys of the rows written inside at once, not at
    the commit: Django declares them all DEFERRABLE INITIALLY DEFERRED, and the commit
    then fired 2 M queued checks for 1 M check-ins (8 to 16 s) where the COPY fires the same
    checks in 5 to 6 s more. The same checks run either way; afterwards they defer again."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


_FOLDED_TABLE = "lockstep_checkin_import"
_FOLDED_COLUMNS = (
    "id",
    "n",
    "st",
    "sv",
    "stt",
    "stv",
    "last_at",
    "last_value",
    "last_conf",
    "progress",
    "status",
)


def _numbers_after(
    reader: _Reader, organisation: Organisation, now: dt.datetime
) -> Iterator[tuple[int, _Folded, float, str]]:
    """Each touched KR with its folded rows and its progress and status once they are added.

    Computed (goals.selectors.kr_pace, as numbers_refresh_full) from the KR as it was read
    before the transaction; if a write moved it meanwhile, the full refresh that follows
    finds the stored numbers wrong and rewrites them, so this only saves it the work.
    """
    margins = margins_of(organisation)
    for pk, f in reader.folded.items():
        kr = reader.by_id[pk]
        cycle = reader.cycles[kr.cycle_id]
        stored_at = _as_utc(kr.last_at)
        assert f.at is not None
        newer = stored_at is None or stored_at <= f.at
        progress, _, status = kr_pace(
            kind=kr.kind,
            start=kr.start,
            target=kr.target,
            current_value=f.value if newer else kr.current_value,
            checkin_count=kr.checkin_count + f.n,
            cycle_start=cycle.start,
            due=kr.due or cycle.end,
            tz=reader.tz,
            margins=margins,
            at=now,
        )
        yield pk, f, progress, status.value


def _running_values_add(reader: _Reader, organisation: Organisation, now: dt.datetime) -> None:
    """Add each KR's folded rows to its stored running values, in one UPDATE for all
    (where NUMBERS_FOLDED_ON, the same UPDATE stores its new progress and status)."""
    if not reader.folded:
        return
    q = connection.ops.quote_name
    table, temp = q(KeyResult._meta.db_table), q(_FOLDED_TABLE)
    postgres = connection.vendor == "postgresql"
    moment = "timestamp with time zone" if postgres else "datetime"
    adapt = connection.ops.adapt_datetimefield_value
    fold = connection.vendor in NUMBERS_FOLDED_ON
    rows: Iterable[tuple[Any, ...]] = (
        (
            pk,
            f.n,
            f.st,
            f.sv,
            f.stt,
            f.stv,
            f.at if postgres else adapt(f.at),
            f.value,
            f.confidence,
            progress,
            status,
        )
        for pk, f, progress, status in (
            _numbers_after(reader, organisation, now)
            if fold
            else ((pk, f, None, None) for pk, f in reader.folded.items())
        )
    )
    # As checkin_record: the import's latest row wins unless the KR holds a later check-in.
    newer = "k.last_checkin_at IS NULL OR k.last_checkin_at <= v.last_at"
    # As numbers_refresh_full: numbers_at moves only with the numbers.
    same = "k.progress = v.progress AND k.status = v.status"
    numbers = (
        f"progress = v.progress, status = v.status, "
        f"numbers_at = CASE WHEN {same} THEN k.numbers_at ELSE %s END, "
        if fold
        else ""
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp} (id bigint PRIMARY KEY, n integer, "
            f"st double precision, sv double precision, stt double precision, "
            f"stv double precision, last_at {moment}, last_value double precision, "
            f"last_conf integer, progress double precision, status varchar(12))"
        )
        names = ", ".join(_FOLDED_COLUMNS)
        if postgres:
            with cursor.cursor.copy(f"COPY {temp} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            # A new table has no statistics: the planner would guess its size.
            cursor.execute(f"ANALYZE {temp}")
        else:
            marks = ", ".join(["%s"] * len(_FOLDED_COLUMNS))
            cursor.executemany(f"INSERT INTO {temp} ({names}) VALUES ({marks})", list(rows))
        # Every right-hand side reads the row as it was before this UPDATE.
        cursor.execute(
            f"UPDATE {table} AS k SET "
            f"checkin_count = k.checkin_count + v.n, sum_t = k.sum_t + v.st, "
            f"sum_v = k.sum_v + v.sv, sum_tt = k.sum_tt + v.stt, sum_tv = k.sum_tv + v.stv, "
            f"current_value = CASE WHEN {newer} THEN v.last_value ELSE k.current_value END, "
            f"last_confidence = CASE WHEN {newer} THEN v.last_conf ELSE k.last_confidence END, "
            f"last_checkin_at = CASE WHEN {newer} THEN v.last_at ELSE k.last_checkin_at END, "
            f"{numbers}updated_at = %s "
            f"FROM {temp} v WHERE k.id = v.id",
            [adapt(now)] * (2 if fold else 1),
        )
        cursor.execute(f"DROP TABLE {temp}")
