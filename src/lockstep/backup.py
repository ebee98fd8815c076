"""Backup and restore of the whole database: `lockstep backup FILE` / `lockstep restore FILE`.

Two formats, chosen by what they must promise:

- **sqlite** (the default on SQLite): a copy of the live database file taken with SQLite's
  online backup API, so it is consistent even while the server writes. Restoring copies
  the backup to a temporary file beside the database, checks it (`PRAGMA integrity_check`,
  Lockstep's tables, migrations no newer than the code) and swaps it in with `os.replace`,
  which is atomic: the database is either the old file or the new one.
- **json** (the default on PostgreSQL, and available on SQLite): every row of Lockstep's
  apps and of the auth users and groups, serialized by Django one JSON object per line
  (JSON Lines, in dependency order, natural keys for permissions and users) into a gzip
  file, after a header line naming the format and the applied migrations. It is streamed
  both ways, so memory stays flat, and it moves between SQLite and PostgreSQL. Restoring
  empties those tables and loads every row in one transaction: any failure rolls the
  whole restore back and leaves the database as it was.

Why not pg_dump / pg_restore on PostgreSQL: they need client tools of the server's major
version on the machine running `lockstep`, their archive cannot be loaded into SQLite,
and `pg_restore` into a migrated database either clashes with the existing schema or,
with `--clean`, drops and recreates it outside Django's knowledge of the schema. The JSON
format needs nothing but the app itself, restores in a single transaction of the app's own
schema, and is tested row for row on both databases (tests/cli/test_backup.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import itertools
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, connections, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

FORMAT_NAME = "lockstep-backup"
FORMAT_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
GZIP_MAGIC = b"\x1f\x8b"
BATCH = 1000


class BackupError(Exception):
    """A backup or restore refused or failed; the database is unchanged."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    format: str
    rows: int | None


# --- what a backup holds -------------------------------------------------------------------


def backup_models() -> list[type[models.Model]]:
    """The models a backup holds: every model of the lockstep apps, auth users and groups,
    and their many-to-many tables as models of their own (so those rows keep their ids)."""
    user = get_user_model()
    chosen = [
        m
        for m in apps.get_models()
        if m.__module__.startswith("lockstep.") or m in (user, apps.get_model("auth", "Group"))
    ]
    links = [
        field.remote_field.through
        for m in chosen
        for field in m._meta.local_many_to_many
        if field.remote_field.through is not None and field.remote_field.through._meta.auto_created
    ]
    ordered: list[type[models.Model]] = serializers.sort_dependencies(
        [(m._meta.app_config, [m]) for m in chosen + links], allow_cycles=True
    )
    return ordered


def _tables(model_list: list[type[models.Model]]) -> list[str]:
    return [m._meta.db_table for m in model_list]


def database_is_empty() -> bool:
    """True when no table a backup holds has a row (or exists: a database never migrated)."""
    existing = set(connection.introspection.table_names())
    return not any(
        m._default_manager.exists() for m in backup_models() if m._meta.db_table in existing
    )


def _known_migrations() -> set[tuple[str, str]]:
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def _newer_than_code(applied: set[tuple[str, str]]) -> list[str]:
    unknown = applied - _known_migrations()
    return sorted(f"{app}.{name}" for app, name in unknown)


# --- sqlite: the database file -------------------------------------------------------------


def _sqlite_path() -> Path:
    if connection.vendor != "sqlite":
        raise BackupError("the sqlite format needs a SQLite database; use --format json")
    name = str(connection.settings_dict["NAME"])
    if connection.is_in_memory_db():  # type: ignore[attr-defined]
        raise BackupError("the database is in memory; there is no file to restore")
    return Path(name)


