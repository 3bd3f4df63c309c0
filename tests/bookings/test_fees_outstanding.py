"""The managers' list of everyone who owes the fee: rows, filters, paging, CSV, audit, scoping,
query count, and the dashboard count that links to it."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import select

from diversion.attendance import register as attendance_register
from diversion.attendance.models import AttendanceStatus
from diversion.audit.models import AuditCategory, AuditEvent
from diversion.bookings import fees as bookings_fees
from diversion.bookings import outstanding
from diversion.bookings import places as bookings_places
from diversion.core.extensions import db
from tests.builders import (
    NOW,
    clear_fee,
    create_force,
    create_programme,
    create_referral,
    create_user,
    future_session,
    live_session_with_people,
    pay_fee,
)
from tests.pages import error_summary
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")


def book(referral, days: float):  # type: ignore[no-untyped-def]
    return bookings_places.book_place(referral=referral, session=future_session(days=days),
                                      actor=None, now=NOW)


def attended_owing():  # type: ignore[no-untyped-def]
    """A man who attended in full, ID checked, with the fee still owed (referral still booked)."""
    session, (referral,) = live_session_with_people(1)
    attendance_register.save_register(
        session=session, submit=True, actor=None, now=session.starts_at + dt.timedelta(hours=1),
        marks=[attendance_register.MarkInput(reference=referral.reference,
                                             status=AttendanceStatus.ATTENDED, id_checked=True)])
    db.session.commit()
    return referral


def references(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [row.reference for row in page.rows]


def test_the_list_holds_those_booked_or_attended_who_owe_soonest_course_first(app):
    later, sooner, paid, waived, part = (create_referral() for _ in range(5))
    book(later, 20)
    book(sooner, 10)
    for referral in (paid, waived, part):
        book(referral, 12)
    pay_fee(paid)
    clear_fee(waived)
    bookings_fees.record_payment(referral=part, amount_pence=5000, method="cash", reference=None,
                                 actor=create_user("manager"), now=NOW)
    create_referral()  # not booked: not on the list
    cancelled = create_referral()
    book(cancelled, 11)
    bookings_places.cancel_booking(referral=cancelled, actor=None, now=NOW)
    attended = attended_owing()
    page = outstanding.outstanding_page(now=NOW, filters=outstanding.Filters())
    assert references(page) == [attended.reference, sooner.reference, part.reference,
                                later.reference]
    by_reference = {row.reference: row for row in page.rows}
    assert (by_reference[part.reference].paid_pence,
            by_reference[part.reference].outstanding_pence) == (5000, 15000)
    assert by_reference[attended.reference].state == "attended"
    assert by_reference[sooner.reference].state == "booked"
    assert outstanding.count_outstanding(now=NOW) == 4


def test_filters_force_programme_dates_and_attended_or_booked(app):
    other_force = create_force()
    west = create_referral()
    north = create_referral(force=other_force)
    book(west, 10)   # 25 June
    book(north, 20)  # 5 July
    attended = attended_owing()

    def listed(**filters):  # type: ignore[no-untyped-def]
        return references(outstanding.outstanding_page(now=NOW, filters=outstanding.Filters(**filters)))

    assert listed(force_id=other_force.id) == [north.reference]
    assert listed(state="attended") == [attended.reference]
    assert listed(state="booked") == [west.reference, north.reference]
    assert listed(date_from=dt.date(2026, 6, 25), date_to=dt.date(2026, 6, 25)) == [west.reference]
    assert listed(date_from=dt.date(2026, 6, 26)) == [north.reference]
    assert listed(programme_id=create_programme().id) == [attended.reference, west.reference,
                                                          north.reference]
    assert listed(programme_id=create_programme("OTHR", name="Other").id) == []


def test_pages_follow_on_by_keyset_without_repeating_or_skipping(app):
    made = [create_referral() for _ in range(5)]
    for number, referral in enumerate(made):
        book(referral, 10 + number)
    first = outstanding.outstanding_page(now=NOW, filters=outstanding.Filters(), limit=2)
    second = outstanding.outstanding_page(now=NOW, filters=outstanding.Filters(), limit=2,
                                          after=first.next_cursor)
    third = outstanding.outstanding_page(now=NOW, filters=outstanding.Filters(), limit=2,
                                         after=second.next_cursor)
    assert references(first) + references(second) + references(third) == [
        r.reference for r in made]
    assert third.next_cursor is None
    with pytest.raises(outstanding.InvalidCursor):
        outstanding.outstanding_page(now=NOW, filters=outstanding.Filters(), after="OFFSET 10")


def test_the_page_for_a_manager_shows_the_rows_links_and_is_audited(client, login_as, app):
    referral = create_referral()
    book(referral, 10)
    db.session.commit()
    manager = login_as("manager")
    response = client.get("/fees/outstanding")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'href="/referrals/{referral.reference}"' in page
    assert ('<td class="govuk-table__cell govuk-table__cell--numeric" data-label="Outstanding">'
            "£200</td>") in page
    assert "25 June 2026" in page
    assert "<caption" in page and 'class="govuk-table app-table--reflow"' in page
    assert '<label class="govuk-label" for="filter-force">' in page
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "fees_outstanding.view"))
    assert event is not None and event.actor_user_id == manager.id
    assert event.category is AuditCategory.CONSULTATION and event.details["rows"] == 1
    assert client.get("/fees/outstanding?after=nonsense").status_code == 404


def test_the_page_says_how_many_owe_and_reflows_on_a_phone(client, login_as, app):
    """The dashboard's count leads here: the page says the same number, and on a phone each row
    is a block whose cells say their column (the amount owed is not off the screen's edge)."""
    for days in (10, 11, 12):
        book(create_referral(), days)
    db.session.commit()
    login_as("manager")

    page = client.get("/fees/outstanding").get_data(as_text=True)
    filtered = client.get("/fees/outstanding?state=attended").get_data(as_text=True)
    booked = client.get("/fees/outstanding?state=booked").get_data(as_text=True)

    assert '<p class="govuk-body app-result-count">3 people owe a fee.</p>' in page
    assert 'class="app-table-scroll"' not in page
    for label in ("Name", "Reference", "Force", "Course date (pay by)", "Booking deadline",
                  "Fee", "Paid", "Outstanding"):
        assert page.count(f'data-label="{label}"') == 3
    assert "Nobody owes a fee with these filters." in filtered
    assert "3 people owe a fee with these filters." in booked


def test_the_count_is_of_every_page_not_only_the_first(client, login_as, app, monkeypatch):
    monkeypatch.setattr(outstanding.outstanding_page, "__kwdefaults__",
                        {"after": None, "limit": 2})  # pages of 2 rows, not 50
    for days in (10, 11, 12):
        book(create_referral(), days)
    db.session.commit()
    login_as("manager")

    first = client.get("/fees/outstanding").get_data(as_text=True)

    assert first.count('data-label="Name"') == 2
    assert "3 people owe a fee." in first
    after = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = client.get(after).get_data(as_text=True)
    assert second.count('data-label="Name"') == 1 and "3 people owe a fee." in second


def test_a_bad_date_filter_is_shown_and_left_out(client, login_as, app):
    login_as("manager")
    response = client.get("/fees/outstanding?from=31/02/2026")
    assert response.status_code == 400  # as on every other list with filters
    assert "govuk-error-summary" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["3000000000", "%C2%B2", "%00", "x" * 5000])
