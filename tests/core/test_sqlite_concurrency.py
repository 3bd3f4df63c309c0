"""SQLite as an embedded database under concurrent use (core.db, core.transactions): a page that
only reads runs in a deferred transaction on a WAL snapshot, so it never waits for the write
lock, and a long read never makes a writer fail with "database is locked"."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.auth.models import Force
from diversion.core import readspool
from diversion.core.extensions import db
from diversion.core.jobs import run_job
from diversion.referrals.models import Referral
from tests.builders import NOW, create_referral, create_user

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


def test_audited_pages_never_wait_for_a_writer_and_their_audit_rows_follow_its_commit(
        app, client, login_as):
    referral = create_referral()
    db.session.commit()
    user = login_as("manager")
    referral_id, reference, user_id = referral.id, referral.reference, user.id
    db.session.remove()
    path = readspool.spool_path(str(db.engine.url.database))
    urls = [f"/referrals/{reference}", "/referrals", "/referrals/NO-SUCH-REFERENCE",
            f"/referrals/{reference}"]
    holding, release = threading.Event(), threading.Event()
    answers: list[int] = []
    timing: dict[str, float] = {}

    def write_and_commit() -> None:
        # Another connection in the middle of a write (BEGIN IMMEDIATE, as every writer does),
        # which commits once the pages have been answered.
        with app.app_context(), db.engine.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("INSERT INTO forces (code, name) VALUES ('HOLD', 'Held')"))
            holding.set()
            release.wait(timeout=HOLD_SECONDS)
            transaction.commit()

    def read_pages() -> None:
        # The pages from another thread, as a server's: no app context of the test's.
        start = time.perf_counter()
        answers.extend(client.get(url).status_code for url in urls)
        timing["elapsed"] = time.perf_counter() - start

    writer = threading.Thread(target=write_and_commit)
    writer.start()
    try:
        assert holding.wait(timeout=30)
        reader = threading.Thread(target=read_pages)
        reader.start()
        reader.join(timeout=HOLD_SECONDS)
        still_held = not release.is_set()
        # While the writer holds the lock the rows are in the spool, not yet in the table (read
        # as a page reads: a deferred transaction; the test's own would wait for the lock).
        with closing(sqlite3.connect(str(db.engine.url.database))) as reading:
            in_table_meanwhile = reading.execute(
                "SELECT count(*) FROM audit_events WHERE actor_user_id = ? AND category = ?",
                (user_id, "consultation")
            ).fetchone()[0]
    finally:
        release.set()
        writer.join(timeout=60)
    assert answers == [200, 200, 404, 200]
    assert still_held and timing["elapsed"] < 5, (
        f"the audited pages waited {timing.get('elapsed', HOLD_SECONDS):.1f}s for the writer")
    assert in_table_meanwhile == 0
    assert path.exists()

    assert readspool.wait_until_folded(app, timeout=30), "the spool was folded once the lock was free"
    rows = db.session.scalars(select(AuditEvent).where(
        AuditEvent.actor_user_id == user_id, AuditEvent.category == AuditCategory.CONSULTATION,
    ).order_by(AuditEvent.id)).all()
    # One row a page that showed personal data, in the order read; none for the refused page.
    assert [row.action for row in rows] == ["referral.view", "referral.list", "referral.view"]
    assert rows[0].object_id == rows[2].object_id == str(referral_id)
    assert rows[1].details["shown"] == [referral_id]
    assert all(row.at.tzinfo is not None for row in rows)
    assert db.session.scalar(select(func.count()).select_from(Force).where(Force.code == "HOLD")) == 1
    with closing(sqlite3.connect(path)) as spool:
        assert spool.execute("SELECT count(*) FROM spool").fetchone() == (0,)


def test_rows_a_dead_worker_left_in_the_spool_are_folded_by_the_scheduler_job(app):
    user = create_user(role="manager")
    db.session.commit()
    user_id = user.id
    db.session.remove()  # the test's own transaction holds the write lock: end it, as run_job does
    row = AuditEvent(at=NOW, actor_user_id=user_id, actor_label=f"user:{user_id}",
                     action="referral.view", category=AuditCategory.CONSULTATION,
                     object_type="referral", object_id="7", details={"why": "left behind"})
    path = readspool.spool_path(str(db.engine.url.database))
    with app.test_request_context("/referrals/7"):
        readspool._spool(path, [readspool._row_values(row)])  # noqa: SLF001 (a worker's last act)

    assert "1 spooled row(s) folded" in str(run_job("fold_read_spool"))
    assert "0 spooled row(s) folded" in str(run_job("fold_read_spool"))
    folded = db.session.scalars(select(AuditEvent).where(AuditEvent.actor_user_id == user_id)).one()
    assert (folded.at, folded.action, folded.category, folded.object_id, folded.details) == (
        NOW, "referral.view", AuditCategory.CONSULTATION, "7", {"why": "left behind"})
