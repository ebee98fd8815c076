"""The bulk path: many rows straight to the database driver, for generators and imports.

`QuerySet.bulk_create` builds a model instance per row and runs every field's preparation
per value; at millions of rows that costs several times the database's own work (a
profile of the synthetic generator: 4.6 s in `Model.__init__` and 7.3 s in value
preparation for 140,000 rows). Here each column gets one converter, chosen once per
table, and rows go in as plain tuples: `executemany` in batches on SQLite, `COPY … FROM
STDIN` on PostgreSQL.

Callers pass dicts keyed by field attnames (`objective_id`, not `objective`); a column a
row leaves out takes the field's default (`auto_now`/`auto_now_add`: the time of the
call). Primary keys can be given (in every row or in none): `ids_reserve` gives the
first id past the table's largest, so rows can point at each other before they are
written (Django makes foreign keys deferred on both databases, so the order of inserts
inside the transaction does not matter). Both must run inside `transaction.atomic()`, which on SQLite already
holds the write lock (`BEGIN IMMEDIATE`) and on PostgreSQL takes a table lock here, so no
other writer can take the same ids. This path validates nothing and records no activity
event: the caller guarantees every constraint by construction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from itertools import chain, islice
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models
from django.utils import timezone

BATCH_ROWS = 10_000
_MISSING = object()


def _sqlite_datetime(value: dt.datetime | None) -> str | None:
    # As Django's SQLite backend stores it: naive UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]".
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def _sqlite_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _converter(field: models.Field[Any, Any], vendor: str) -> Callable[[Any], Any] | None:
    """How one column's Python value becomes what the driver takes; None: as it is."""
    if isinstance(field, models.JSONField):
        return _json
    if vendor == "sqlite":
        if isinstance(field, models.DateTimeField):
            return _sqlite_datetime
        if isinstance(field, models.DateField):
            return _sqlite_date
    return None


def _table_columns(
    model: type[models.Model], with_pk: bool
) -> tuple[str, list[str], list[Callable[[Any], Any] | None], list[Any]]:
    vendor = connection.vendor
    now = timezone.now()
    names, converters, defaults = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and not with_pk:
            continue  # the database numbers the rows
        names.append(field.attname)
        convert = _converter(field, vendor)
        converters.append(convert)
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            default: Any = now
        elif field.has_default() or field.null or field.empty_strings_allowed:
            # Django's own rule: the default, else None, else "" for text.
            default = field.get_default()
        else:
            default = _MISSING
        if default is not _MISSING and convert is not None:
            default = convert(default)
        defaults.append(default)
    return model._meta.db_table, names, converters, defaults


def ids_reserve(model: type[models.Model]) -> int:
    """The first free primary key of `model`'s table; it and all after it stay free until
    the transaction ends (inside `transaction.atomic()`)."""
    if not connection.in_atomic_block:
        raise RuntimeError("ids_reserve must run inside transaction.atomic()")
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column or "id")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"SELECT COALESCE(MAX({pk}), 0) FROM {table}")
        (largest,) = cursor.fetchone()
    return int(largest) + 1


def bulk_insert(model: type[models.Model], rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert `rows` (dicts by attname) into `model`'s table; the number written."""
    if not connection.in_atomic_block:
        raise RuntimeError("bulk_insert must run inside transaction.atomic()")
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    table, names, converters, defaults = _table_columns(model, model._meta.pk.attname in first)
    plan = list(zip(names, converters, defaults, strict=True))

    def as_tuple(row: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, convert, default in plan:
            value = row.get(name, _MISSING)
            if value is _MISSING:
                if default is _MISSING:
                    raise ValueError(f"{model.__name__}.{name} needs a value")
                out.append(default)
            else:
                out.append(value if convert is None else convert(value))
        return tuple(out)

    tuples = (as_tuple(row) for row in chain((first,), rows))
    quoted = ", ".join(connection.ops.quote_name(n) for n in names)
    qtable = connection.ops.quote_name(table)
    written = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            copy_sql = f"COPY {qtable} ({quoted}) FROM STDIN"
            # The driver's own cursor: Django's errors (IntegrityError …) are raised as usual.
            with connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
                for t in tuples:
                    copy.write_row(t)
                    written += 1
            # Rows may have carried their own ids: move the id sequence past them.
            for sql in connection.ops.sequence_reset_sql(no_style(), [model]):
                cursor.execute(sql)
        else:
            marks = ", ".join(["%s"] * len(names))
            sql = f"INSERT INTO {qtable} ({quoted}) VALUES ({marks})"
            while batch := list(islice(tuples, BATCH_ROWS)):
                cursor.executemany(sql, batch)
                written += len(batch)
    return written


def tables_analyze(tables: Iterable[type[models.Model]] | None = None) -> None:
    """Refresh PostgreSQL's planner statistics of `tables` (None: the whole database) after
    a bulk load; nothing on SQLite.

    COPY leaves the statistics as they were, and autovacuum (when it is on at all) gets to
    them up to a minute later: meanwhile the planner takes a table of millions of rows for
    the empty one it last saw and plans nested loops over it (one such plan ran for
    minutes). ANALYZE samples a bounded number of rows per table (30,000 at the default
    statistics target), so its cost hardly grows with the load. SQLite keeps no statistics
    until ANALYZE first makes them and plans from fixed rules meanwhile: nothing goes stale.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if tables is None:
            cursor.execute("ANALYZE")
            return
        names = dict.fromkeys(connection.ops.quote_name(m._meta.db_table) for m in tables)
        if names:
            cursor.execute("ANALYZE " + ", ".join(names))