def test_a_force_programme_or_course_not_offered_is_named_and_left_out(client, login_as, value):
    shown = create_referral()
    book(shown, 10)
    db.session.commit()
    login_as("manager")
    response = client.get(f"/fees/outstanding?force={value}&programme={value}&state={value}")
    assert response.status_code == 400
    assert error_summary(response.text) == [
        ("#filter-force", "Choose the police force from the list"),
        ("#filter-programme", "Choose the programme from the list"),
        ("#filter-state", "Choose the course from the list")]
    assert shown.reference in response.text, "the filters in error are left out"
    download = client.get(f"/fees/outstanding.csv?force={value}")
    assert download.status_code == 302
    assert download.headers["Location"].startswith("/fees/outstanding?force=")


def test_the_csv_has_the_same_filters_and_is_safe_from_formulas(client, login_as, app):
    other_force = create_force()
    sly = create_referral(family_name="=HYPERLINK(\"http://x\")")
    shown = create_referral(force=other_force)
    book(sly, 10)
    book(shown, 12)
    db.session.commit()
    login_as("manager")
    response = client.get(f"/fees/outstanding.csv?force={other_force.id}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == list(outstanding.CSV_HEADER)
    assert [row[0] for row in rows[1:]] == [shown.reference]
    assert rows[1][9:] == ["20000", "0", "no", "20000"]
    everything = list(csv.reader(io.StringIO(
        client.get("/fees/outstanding.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert [row[1] for row in everything[1:]][0] == "'=HYPERLINK(\"http://x\")"
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "fees_outstanding.export").order_by(AuditEvent.id)).all()
    assert len(events) == 2 and events[0].category is AuditCategory.DISCLOSURE
    assert events[0].details["force_id"] == other_force.id


@pytest.mark.parametrize("role", ["police", "facilitator", "admin"])
def test_only_managers_see_the_list_or_the_csv(client, login_as, role):
    login_as(role)
    assert client.get("/fees/outstanding").status_code == 403
    assert client.get("/fees/outstanding.csv").status_code == 403


def test_the_page_runs_the_same_number_of_queries_for_1_or_12_rows(client, login_as, app):
    login_as("manager")
    book(create_referral(), 10)
    db.session.commit()
    with count_queries() as one:
        assert client.get("/fees/outstanding").status_code == 200
    for days in range(11, 22):
        book(create_referral(), days)
    db.session.commit()
    with count_queries() as twelve:
        page = client.get("/fees/outstanding").get_data(as_text=True)
    assert page.count('href="/referrals/') == 12
    assert len(twelve) == len(one)


def test_the_dashboard_counts_them_and_links_to_the_list(client, login_as, app):
    book(create_referral(), 10)
    paid = create_referral()
    book(paid, 11)
    pay_fee(paid)
    db.session.commit()
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    assert ('<span class="app-count" data-count="Booked on a course to come, fee not yet paid">1'
            '</span>') in page
    assert 'href="/fees/outstanding?state=booked"' in page
    assert 'data-count="Attended, fee outstanding">0<' in page
    assert 'href="/fees/outstanding?state=attended"' in page


def test_dates_the_wrong_way_round_are_said_not_shown_as_nobody_owing(client, login_as, app):
    book(create_referral(), 10)
    db.session.commit()
    login_as("manager")

    response = client.get("/fees/outstanding?from=2026-12-31&to=2026-01-01")

    page = response.get_data(as_text=True)
    assert "<title>Error: Fees outstanding" in page
    summary = page.split('class="govuk-error-summary"')[1].split("</ul>")[0]
    assert 'href="#filter-to"' in summary
    assert "The to date must be the same as or after the from date" in summary
    assert 'value="2026-12-31"' in page and 'value="2026-01-01"' in page
