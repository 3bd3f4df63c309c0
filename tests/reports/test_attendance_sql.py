"""The attendance report's figures counted by the database (attendance_report.
load_attendance_totals, what the PDF shows) equal those made from one record per session
(load_session_attendance): London months either side of month ends and of the October clock
change, sessions run by one, two or no facilitators, cancelled and unsubmitted sessions, every
filter; and the PDF's queries do not grow with its sessions (issue 17)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from diversion.attendance.rules import AttendanceStatus
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.reports import attendance_report as reports_attendance_report
from diversion.reports import kinds as reports_kinds
from diversion.reports import producing as reports_producing
from tests.builders import (
    NOW,
    create_booking,
    create_force,
    create_programme,
    create_referral,
    create_session,
    create_user,
    create_venue,
)
from tests.queries import count_queries
from tests.reports.test_attendance_report import take_register

A = AttendanceStatus
D = dt.date


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture()
def varied(app):
    """Sessions from 15 June to 1 December 2026 (UTC), each with a register of every kind of
    mark from two forces' people; the names of the facilitators and venues it uses."""
    create_programme(completion_deadline_months=12)  # bookings up to December
    west, south = create_force("WY"), create_force("SY")
    ann, bea, cat = (create_user("facilitator", name=name)
                     for name in ("Ann Able", "Bea Brown", "Cat Cole"))
    north, east = create_venue(name="North Hall"), create_venue(name="East Hall")
    marks = itertools.cycle(A)
    forces = itertools.cycle((west, west, south))

    def held(starts_at, venue, facilitators, people=3, *, submit=True, cancel=False):
        # Half a minute long: sessions a minute apart either side of a month's end, no clash.
        session = create_session(starts_at=starts_at, venue=venue, hours=1 / 120,
                                 facilitators=list(facilitators) or [ann])
        booked = []
        for _ in range(people):
            referral = create_referral(force=next(forces))
            create_booking(referral, session)
            booked.append(referral)
        if cancel:
            courses_planning.cancel_session(session=session, reason="Venue flooded",
                                            actor=None, now=NOW)
        elif submit:
            take_register(session, [(referral, next(marks)) for referral in booked])
        if not facilitators:
            session.facilitators.clear()
        return session

    # 15 June 22:59 UTC is still the 15th in London (BST): outside a range from the 16th.
    held(utc(2026, 6, 15, 22, 59), north, [ann])
    held(utc(2026, 6, 15, 23, 0), north, [ann, bea])  # 16 June 00:00 BST
    held(utc(2026, 6, 30, 22, 59), east, [bea])  # 30 June 23:59 BST: June
    held(utc(2026, 6, 30, 23, 30), east, [bea, cat], people=4)  # 1 July 00:30 BST: July
    held(utc(2026, 7, 20, 9, 0), north, [], people=2)  # no facilitator recorded
    held(utc(2026, 9, 30, 22, 59), north, [cat])  # September
    held(utc(2026, 9, 30, 23, 0), north, [ann, bea, cat])  # 1 October 00:00 BST
    held(utc(2026, 10, 25, 0, 30), east, [ann])  # 01:30 BST, before the clocks go back
    held(utc(2026, 10, 25, 1, 30), east, [ann, cat])  # 01:30 GMT, after
    held(utc(2026, 10, 31, 23, 30), north, [bea])  # 31 October 23:30 GMT: October
    held(utc(2026, 11, 1, 0, 0), north, [bea], people=1)  # November
    held(utc(2026, 11, 10, 9, 0), east, [ann, bea], cancel=True)
    held(utc(2026, 11, 12, 9, 0), east, [cat], submit=False)
    held(utc(2026, 11, 30, 23, 59), east, [], people=5)  # 30 November, GMT
    held(utc(2026, 12, 1, 0, 0), east, [ann])  # December: outside a range to 30 November
    db.session.commit()
    return {"facilitators": (ann, bea, cat), "venues": (north, east)}


def parameters(**filters) -> reports_kinds.ReportParameters:
    return reports_producing.validate_parameters(
        kind="attendance", date_from=D(2026, 6, 16), date_to=D(2026, 11, 30), as_of=None,
        scope=None, today=D(2026, 12, 5), **filters)


