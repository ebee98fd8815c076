"""`lockstep backup` / `lockstep restore`: every row comes back, and a failed restore changes nothing.

Runs on SQLite and PostgreSQL (`LOCKSTEP_DATABASE_URL=postgres://...`). The JSON format is
tested on both; the SQLite file format on SQLite only, against a real database file (the
test database is in memory).
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection, transaction

from lockstep import backup
from lockstep.alignment.services import findings_refresh_full
from lockstep.cli import main
from lockstep.demo.loader import load_demo, remove_demo
from lockstep.goals.models import CheckIn, KeyResult
from lockstep.org.models import Organisation
from lockstep.synth import synth_generate

NOW = dt.datetime(2026, 11, 18, 14, 30, 15, 123456, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db(transaction=True)


def every_row() -> dict[str, list[dict[str, Any]]]:
    """Every row of every model of our apps (with many-to-many tables) and of auth users."""
    auth = {"user", "user_groups", "user_user_permissions", "group", "group_permissions"}
    ours = {"org", "goals", "alignment", "activity", "dashboard", "web"}
    chosen = [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.app_label in ours or (m._meta.app_label == "auth" and m._meta.model_name in auth)
    ]
    assert len(chosen) > 15, chosen
    return {m._meta.label: list(m._default_manager.order_by("pk").values()) for m in chosen}


def build_organisations() -> dict[str, list[dict[str, Any]]]:
    """The demo organisation and a seeded synthetic one of 300 KRs, with their findings."""
    load_demo(now=NOW)
    synth_generate(slug="synth", krs=300, seed=1, now=NOW)
    findings_refresh_full(Organisation.objects.get(slug="synth"))
    rows = every_row()
    assert len(rows["goals.KeyResult"]) > 300
    assert len(rows["goals.CheckIn"]) > 1000
    assert rows["auth.User"] and rows["activity.ActivityEvent"] and rows["alignment.Finding"]
    # Microseconds must survive (Django's JSON encoder would cut them to milliseconds).
    assert any(r["at"].microsecond % 1000 for r in rows["goals.CheckIn"])
    return rows


def change_everything() -> None:
    """Delete one organisation, edit and delete rows of the other, add and drop users."""
    remove_demo()
    kr = KeyResult.objects.order_by("pk").first()
    assert kr is not None
    KeyResult.objects.filter(pk=kr.pk).update(title="changed", current_value=-1)
    CheckIn.objects.filter(pk__in=CheckIn.objects.order_by("pk").values("pk")[:50]).delete()
    get_user_model().objects.all().delete()
    get_user_model().objects.create_user("intruder", "i@example.com", "pw-123456789")


def diff(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> str:
    for label in before:
        if before[label] != after[label]:
            a, b = before[label], after[label]
            wrong = next((x, y) for x, y in zip([*a, None], [*b, None], strict=False) if x != y)
            return f"{label}: {len(a)} rows before, {len(b)} after; first difference {wrong}"
    return ""


# --- JSON: both databases -----------------------------------------------------------------


def test_json_round_trip_restores_every_row(tmp_path, capsys):
    before = build_organisations()
    path = tmp_path / "lockstep.json.gz"
    assert main(["backup", str(path), "--format", "json"]) == 0
    assert "rows" in capsys.readouterr().out

    change_everything()
    changed = every_row()
    assert diff(before, changed)

    # A database that holds data is not replaced without --force.
    assert main(["restore", str(path)]) == 1
    assert "--force" in capsys.readouterr().err
    assert every_row() == changed

    assert main(["restore", str(path), "--force"]) == 0
    after = every_row()
    assert not diff(before, after), diff(before, after)
    assert after == before

    # New rows after the restore get fresh ids (sequences follow the restored rows).
    user = get_user_model().objects.create_user("after", "a@example.com", "pw-123456789")
    assert user.pk > max(r["id"] for r in before["auth.User"])


def test_json_restore_into_an_empty_database_needs_no_force(tmp_path):
    before = build_organisations()
    path = tmp_path / "lockstep.json.gz"
    backup.backup_create(path=path, fmt="json")
    call_command("flush", interactive=False, verbosity=0)
    assert backup.database_is_empty()
    result = backup.backup_restore(path=path)
    assert result.rows == sum(len(rows) for rows in before.values())
    assert every_row() == before


def test_json_restore_failing_halfway_changes_nothing(tmp_path, monkeypatch):
    build_organisations()
    path = tmp_path / "lockstep.json.gz"
    backup.backup_create(path=path, fmt="json")
    change_everything()
    changed = every_row()

    real_insert = backup._insert
    batches = 0

    def insert_then_fail(batch: list[Any]) -> None:
        nonlocal batches
        batches += 1
        if batches == 8:  # well past the first tables, after the flush
            raise RuntimeError("disk full")
        real_insert(batch)

    monkeypatch.setattr(backup, "_insert", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        backup.backup_restore(path=path, force=True)
    assert batches == 8
    assert every_row() == changed


def _rewrite_header(src: Path, dst: Path, **changes: Any) -> None:
    with gzip.open(src, "rt", encoding="utf-8") as f, gzip.open(dst, "wt", encoding="utf-8") as g:
        header = json.loads(f.readline())
        header.update(changes)
        g.write(json.dumps(header) + "\n")
        shutil.copyfileobj(f, g)


def test_json_restore_refuses_a_backup_of_newer_code(tmp_path, capsys):
    Organisation.objects.create(slug="keep", name="Keep")
    path = tmp_path / "lockstep.json.gz"
    backup.backup_create(path=path, fmt="json")
    newer = tmp_path / "newer.json.gz"
    with gzip.open(path, "rt") as f:
        header = json.loads(f.readline())
    _rewrite_header(path, newer, migrations=[*header["migrations"], ["org", "9999_future"]])
    before = every_row()
    assert main(["restore", str(newer), "--force"]) == 1
    assert "org.9999_future" in capsys.readouterr().err
    assert every_row() == before


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path, capsys):
    Organisation.objects.create(slug="keep", name="Keep")
    before = every_row()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    not_ours = tmp_path / "other.json.gz"
    with gzip.open(not_ours, "wt") as f:
        f.write('{"model": "x"}\n')
    for path in (text, not_ours, tmp_path / "missing"):
        assert main(["restore", str(path), "--force"]) == 1
        assert "unchanged" in capsys.readouterr().err
    assert every_row() == before


def write_pairs_meanwhile(stop: threading.Event) -> threading.Thread:
    """A writer on its own connection: an organisation and a user per transaction.

    The two land in tables a backup reads at different times, so equal counts in the backup
    show that it read one moment of the database.
    """

    def run() -> None:
        try:
            i = 0
            while not stop.is_set() or i < 20:
                with transaction.atomic():
                    Organisation.objects.create(slug=f"a{i}", name="A")
                    get_user_model().objects.create(username=f"b{i}")
                i += 1
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def pairs_in_json(path: Path) -> tuple[int, int]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in itertools.islice(f, 1, None)]
    orgs = [r["fields"]["slug"] for r in rows if r["model"] == "org.organisation"]
    users = [r["fields"]["username"] for r in rows if r["model"] == "auth.user"]
    return sum(s.startswith("a") for s in orgs), sum(u.startswith("b") for u in users)


def test_json_backup_is_one_moment_while_the_server_writes(request, tmp_path):
    if connection.vendor == "sqlite":
        # The in-memory test database shares one cache and locks whole tables; a server's
        # database is a file in WAL mode, where readers and the writer do not block.
        request.getfixturevalue("sqlite_file_db")
    build_organisations()
    stop = threading.Event()
    writer = write_pairs_meanwhile(stop)
    try:
        paths = [tmp_path / f"{n}.json.gz" for n in range(3)]
        for path in paths:
            backup.backup_create(path=path, fmt="json")
    finally:
        stop.set()
        writer.join()
    counts = [pairs_in_json(p) for p in paths]
    assert all(a == b for a, b in counts), counts
    assert counts[-1][0] > 0


# --- SQLite: the database file ------------------------------------------------------------


@pytest.fixture
def sqlite_file_db(tmp_path):
    """Point the default connection at a real, migrated SQLite file for the test."""
    if connection.vendor != "sqlite":
        pytest.skip("the sqlite backup format is for SQLite databases")
    kept_connection, kept_name = connection.connection, connection.settings_dict["NAME"]
    # Closing the in-memory test database would destroy it; set it aside instead.
    connection.connection = None
    connection.settings_dict["NAME"] = str(tmp_path / "live.sqlite3")
    ContentType.objects.clear_cache()
    try:
        call_command("migrate", interactive=False, verbosity=0)
        yield Path(connection.settings_dict["NAME"])
    finally:
        connection.close()
        connection.settings_dict["NAME"] = kept_name
        connection.connection = kept_connection
        ContentType.objects.clear_cache()


def test_sqlite_round_trip_restores_every_row(sqlite_file_db, tmp_path, capsys):
    before = build_organisations()
    path = tmp_path / "backup.sqlite3"
    assert main(["backup", str(path)]) == 0
    assert "(sqlite)" in capsys.readouterr().out
    assert not list(tmp_path.glob(".backup.sqlite3.*"))  # no temporary file left behind

    change_everything()
    changed = every_row()
    assert main(["restore", str(path)]) == 1
    assert every_row() == changed

    assert main(["restore", str(path), "--force"]) == 0
    after = every_row()
    assert not diff(before, after), diff(before, after)
    assert after == before
    assert not list(sqlite_file_db.parent.glob(".live.sqlite3.*"))


def test_sqlite_backup_is_one_moment_while_the_server_writes(sqlite_file_db, tmp_path):
    build_organisations()
    stop = threading.Event()
    writer = write_pairs_meanwhile(stop)
    try:
        paths = [tmp_path / f"{n}.sqlite3" for n in range(3)]
        for path in paths:
            backup.backup_create(path=path)
    finally:
        stop.set()
        writer.join()
    for path in paths:
        db = sqlite3.connect(path)
        (a,) = db.execute("SELECT COUNT(*) FROM org_organisation WHERE slug LIKE 'a%'").fetchone()
        (b,) = db.execute("SELECT COUNT(*) FROM auth_user WHERE username LIKE 'b%'").fetchone()
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
        assert a == b, (path, a, b)


def test_sqlite_restore_failing_before_the_swap_changes_nothing(
    sqlite_file_db, tmp_path, monkeypatch
):
    build_organisations()
    path = tmp_path / "backup.sqlite3"
    backup.backup_create(path=path)
    change_everything()
    changed = every_row()

    def fail(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup.os, "replace", fail)
    with pytest.raises(OSError):
        backup.backup_restore(path=path, force=True)
    monkeypatch.undo()
    assert every_row() == changed
    assert not list(sqlite_file_db.parent.glob(".live.sqlite3.*"))


def test_sqlite_restore_refuses_foreign_damaged_and_newer_files(sqlite_file_db, tmp_path, capsys):
    Organisation.objects.create(slug="keep", name="Keep")
    before = every_row()
    good = tmp_path / "backup.sqlite3"
    backup.backup_create(path=good)

    foreign = tmp_path / "foreign.sqlite3"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE notes (x)")
    db.commit()
    db.close()

    newer = tmp_path / "newer.sqlite3"
    shutil.copy(good, newer)
    db = sqlite3.connect(newer)
    db.execute(
        "INSERT INTO django_migrations (app, name, applied) VALUES ('org', '9999_future', '')"
    )
    db.commit()
    db.close()

    damaged = tmp_path / "damaged.sqlite3"
    data = bytearray(good.read_bytes())
    page = 4096
    data[page * 3 : page * 6] = b"\xff" * (page * 3)
    damaged.write_bytes(bytes(data))

    for path, why in (
        (foreign, "not a Lockstep database"),
        (newer, "org.9999_future"),
        (damaged, "sound SQLite"),
    ):
        assert main(["restore", str(path), "--force"]) == 1, path
        err = capsys.readouterr().err
        assert why in err and "unchanged" in err, err
    assert every_row() == before