def _temp_beside(path: Path, suffix: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def backup_sqlite(path: Path) -> BackupResult:
    """Copy the live SQLite database to `path` with the online backup API (consistent)."""
    if connection.vendor != "sqlite":
        raise BackupError("the sqlite format needs a SQLite database; use --format json")
    connection.ensure_connection()
    tmp = _temp_beside(path, ".part")
    try:
        target = sqlite3.connect(tmp)
        try:
            # The backup API copies page by page and restarts if a writer changes a page it
            # already copied, so the result is one consistent state of the database.
            connection.connection.backup(target)
            # One self-contained file: no WAL beside it.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
        _check_sqlite_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(path=path, format="sqlite", rows=None)


def _check_sqlite_file(path: Path) -> None:
    """Refuse a file that is not a sound Lockstep SQLite database of this code's migrations."""
    with open(path, "rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BackupError(f"{path} is not a SQLite database")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} does not open: {exc}") from None
    try:
        check = db.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            raise BackupError(f"{path} fails the integrity check: {check[:3]}")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        needed = {"django_migrations", *(m._meta.db_table for m in backup_models())}
        if "django_migrations" not in tables or "org_organisation" not in tables:
            raise BackupError(f"{path} is not a Lockstep database")
        applied = set(db.execute("SELECT app, name FROM django_migrations").fetchall())
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a sound SQLite database: {exc}") from None
    finally:
        db.close()
    newer = _newer_than_code(applied)
    if newer:
        raise BackupError(
            f"{path} comes from a newer Lockstep (migrations {', '.join(newer)}); upgrade first"
        )
    # A backup of older code may lack the newest tables (`lockstep restore` migrates after
    # the swap); one of this code's migrations must hold all of them.
    missing = needed - tables
    if missing and applied >= _known_migrations():
        raise BackupError(f"{path} lacks Lockstep tables: {', '.join(sorted(missing))}")


def restore_sqlite(path: Path, *, force: bool = False) -> BackupResult:
    """Replace the SQLite database file by the backup at `path`, atomically."""
    live = _sqlite_path()
    _check_sqlite_file(path)
    if not force and not database_is_empty():
        raise BackupError("the database holds data; use --force to replace it")
    tmp = _temp_beside(live, ".restore")
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
            source.close()
        _check_sqlite_file(tmp)
        connections.close_all()
        _quiesce_wal(live)
        if live.exists():
            shutil.copymode(live, tmp)  # mkstemp made it private; keep the database's mode
        # The swap is the only step that changes the database, and it is atomic.
        os.replace(tmp, live)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(path=path, format="sqlite", rows=None)


def _quiesce_wal(live: Path) -> None:
    """Fold the old file's WAL into it and make sure nobody else holds it open.

    A WAL left beside the swapped-in file would be replayed onto it: the last connection
    closing after a TRUNCATE checkpoint deletes the WAL, so one that survives means another
    process (a running server) still has the database open.
    """
    if not live.exists():
        return
    db = sqlite3.connect(live)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    wal = live.with_name(live.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise BackupError("the database is in use (its WAL is not empty); stop the server first")


# --- json: every row, portable between databases -------------------------------------------


class _ExactEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder cuts datetimes to milliseconds; a backup keeps every microsecond."""

    def default(self, o: Any) -> Any:
        if isinstance(o, dt.datetime):
            text = o.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        if isinstance(o, dt.time):
            return o.isoformat()
        return super().default(o)


def _applied_migrations() -> list[list[str]]:
    recorder = MigrationRecorder(connection)
    return sorted([app, name] for app, name in recorder.applied_migrations())


@contextlib.contextmanager
def _one_moment() -> Iterator[None]:
    """A read transaction, so every table is read as of the same moment.

    PostgreSQL needs REPEATABLE READ for that. SQLite keeps one snapshot per transaction,
    but Django opens its transactions with BEGIN IMMEDIATE, which would hold the write
    lock for the whole backup and make the server's check-ins time out; a deferred BEGIN
    reads from a WAL snapshot while writers carry on.
    """
    if connection.in_atomic_block:
        yield
    elif connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.cursor() as cur:
            cur.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cur:
                cur.execute("ROLLBACK")
    else:
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield


def backup_json(path: Path) -> BackupResult:
    """Stream every row of the backed-up models to a gzip JSON Lines file at `path`."""
    tmp = _temp_beside(path, ".part")
    rows = 0
    try:
        with _one_moment(), gzip.open(tmp, "wt", encoding="utf-8") as out:
            header = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "vendor": connection.vendor,
                "migrations": _applied_migrations(),
            }
            out.write(json.dumps(header) + "\n")
            for model in backup_models():
                query = model._default_manager.order_by("pk")
                counted = _Counter(query.iterator(chunk_size=BATCH))
                serializers.serialize(
                    "jsonl",
                    counted,
                    stream=out,
                    # Many-to-many rows are written by their own tables' models.
                    fields=[f.name for f in model._meta.local_fields],
                    cls=_ExactEncoder,
                    use_natural_foreign_keys=True,
                )
                rows += counted.n
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(path=path, format="json", rows=rows)


class _Counter:
    def __init__(self, it: Iterator[Any]) -> None:
        self.it = it
        self.n = 0

    def __iter__(self) -> Iterator[Any]:
        for x in self.it:
            self.n += 1
            yield x


def _read_header(stream: IO[str], path: Path) -> dict[str, Any]:
    try:
        header = json.loads(stream.readline())
    except (ValueError, OSError, EOFError) as exc:
        raise BackupError(f"{path} is not a Lockstep backup: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise BackupError(f"{path} is not a Lockstep backup")
    if header.get("version") != FORMAT_VERSION:
        raise BackupError(f"{path} has backup format {header.get('version')}, not {FORMAT_VERSION}")
    newer = _newer_than_code({(a, n) for a, n in header.get("migrations", [])})
    if newer:
        raise BackupError(
            f"{path} comes from a newer Lockstep (migrations {', '.join(newer)}); upgrade first"
        )
    return header


def restore_json(path: Path, *, force: bool = False) -> BackupResult:
    """Empty the backed-up tables and load every row of the backup, in one transaction."""
    model_list = backup_models()
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        _read_header(stream, path)
        with transaction.atomic():
            if not force and not database_is_empty():
                raise BackupError("the database holds data; use --force to replace it")
            _flush(model_list)
            rows = _load(stream)
            _reset_sequences(model_list)
    return BackupResult(path=path, format="json", rows=rows)


def _flush(model_list: list[type[models.Model]]) -> None:
    statements = connection.ops.sql_flush(
        no_style(), _tables(model_list), reset_sequences=False, allow_cascade=True
    )
    with connection.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def _load(stream: IO[str]) -> int:
    """Insert the deserialized rows model by model, a batch at a time."""
    rows = 0
    objects = serializers.deserialize("jsonl", stream, handle_forward_references=False)
    for _model, group in itertools.groupby(objects, key=lambda d: type(d.object)):
        while batch := list(itertools.islice(group, BATCH)):
            _insert(batch)
            rows += len(batch)
    return rows


def _insert(batch: list[Any]) -> None:
    """Insert rows exactly as stored: a raw insert, as loaddata's, so `auto_now` and
    `auto_now_add` fields keep their backed-up times (bulk_create would stamp them anew)."""
    model = type(batch[0].object)
    fields = model._meta.local_concrete_fields
    objs = [d.object for d in batch]
    size = connection.ops.bulk_batch_size(fields, objs) or len(objs)
    for start in range(0, len(objs), size):
        model._base_manager._insert(
            objs[start : start + size], fields=fields, raw=True, using=connection.alias
        )


def _reset_sequences(model_list: list[type[models.Model]]) -> None:
    statements = connection.ops.sequence_reset_sql(no_style(), model_list)
    with connection.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


# --- choosing the format -------------------------------------------------------------------


def backup_create(*, path: Path, fmt: str | None = None) -> BackupResult:
    """Back up the database to `path`: sqlite (default on SQLite) or json."""
    fmt = fmt or ("sqlite" if connection.vendor == "sqlite" else "json")
    if fmt == "sqlite":
        return backup_sqlite(path)
    return backup_json(path)


def backup_format_of(path: Path) -> str:
    """`sqlite` or `json`, from the file's first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(GZIP_MAGIC):
        return "json"
    raise BackupError(f"{path} is not a Lockstep backup")


def backup_restore(*, path: Path, force: bool = False) -> BackupResult:
    """Restore the backup at `path` into the database: all of it or nothing."""
    fmt = backup_format_of(path)
    if fmt == "sqlite":
        return restore_sqlite(path, force=force)
    return restore_json(path, force=force)
