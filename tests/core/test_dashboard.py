"""Each role's dashboard says what needs doing; every line links to the list it counts, and that
list, followed, shows exactly as many rows as the line says. Figures that are not work sit
under "Summary". The page costs a fixed number of queries, whatever the number of rows."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from sqlalchemy import event, text

from diversion.attendance import register as attendance_register
from diversion.attendance.rules import AttendanceStatus
from diversion.bookings import views as bookings_views
from diversion.bookings import waiting_list
from diversion.core.extensions import db
from diversion.outbox.models import MessageStatus
from tests.builders import (
    NOW,
    clear_fee,
    closed_referral,
    create_booking,
    create_force,
    create_message,
    create_referral,
    create_session,
    create_user,
    future_session,
    live_session_with_people,
)
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")

DAYS = 24 * 60


def _counts(page: str) -> dict[str, int]:
    return {html.unescape(label): int(n) for label, n in re.findall(
        r'<span class="app-count" data-count="([^"]+)">(\d+)</span>', page)}


def _links(page: str) -> dict[str, str]:
    return {html.unescape(label): html.unescape(href) for href, label in re.findall(
        r'<a class="govuk-link[^"]*" href="([^"]+)" data-line="([^"]+)">', page)}


def _headings(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(
        r'<h[23] class="govuk-heading-[ms]" id="(?:panel|summary)-\d+">([^<]+)</h[23]>', page)]


def _rows(page: str) -> int:
    """Rows of the first table on the page (an empty table's "No ..." row is not one)."""
    body = re.search(r'<tbody class="govuk-table__body">(.*?)</tbody>', page, re.S)
    if body is None:
        return 0
    rows = re.findall(r"<tr\b.*?</tr>", body.group(1), re.S)
    return sum(1 for row in rows if "colspan" not in row)


def _rows_of(client: Any, href: str) -> int:
    response = client.get(href)
    assert response.status_code == 200, href
    page = response.get_data(as_text=True)
    if "show=to-take" in href and "Today&#39;s registers still to take" not in page:
        return 0  # no table of registers to take: none
    return _rows(page)


def _assert_every_line_counts_its_list(client: Any, page: str, *, at_least: set[str]) -> None:
    counts, links = _counts(page), _links(page)
    assert at_least <= set(counts), (at_least - set(counts), counts)
    for label, count in counts.items():
        if label in links:
            assert _rows_of(client, links[label]) == count, (label, links[label], count)


# Manager ----------------------------------------------------------------------------------------

def _manager_world() -> dict[str, Any]:
    """One of each thing a manager must deal with, and one near miss beside each."""
    force = create_force("WYP", "West Yorkshire Police")
    # Booking deadline (referral date + 28 days) on 17 June: within the week; 8 July: not.
    due = create_referral(force=force, referral_date=dt.date(2026, 5, 20),
                          offence_date=dt.date(2026, 5, 15))
    create_referral(force=force)
    # Booked on a course to come, fee owed.
    booked = create_booking(create_referral(force=force), future_session(10))
    # Held three days ago, register never submitted: overdue, and its man attended-and-owing.
    held, _ = live_session_with_people(1, started_minutes_ago=3 * DAYS)
    # Missed this morning: absent on a submitted register, inside the grace window.
    live, (absent,) = live_session_with_people(1)
    attendance_register.save_register(
        session=live, submit=True, actor=None, now=NOW,
        marks=[attendance_register.MarkInput(reference=absent.reference,
                                             status=AttendanceStatus.ABSENT)])
    # A full session with one man waiting; another full one with nobody waiting.
    full = create_session(starts_at=NOW + dt.timedelta(days=5), capacity=1)
    create_booking(create_referral(force=force), full)
    waiting_list.join_waiting_list(referral=create_referral(force=force), session=full,
                                   actor=None, now=NOW)
    create_booking(create_referral(force=force), create_session(
        starts_at=NOW + dt.timedelta(days=6), capacity=1))
    create_message(status=MessageStatus.FAILED)
    create_message(status=MessageStatus.FAILED)
    create_message(status=MessageStatus.EXPIRED)
    # Failed before the 30 days the dashboard counts: still on the messages list, not work.
    create_message(status=MessageStatus.FAILED, due_at=NOW - dt.timedelta(days=30))
    create_message()  # pending: not work
    db.session.commit()
    return {"due": due, "booked": booked, "held": held, "absent": absent}


def test_the_manager_starts_the_day_with_each_queue_counted_and_linked(client, login_as):
    _manager_world()
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    counts, links = _counts(page), _links(page)
    assert counts["Not booked, booking deadline within 7 days"] == 1
    assert counts["Missed their session, an excuse can still be accepted"] == 1
    assert counts["Attended, fee outstanding"] == 1
    assert counts["Booked on a course to come, fee not yet paid"] >= 1
    assert counts["Registers overdue (not submitted by the end of the day after the session)"] == 1
    assert counts["Full sessions with a waiting list"] == 1
    assert counts["Failed in the last 30 days"] == 2
    assert counts["Expired before they could be sent, last 30 days"] == 1
    assert links["Attended, fee outstanding"] == "/fees/outstanding?state=attended"
    # Due on or after 17 May: the 30 days to 15 June, London, today included.
    assert links["Failed in the last 30 days"] == (
        "/messages?status=failed&date_from-day=17&date_from-month=5&date_from-year=2026")
    assert links["Full sessions with a waiting list"] == "/sessions?queue=1"
    assert links["Not booked, booking deadline within 7 days"] == (
        "/referrals?booking_due_within_days=7")
    assert links["Missed their session, an excuse can still be accepted"] == (
        "/referrals?status=missed")
    assert links["Import referrals from a CSV file"] == "/referrals/import"


def test_every_manager_line_counts_exactly_the_rows_its_link_shows(client, login_as):
    _manager_world()
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    _assert_every_line_counts_its_list(client, page, at_least={
        "Not booked, booking deadline within 7 days",
        "Missed their session, an excuse can still be accepted",
        "Attended, fee outstanding", "Booked on a course to come, fee not yet paid",
        "Registers overdue (not submitted by the end of the day after the session)",
        "Full sessions with a waiting list", "Failed in the last 30 days",
        "Expired before they could be sent, last 30 days",
        "Paid more than was owed or refund failed: to refund",
        "Locked after wrong details: to unlock", "Awaiting booking", "Booked"})


def test_work_comes_first_and_status_counts_only_under_the_summary(client, login_as):
    _manager_world()
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    headings = _headings(page)
    assert headings[0] == "Referrals"
    summary_at = page.index('id="summary">Summary</h2>')
    assert page.index("Open referrals") > summary_at
    assert page.index("Sessions this month") > summary_at
    assert page.index("Failed") < summary_at
    # No vanity counts over the whole history: nothing completed, sent or pending is counted.
    for vanity in ("Completed", "Not completed", "Withdrawn", "Sent", "Pending"):
        assert vanity not in _counts(page)


def test_a_line_with_nothing_to_do_says_so_and_keeps_its_panel(client, login_as):
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    assert _counts(page)["Full sessions with a waiting list"] == 0
    assert "Sessions" in _headings(page) and "Online payments" in _headings(page)
    assert page.count("Nothing to do") >= 8
    assert "app-count-card--none" in page


def test_the_attended_line_has_the_fee_lists_meaning_not_the_registers(client, login_as):
    """Attended (the session has begun) and still booked with the fee owed, register submitted
    or not: the same rows as the fees list's own "attended" filter."""
    live_session_with_people(2)  # under way, register not submitted yet
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    assert _counts(page)["Attended, fee outstanding"] == 2
    assert _rows_of(client, "/fees/outstanding?state=attended") == 2


# Police -----------------------------------------------------------------------------------------

def test_an_officer_sees_his_forces_referrals_needing_attention_each_linked(client, login_as):
    force = create_force("WYP", "West Yorkshire Police")
    other = create_force("NYP", "North Yorkshire Police")
    officer = login_as("police", force=force)
    mine = create_referral(actor=officer, officer_email=officer.email)
    create_referral(force=force)
    create_referral(force=force, referral_date=dt.date(2026, 5, 20),
                    offence_date=dt.date(2026, 5, 15))
    create_referral(force=other, referral_date=dt.date(2026, 5, 20),
                    offence_date=dt.date(2026, 5, 15))
    closed_referral("Recent", closed_on=dt.date(2026, 6, 10), outcome="not_completed", force=force)
    closed_referral("Longago", closed_on=dt.date(2026, 4, 1), outcome="not_completed", force=force)
    closed_referral("Elsewhere", closed_on=dt.date(2026, 6, 10), outcome="not_completed",
                    force=other)
    db.session.commit()
    assert mine.officer_user_id == officer.id
    page = client.get("/dashboard").get_data(as_text=True)
    counts = _counts(page)
    assert counts["Not booked, booking deadline within 7 days"] == 1
    assert counts["Did not complete the course (last 14 days)"] == 1
    assert counts["Referred by you, not booked yet"] == 1
    assert counts["Awaiting booking"] == 3
    assert _links(page)["Referred by you, not booked yet"] == "/referrals?status=awaiting_booking&mine=y"
    _assert_every_line_counts_its_list(client, page, at_least={
        "Not booked, booking deadline within 7 days", "Did not complete the course (last 14 days)",
        "Referred by you, not booked yet", "Awaiting booking", "Booked"})
    assert "Messages not delivered" not in _headings(page)
    assert "Accounts" not in _headings(page)


def test_the_officer_count_is_a_summary_of_active_colleagues_in_his_force(client, login_as):
    force = create_force("WYP", "West Yorkshire Police")
    create_user("police", force=force)
    gone = create_user("police", force=force)
    gone.is_active_account = False
    create_user("police", force=create_force("NYP"))
    db.session.commit()
    login_as("police", force=force)
    page = client.get("/dashboard").get_data(as_text=True)
    assert _counts(page)["Officers with accounts"] == 2
    assert page.index("West Yorkshire Police</h3>") > page.index('id="summary"')


def test_the_referrals_list_says_which_dashboard_filter_it_shows(client, login_as):
    login_as("manager")
    page = client.get("/referrals?booking_due_within_days=7").get_data(as_text=True)
    assert "Showing only referrals not booked, booking deadline within 7 days" in page
    assert '<input type="hidden" name="booking_due_within_days" value="7">' in page
    assert client.get("/referrals?booking_due_within_days=lots").status_code == 200


# Facilitator ------------------------------------------------------------------------------------

def test_a_facilitator_sees_todays_and_overdue_registers_of_his_own_sessions(client, login_as):
    facilitator = login_as("facilitator")
    live_session_with_people(1, facilitator=facilitator)
    live_session_with_people(1, facilitator=facilitator, started_minutes_ago=3 * DAYS)
    live_session_with_people(1, started_minutes_ago=3 * DAYS)  # someone else's
    live_session_with_people(1)  # someone else's, today
    page = client.get("/dashboard").get_data(as_text=True)
    counts = _counts(page)
    assert counts["Registers to take today"] == 1
    assert counts["Registers overdue (not submitted by the end of the day after the session)"] == 1
    _assert_every_line_counts_its_list(client, page, at_least={
        "Registers to take today",
        "Registers overdue (not submitted by the end of the day after the session)"})
    assert "Accounts" not in _headings(page) and "Referrals" not in _headings(page)


def test_a_submitted_register_is_no_longer_to_take(client, login_as):
    facilitator = login_as("facilitator")
    session, (man,) = live_session_with_people(1, facilitator=facilitator)
    attendance_register.save_register(
        session=session, submit=True, actor=None, now=NOW,
        marks=[attendance_register.MarkInput(reference=man.reference,
                                             status=AttendanceStatus.ABSENT)])
    db.session.commit()
    page = client.get("/dashboard").get_data(as_text=True)
    assert _counts(page)["Registers to take today"] == 0
    assert _rows_of(client, "/registers?show=to-take") == 0


# Administrator ----------------------------------------------------------------------------------

def test_an_administrator_sees_account_counts_each_a_filtered_link(client, login_as):
    create_force("WYP", "West Yorkshire Police")
    inactive = create_user("manager")
    inactive.is_active_account = False
    db.session.commit()
    login_as("admin")
    page = client.get("/dashboard").get_data(as_text=True)
    assert {"Accounts", "Messages not delivered"} <= set(_headings(page))
    counts, links = _counts(page), _links(page)
    assert counts["Active users"] == 1 and counts["Deactivated users"] == 1
    assert counts["Police forces"] == 1 and counts["API tokens in use"] == 0
    assert links["Deactivated users"] == "/admin/users?status=deactivated"
    for label in ("Active users", "Deactivated users"):
        assert _rows_of(client, links[label]) == counts[label]


def test_the_dashboard_names_the_role_and_the_force(client, login_as):
    force = create_force("WYP", "West Yorkshire Police")
    db.session.commit()
    login_as("police", force=force)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Police officer, West Yorkshire Police" in page


# Cost -------------------------------------------------------------------------------------------

def _dashboard_queries(client: Any) -> int:
    with count_queries() as statements:
        assert client.get("/dashboard").status_code == 200
    return len(statements)


@pytest.mark.parametrize("role", ["manager", "police", "facilitator", "admin"])
def test_the_dashboard_costs_the_same_queries_with_ten_times_the_rows(client, login_as, role):
    force = create_force("WYP", "West Yorkshire Police")
    user = login_as(role, **({"force": force} if role == "police" else {}))
    facilitator = user if role == "facilitator" else None

    def add(n: int, hours_earlier: int) -> None:
        for _ in range(n):
            create_referral(force=force, officer_email=user.email,
                            referral_date=dt.date(2026, 5, 20), offence_date=dt.date(2026, 5, 15))
            create_message(status=MessageStatus.FAILED)
        live_session_with_people(n, facilitator=facilitator,
                                 started_minutes_ago=30 + hours_earlier * 60)
        live_session_with_people(n, facilitator=facilitator,
                                 started_minutes_ago=3 * DAYS + hours_earlier * 60)
        db.session.commit()

    add(1, 0)
    client.get("/dashboard")  # the sign-in's first page warms nothing the count depends on
    few = _dashboard_queries(client)
    add(10, 8)
    many = _dashboard_queries(client)
    assert many == few, (role, few, many)
    # The counts are made together (core.dashboard._count_together): the sign-in's row, the
    # counts, the audit or page rows a role's panels read on their own.
    assert few <= {"manager": 4, "police": 3, "facilitator": 6, "admin": 3}[role]


# Every count reads an index, never a whole table of history --------------------------------------

HISTORY_TABLES = ("referrals", "sessions", "bookings", "registers", "outbox_messages",
                  "online_payments", "referral_events", "register_entries", "people")


def _plans(client: Any) -> list[tuple[str, list[str]]]:
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assert client.get("/dashboard").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    plans = []
    with db.engine.connect() as connection:
        for statement, parameters in captured:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append((statement, [row[-1] for row in rows]))
    return plans


@pytest.mark.parametrize("role", ["manager", "police", "facilitator", "admin"])
def test_no_dashboard_count_scans_a_table_of_history(client, login_as, role):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    force = create_force("WYP", "West Yorkshire Police")
    login_as(role, **({"force": force} if role == "police" else {}))
    _manager_world()
    for statement, plan in _plans(client):
        for step in plan:
            scans = [t for t in HISTORY_TABLES if re.match(rf"SCAN {t}\b(?! USING)", step)]
            assert not scans, (statement, plan)


# The work a count does follows the open work, never the history ---------------------------------

def _history(first: int, n: int, *, facilitator: Any, officer_email: str) -> None:
    """Closed history: courses held long ago with their registers submitted (the men attended,
    their fees waived, their referrals completed), referrals closed years ago, messages sent."""
    for i in range(first, first + n):
        held, (man,) = live_session_with_people(
            1, facilitator=facilitator, started_minutes_ago=(400 + i) * DAYS,
            officer_email=officer_email)
        clear_fee(man)
        attendance_register.save_register(
            session=held, submit=True, actor=None, now=held.starts_at + dt.timedelta(hours=1),
            marks=[attendance_register.MarkInput(reference=man.reference,
                                                 status=AttendanceStatus.ATTENDED,
                                                 id_checked=True)])
        closed_referral(f"Historic{chr(97 + i // 26)}{chr(97 + i % 26)}",
                        closed_on=dt.date(2023, 3, 1) + dt.timedelta(i),
                        outcome="not_completed" if i % 2 else "completed")
        create_message(status=MessageStatus.SENT)
        create_message(status=MessageStatus.FAILED, due_at=held.starts_at)
        create_message(status=MessageStatus.EXPIRED, due_at=held.starts_at)
    db.session.commit()


def _sqlite_steps(client: Any) -> float:
    """SQLite virtual machine steps (in hundreds) the dashboard's statements take: the rows and
    index entries they visit, whatever the time on this machine.

    Every step is counted (a progress handler called each step). One called every hundred steps
    would count a statement's steps since it was prepared, not this run's: the sqlite3 module
    keeps prepared statements between requests (and tests), so the same request on the same rows
    read as 2 or 3 hundred depending on what ran before, and 1 then 4 in one suite run."""
    steps = [0]
    connections: list[Any] = []

    def tick() -> int:
        steps[0] += 1
        return 0

    def install(_conn: Any, cursor: Any, *_args: Any) -> None:
        if cursor.connection not in connections:
            cursor.connection.set_progress_handler(tick, 1)
            connections.append(cursor.connection)

    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", install)
    try:
        assert client.get("/dashboard").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", install)
        for connection in connections:
            connection.set_progress_handler(None, 0)
    return steps[0] / 100


@pytest.mark.parametrize("role", ["manager", "police", "facilitator"])
def test_the_dashboard_visits_no_more_rows_with_ten_times_the_history(client, login_as, role):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual machine steps")
    force = create_force("WYP", "West Yorkshire Police")
    user = login_as(role, **({"force": force} if role == "police" else {}))
    facilitator = user if role == "facilitator" else create_user("facilitator")
    _manager_world()
    _history(0, 1, facilitator=facilitator, officer_email=user.email)
    client.get("/dashboard")
    little = _sqlite_steps(client)
    _history(1, 10, facilitator=facilitator, officer_email=user.email)
    much = _sqlite_steps(client)
    assert much <= little + 2, (role, little, much)


def _panel_steps(builder: Any, user: Any) -> int:
    """Every SQLite virtual machine step one panel's statements take (exact, not in hundreds)."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    connection = db.session.connection().connection.dbapi_connection
    assert connection is not None
    connection.set_progress_handler(tick, 1)
    try:
        builder(user, NOW)
    finally:
        connection.set_progress_handler(None, 0)
    return steps[0]


def test_the_fees_panel_reads_the_same_rows_whatever_the_history(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual machine steps")
    manager, facilitator = create_user("manager"), create_user("facilitator")
    _manager_world()
    _history(0, 2, facilitator=facilitator, officer_email=manager.email)
    # Statistics as a database with years of history has them: most sessions already held.
    db.session.execute(text("ANALYZE"))
    little = _panel_steps(bookings_views.fees_panel, manager)
    counts = [line.count for line in bookings_views.fees_panel(manager, NOW).lines]
    _history(2, 20, facilitator=facilitator, officer_email=manager.email)
    assert _panel_steps(bookings_views.fees_panel, manager) == little
    assert [line.count for line in bookings_views.fees_panel(manager, NOW).lines] == counts
    assert counts[0] == 1 and counts[1] >= 1


def test_the_fees_panel_counts_at_most_once_a_minute_and_says_when(app, monkeypatch):
    """The fees owed are counted over every booked referral (national scale's open work, not a
    bounded range): each worker counts them at most once a minute, and the panel then says
    when they were counted; after the minute they are counted again."""
    monkeypatch.setitem(app.config, "DASHBOARD_COUNTS_MAX_AGE_SECONDS", 60)
    app.extensions.pop("diversion.dashboard_counted", None)
    manager = create_user("manager")
    booked = create_booking(create_referral(), future_session())
    first = bookings_views.fees_panel(manager, NOW)
    assert first.lines[1].count == 1 and first.description is None
    clear_fee(booked.referral)
    later = NOW + dt.timedelta(seconds=59)
    kept = bookings_views.fees_panel(manager, later)
    assert kept.lines[1].count == 1  # the minute-old count, and the panel says so
    assert kept.description == "Counted at 10:00am: these counts are at most a minute old."
    fresh = bookings_views.fees_panel(manager, NOW + dt.timedelta(seconds=60))
    assert fresh.lines[1].count == 0 and fresh.description is None
