"""SQLite as an embedded database under concurrent use (core.db, core.transactions): a page that
only reads runs in a deferred transaction on a WAL snapshot, so it never waits for the write
lock, and a long read never makes a writer fail with "database is locked"."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from diversion.audit.models import AuditEvent
from diversion.auth.models import Force
from diversion.core.extensions import db
from diversion.referrals.models import Referral
from tests.builders import create_referral

pytestmark = [pytest.mark.usefixtures("clock")]

HOLD_SECONDS = 20  # far longer than any assertion below waits: a wait would show


@pytest.fixture(autouse=True)
def _sqlite_only(app: Any) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's locking; PostgreSQL readers never wait for writers")


def _hold_the_write_lock(app: Any, holding: threading.Event, release: threading.Event) -> None:
    """Another connection, in the middle of a write: it holds SQLite's write lock."""
    with app.app_context(), db.engine.connect() as connection:
        transaction = connection.begin()  # BEGIN IMMEDIATE, as every writer does
        connection.execute(text("INSERT INTO forces (code, name) VALUES ('HOLD', 'Held')"))
        holding.set()
        release.wait(timeout=HOLD_SECONDS)
        transaction.rollback()


def test_pages_that_only_read_never_wait_for_a_writer(app, client, login_as):
    referral = create_referral()
    db.session.commit()
    login_as("manager")
    holding, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=_hold_the_write_lock, args=(app, holding, release))
    writer.start()
    try:
        assert holding.wait(timeout=30)
        start = time.perf_counter()
        dashboard = client.get("/dashboard")
        sessions = client.get("/sessions")
        elapsed = time.perf_counter() - start
        still_held = not release.is_set()
    finally:
        release.set()
        writer.join(timeout=60)
    assert dashboard.status_code == 200 and sessions.status_code == 200
    assert still_held and elapsed < 5, f"the pages waited {elapsed:.1f}s for the write lock"
    assert referral.reference  # the page read the snapshot committed before the writer began


def test_a_long_read_does_not_make_a_writer_fail_with_database_is_locked(app):
    create_referral()
    db.session.commit()
    db.session.remove()
    reading, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def long_read() -> None:
        # A page's read transaction left open (a slow report, a streamed export).
        with app.test_request_context("/referrals", method="GET"):
            try:
                seen.append(db.session.scalar(select(func.count()).select_from(Referral)) or 0)
                reading.set()
                release.wait(timeout=HOLD_SECONDS)
                # Still the snapshot it began with: the writer's row is not half-seen.
                seen.append(db.session.scalar(select(func.count()).select_from(Force)) or 0)
            finally:
                db.session.remove()

    reader = threading.Thread(target=long_read)
    reader.start()
    try:
        assert reading.wait(timeout=30)
        with app.app_context():
            start = time.perf_counter()
            db.session.add(Force(code="NEW", name="Written during a long read"))
            db.session.commit()  # BEGIN IMMEDIATE, as an import's: it must not wait
            elapsed = time.perf_counter() - start
            db.session.remove()
        read_still_open = not release.is_set()
    finally:
        release.set()
        reader.join(timeout=60)
    assert read_still_open and elapsed < 5, f"the write waited {elapsed:.1f}s for a reader"
    assert seen[0] == 1
    forces_before = seen[1]
    assert db.session.scalar(select(func.count()).select_from(Force)) == forces_before + 1


def test_a_read_of_personal_data_is_audited_after_its_reads_in_its_own_short_write(
        app, client, login_as):
    referral = create_referral()
    db.session.commit()
    user = login_as("manager")
    referral_id, reference, user_id = referral.id, referral.reference, user.id
    db.session.remove()  # the test's session is the app's: let the page begin its own
    transactions: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN") or statement.startswith("INSERT INTO audit_events"):
            transactions.append(statement.split(" (")[0].strip())

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        assert client.get(f"/referrals/{reference}").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    db.session.remove()
    assert transactions[0] == "BEGIN DEFERRED", transactions
    assert transactions[-2:] == ["BEGIN IMMEDIATE", "INSERT INTO audit_events"], transactions
    assert "BEGIN IMMEDIATE" not in transactions[:-2], transactions
    rows = db.session.scalars(select(AuditEvent).where(
        AuditEvent.actor_user_id == user_id, AuditEvent.object_id == str(referral_id))).all()
    assert rows, "the read is audited"