def assert_same_figures(report_parameters: reports_kinds.ReportParameters) -> dict:
    by_session = reports_attendance_report.build_attendance(report_parameters, with_chart=True)
    counted = reports_attendance_report.build_attendance_totals(report_parameters,
                                                                with_chart=True)
    expected = {key: value for key, value in by_session.data.items() if key != "sessions"}
    assert counted.data == expected
    assert list(counted.data) == list(expected)  # the same keys in the same order
    for key in ("by_month", "by_programme", "by_venue", "by_facilitator"):
        assert list(counted.data[key]) == list(expected[key])
    assert counted.extra == by_session.extra
    assert counted.summary == by_session.summary
    assert counted.chart_svg == by_session.chart_svg
    assert counted.chart_alt == by_session.chart_alt
    return counted.data | {"co_run": counted.extra["co_run"]}


def test_the_counted_figures_are_those_of_the_sessions_across_month_ends_and_the_clock_change(
        varied):
    data = assert_same_figures(parameters())
    # London months: 1 July 00:30 BST is July, 1 October 00:00 BST October, 31 October
    # 23:30 GMT October.
    assert {month: figures["sessions"] for month, figures in data["by_month"].items()} == {
        "2026-06": 2, "2026-07": 2, "2026-09": 1, "2026-10": 4, "2026-11": 2}
    assert data["total"]["sessions"] == 11
    assert data["total"]["booked"] == 3 * 7 + 4 + 2 + 1 + 5
    assert data["excluded"] == {"cancelled": 1, "register_not_submitted": 1}
    assert data["by_facilitator"]["No facilitator recorded"]["sessions"] == 2
    assert data["by_facilitator"]["Ann Able"]["sessions"] == 4
    assert data["co_run"] == {"sessions": 4, "by_facilitator": {
        "Ann Able": 3, "Bea Brown": 3, "Cat Cole": 3}}
    assert sum(data["total"][mark.value] for mark in A) == data["total"]["booked"]


@pytest.mark.parametrize("filters", ["force", "forces", "venue", "facilitator", "programme"])
def test_the_counted_figures_are_those_of_the_sessions_under_each_filter(varied, filters):
    ann = varied["facilitators"][0]
    east = varied["venues"][1]
    data = assert_same_figures(parameters(**{
        "force": {"forces": ("SY",)}, "forces": {"forces": ("WY", "SY")},
        "venue": {"venue": east.id}, "facilitator": {"facilitator": ann.id},
        "programme": {"programme": "KCRC"}}[filters]))
    assert data["total"]["sessions"] > 0


def test_a_period_without_sessions_counts_nothing_on_both_paths(varied):
    empty = reports_producing.validate_parameters(
        kind="attendance", date_from=D(2027, 1, 1), date_to=D(2027, 1, 31), as_of=None,
        scope=None, today=D(2027, 2, 1))
    data = assert_same_figures(empty)
    assert data["total"]["sessions"] == 0 and data["by_month"] == {}


def sent(statements: list[str]) -> list[str]:
    """The statements but a transaction's BEGIN (sent when the test's own has ended)."""
    return [statement for statement in statements if not statement.startswith("BEGIN")]


def test_the_counted_figures_take_one_query_and_the_pdf_as_many_however_many_sessions(
        app, client, login_as):
    login_as("manager")
    facilitators = [create_user("facilitator") for _ in range(2)]
    venue = create_venue()
    made = itertools.count()

    def sessions(count: int) -> None:
        for _ in range(count):
            day = next(made)
            session = create_session(starts_at=utc(2026, 6, 16 + day % 14, 9 + day // 14),
                                     venue=venue, facilitators=facilitators[: 1 + day % 2],
                                     hours=1 / 2)
            referral = create_referral()
            create_booking(referral, session)
            take_register(session, [(referral, A.ATTENDED)])
        db.session.commit()

    url = ("/reports/attendance?date_from-day=16&date_from-month=6&date_from-year=2026"
           "&date_to-day=30&date_to-month=6&date_to-year=2026&format=pdf")
    sessions(1)
    with count_queries() as one:
        reports_attendance_report.load_attendance_totals(D(2026, 6, 16), D(2026, 6, 30))
    with count_queries() as few:
        assert client.get(url).status_code == 200
    sessions(20)
    with count_queries() as many:
        response = client.get(url)
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert [statement.split()[0] for statement in sent(one)] == ["SELECT"]
    assert len(sent(many)) == len(sent(few))
