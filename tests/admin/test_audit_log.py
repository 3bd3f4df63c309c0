"""The audit log names who did what to whom: the user, the action in words, the person and
reference (joined in when shown; the rows themselves hold ids only)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.audit.services import record, shown_details
from diversion.core import paging
from diversion.core.extensions import db
from tests.builders import NOW, create_booking, create_referral, create_user, future_session
from tests.pages import error_summary
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")


def events_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-event-id="(\d+)"', page)]


def about(referral, actor, action: str = "referral.view"):  # type: ignore[no-untyped-def]
    event = record(action=action, category=AuditCategory.CONSULTATION, now=NOW, actor=actor,
                   object_type="referral", object_id=referral.id)
    db.session.flush()
    return event


def test_events_name_the_person_reference_and_user_not_ids(client, login_as):
    login_as("admin")
    manager = create_user("manager", name="Maria Manager")
    referral = create_referral(family_name="Xavier", given_names="Peter")
    booking = create_booking(referral, future_session(days=10))
    db.session.flush()
    about(referral, manager)
    record(action="booking.create", category=AuditCategory.COLLECTION, now=NOW, actor=manager,
           object_type="booking", object_id=booking.id)
    record(action="person.update", category=AuditCategory.ALTERATION, now=NOW, actor=manager,
           object_type="person", object_id=referral.person_id, details={"changed": ["email"]})
    db.session.commit()
    page = client.get("/admin/audit").get_data(as_text=True)
    assert page.count("XAVIER, Peter") >= 3
    assert f'href="/referrals/{referral.reference}"' in page
    assert "Viewed a referral" in page and "Booked a place" in page
    assert "Maria Manager" in page and "changed: email" in page
    assert f"referral {referral.id}<" not in page and f"booking {booking.id}" not in page


def test_a_name_search_finds_the_events_about_the_referral_its_person_and_bookings(client, login_as):
    admin = login_as("admin")
    mine = create_referral(family_name="Xavier")
    other = create_referral(family_name="Young")
    booking = create_booking(mine, future_session(days=10))
    db.session.flush()
    viewed = about(mine, admin)
    record(action="person.update", category=AuditCategory.ALTERATION, now=NOW, actor=admin,
           object_type="person", object_id=mine.person_id)
    about(other, admin)
    db.session.commit()
    objects = {("referral", str(mine.id)), ("person", str(mine.person_id)), ("booking", str(booking.id))}
    wanted = {e.id for e in db.session.scalars(select(AuditEvent))
              if (e.object_type, e.object_id) in objects}
    assert {e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.id.in_(wanted)))} >= {
        "referral.view", "person.update", "booking.create"}
    shown = set(events_on(client.get("/admin/audit?q=xavier").get_data(as_text=True)))
    assert shown == wanted
    by_reference = client.get(f"/admin/audit?q={mine.reference}&action=referral.view")
    assert events_on(by_reference.get_data(as_text=True)) == [viewed.id]


def test_user_category_and_dates_combine(client, login_as):
    admin = login_as("admin")
    manager = create_user("manager")
    referral = create_referral()
    db.session.flush()
    viewed = about(referral, manager)
    record(action="fee.payment", category=AuditCategory.COLLECTION, now=NOW, actor=manager)
    db.session.flush()
    about(referral, admin)
    db.session.commit()
    page = client.get(f"/admin/audit?user={manager.id}&category=consultation")
    assert events_on(page.get_data(as_text=True)) == [viewed.id]
    june = ("date_from-day=15&date_from-month=6&date_from-year=2026"
            "&date_to-day=15&date_to-month=6&date_to-year=2026")
    assert viewed.id in events_on(client.get(f"/admin/audit?{june}").get_data(as_text=True))
    later = "date_from-day=16&date_from-month=6&date_from-year=2026"
    assert viewed.id not in events_on(client.get(f"/admin/audit?{later}").get_data(as_text=True))
    assert client.get("/admin/audit?category=nonsense").status_code == 400


def test_the_page_takes_the_same_queries_for_one_person_or_many(client, login_as):
    login_as("admin")
    counts = []
    for extra in (1, 8):
        for _ in range(extra):
            referral = create_referral()
            booking = create_booking(referral, future_session(days=10))
            db.session.flush()
            about(referral, create_user("manager"))
            record(action="booking.create", category=AuditCategory.COLLECTION, now=NOW,
                   object_type="booking", object_id=booking.id)
            record(action="person.update", category=AuditCategory.ALTERATION, now=NOW,
                   object_type="person", object_id=referral.person_id)
        db.session.commit()
        with count_queries() as statements:
            assert client.get("/admin/audit").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_a_cursor_not_made_here_is_404(client, login_as):
    login_as("admin")
    page = client.get("/admin/audit?before=xyz&page=2")
    assert page.status_code == 404 and paging.NO_SUCH_PAGE in page.get_data(as_text=True)


def test_the_csv_holds_the_filtered_events_named_and_its_download_is_audited(client, login_as):
    admin = login_as("admin")
    referral = create_referral(family_name="Xavier", given_names="Peter")
    db.session.flush()
    viewed = about(referral, admin)
    about(create_referral(family_name="Young"), admin)
    db.session.commit()
    response = client.get("/admin/audit.csv?q=xavier&action=referral.view")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["Event"], r["Name"], r["Reference"], r["Action"], r["User"]) for r in rows] == [
        (str(viewed.id), "XAVIER, Peter", referral.reference, "Viewed a referral", admin.name)]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.export"))
    assert event is not None and event.details["count"] == 1
    assert "xavier" not in str(event.details).lower()


@pytest.mark.parametrize("role", ["manager", "police", "facilitator"])
def test_only_admins_see_the_audit_log(client, login_as, role):
    login_as(role)
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403


def test_a_name_search_finds_the_lists_and_exports_that_showed_the_person(client, login_as):
    """A list's audit row holds the referral ids it showed: searching for a person finds every
    list, search, API page and export that showed them, and none that did not."""
    admin = login_as("admin")
    manager = create_user("manager")
    mine = create_referral(family_name="Xavier")
    other = create_referral(family_name="Young")
    db.session.flush()
    showed = record(action="referral.list", category=AuditCategory.CONSULTATION, now=NOW,
                    actor=manager, object_type="referral",
                    details=shown_details([other.id, mine.id], filters={}))
    record(action="referral.list", category=AuditCategory.CONSULTATION, now=NOW, actor=manager,
           object_type="referral", details=shown_details([other.id], filters={}))
    # Another list's ids under another key are not referrals: never matched.
    record(action="messages.list", category=AuditCategory.CONSULTATION, now=NOW, actor=manager,
           details=shown_details([mine.id], key="messages"))
    db.session.commit()
    page = client.get("/admin/audit?q=xavier&action=referral.list").get_data(as_text=True)
    assert events_on(page) == [showed.id]
    assert set(events_on(client.get("/admin/audit?q=xavier&category=consultation")
                          .get_data(as_text=True))) == {showed.id}
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/audit.csv?q=xavier&category=consultation")
                                           .get_data(as_text=True).lstrip("\ufeff"))))
    assert [int(r["Event"]) for r in rows] == [showed.id]
    assert rows[0]["Referrals shown"] == f"{other.id} {mine.id}"
    assert "shown: 2 referrals" in rows[0]["Details"] and "False" not in rows[0]["Details"]
    assert f"{other.id}, {mine.id}" not in rows[0]["Details"]
    assert "shown: 2 referrals" in page
    # Reading the audit log is itself audited, by event id, without the name searched for.
    seen = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.view")
                              .order_by(AuditEvent.id)).all()
    assert seen and seen[-1].actor_user_id == admin.id
    assert seen[-1].details["events"] == [showed.id]
    assert "xavier" not in str(seen[-1].details).lower()


def test_bad_filters_are_all_named_in_one_error_summary_and_audit_nothing(client, login_as):
    login_as("admin")
    db.session.commit()
    response = client.get("/admin/audit?category=nonsense&date_from-day=31&date_from-month=2"
                          "&date_from-year=2026&q=" + "x" * 101)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page
    summary = page.split("govuk-error-summary__list")[1].split("</ul>")[0]
    assert summary.count("<li>") == 3, summary
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.view")) is None
    # The CSV asked with the same filters goes back to the page that names them.
    download = client.get("/admin/audit.csv?category=nonsense")
    assert download.status_code == 302 and download.headers["Location"] == "/admin/audit?category=nonsense"


def test_a_person_search_over_lists_takes_the_same_queries_for_one_list_or_many(client, login_as):
    """The search over the ids lists showed is one condition of the page's query: no query per
    row, however many list rows match."""
    login_as("admin")
    referral = create_referral(family_name="Xavier")
    db.session.flush()
    counts = []
    for extra in (1, 8):
        for _ in range(extra):
            record(action="referral.list", category=AuditCategory.CONSULTATION, now=NOW,
                   actor=create_user("manager"), object_type="referral",
                   details=shown_details([referral.id], filters={}))
        db.session.commit()
        with count_queries() as statements:
            response = client.get("/admin/audit?q=xavier&action=referral.list")
        assert response.status_code == 200
        assert len(events_on(response.get_data(as_text=True))) == (1 if extra == 1 else 9)
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_a_date_range_that_ends_before_it_starts_is_an_error_not_an_empty_list(client, login_as):
    login_as("admin")
    backwards = ("date_from-day=1&date_from-month=1&date_from-year=2027"
                 "&date_to-day=1&date_to-month=1&date_to-year=2026")
    response = client.get(f"/admin/audit?{backwards}")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "<title>Error: Audit log" in page
    assert '<a href="#date_to-day">On or before must be the same as or after 1 January 2027</a>' \
        in page
    download = client.get(f"/admin/audit.csv?{backwards}")
    assert download.status_code == 302 and download.headers["Location"] == f"/admin/audit?{backwards}"


@pytest.mark.parametrize(("query", "anchor", "message"), [
    ("user=3000000000", "user", "Choose the user from the list"),
    ("user=%C2%B2", "user", "Choose the user from the list"),
    ("user=%00", "user", "Choose the user from the list"),
    ("q=Smith%00", "q",
     "Person or reference must be on one line, with no tabs or other special characters"),
    ("date_to-day=1%00&date_to-month=1&date_to-year=2026", "date_to-day",
     "The day of the date on or before must be a number from 1 to 31"),
    ("date_from-day=1&date_from-month=&date_from-year=2026", "date_from-month",
     "The date on or after must include a month"),
])
def test_a_bad_filter_in_the_csv_link_is_named_on_the_page_not_a_bare_400(
        client, login_as, query, anchor, message):
    login_as("admin")
    download = client.get(f"/admin/audit.csv?{query}")
    assert download.status_code == 302 and download.headers["Location"].startswith("/admin/audit?")
    page = client.get(download.headers["Location"])
    assert page.status_code == 400 and "<title>Error: Audit log" in page.text
    assert error_summary(page.text) == [(f"#{anchor}", message)]
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.export")) is None


def test_a_category_that_is_not_offered_is_refused_in_words(client, login_as):
    login_as("admin")
    page = client.get("/admin/audit?category=nonsense").get_data(as_text=True)
    assert "Select a category from the list" in page and "Not a valid choice" not in page
