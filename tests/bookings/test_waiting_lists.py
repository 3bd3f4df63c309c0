"""Waiting lists in the open: the session page's queue (promote, remove), fill and queue on the
sessions list and calendar, allocation that keeps queue order and says who leaves a queue,
cancelling a session through a check page, and a series previewed before it is created."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.bookings import waiting_list
from diversion.bookings.allocation import OpenSession, allocate, plan_allocation
from diversion.bookings.models import Booking, WaitingListEntry
from diversion.bookings.rules import ReferralFacts, SessionFacts
from diversion.core.extensions import db
from diversion.core.timeutils import to_london
from diversion.courses.models import CourseSession, SessionStatus
from diversion.outbox.models import OutboxMessage
from diversion.referrals.models import Person, ReferralStatus
from tests.builders import (
    NOW,
    create_booking,
    create_programme,
    create_referral,
    create_session,
    create_user,
    create_venue,
    future_session,
    in_days,
)
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def full_session_with_queue(waiting: int = 2, *, days: float = 10, **overrides):  # type: ignore[no-untyped-def]
    """A one-place session, booked, with `waiting` people in line (first joined first)."""
    session = future_session(days, capacity=1, **overrides)
    create_booking(session=session)
    queue = []
    for number in range(waiting):
        referral = create_referral()
        waiting_list.join_waiting_list(referral=referral, session=session, actor=None,
                                       now=NOW + dt.timedelta(minutes=number))
        queue.append(referral)
    db.session.flush()
    return session, queue


def _entries(session) -> list[WaitingListEntry]:  # type: ignore[no-untyped-def]
    return waiting_list.waiting_list(session.id)


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# The session page --------------------------------------------------------------------------

def test_the_session_page_lists_the_waiting_list_in_queue_order(client, login_as):
    login_as("manager")
    session, (first, second) = full_session_with_queue(2)
    db.session.commit()
    page = client.get(f"/sessions/{session.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Waiting list (2)" in text
    assert "2 waiting" in text and "1 of 1 booked" in text
    assert text.index(first.person.full_name) < text.index(second.person.full_name)
    assert first.reference in text and first.force.name in text
    assert f"{first.booking_deadline:%-d %B %Y}" in text
    assert "The session is full: nobody can be promoted" in text
    viewed = _audit("session.view_people")
    booked = db.session.scalar(select(Booking.referral_id).where(Booking.session_id == session.id))
    assert viewed and {k: viewed[-1].details[k] for k in ("people", "waiting", "count")} == {
        "people": 1, "waiting": 2, "count": 3}
    # Which referrals the page showed, by id: the booked one and both waiting.
    assert viewed[-1].details["shown"] == sorted({booked, first.id, second.id})


def test_a_facilitator_sees_who_is_booked_but_not_the_waiting_list(client, login_as):
    facilitator = login_as("facilitator")
    session, (first,) = full_session_with_queue(1, facilitators=[facilitator])
    db.session.commit()
    text = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "People booked" in text
    assert "Waiting list" not in text and first.person.full_name not in text


def test_promoting_from_a_full_session_says_there_is_no_free_place(client, login_as):
    login_as("manager")
    session, (first,) = full_session_with_queue(1)
    db.session.commit()
    entry = _entries(session)[0]
    page = client.post(f"/bookings/session/{session.id}/waiting-list/{entry.id}/promote",
                       follow_redirects=True)
    assert "There is no free place on this session" in page.get_data(as_text=True)
    db.session.expire_all()
    assert first.status is ReferralStatus.AWAITING_BOOKING and len(_entries(session)) == 1
    assert _audit("waiting_list.promote") == []


def test_promoting_books_the_chosen_person_into_a_free_place_and_is_audited(client, login_as):
    manager = login_as("manager")
    session, (first, second) = full_session_with_queue(2)
    session.capacity = 2  # a place is free (the first in line could not take it, say)
    db.session.commit()
    entry = _entries(session)[1]
    page = client.post(f"/bookings/session/{session.id}/waiting-list/{entry.id}/promote",
                       follow_redirects=True)
    assert f"{second.person.full_name} is booked" in page.get_data(as_text=True)
    db.session.expire_all()
    assert second.status is ReferralStatus.BOOKED and first.status is ReferralStatus.AWAITING_BOOKING
    assert [e.referral_id for e in _entries(session)] == [first.id]
    (row,) = _audit("waiting_list.promote")
    assert row.actor_user_id == manager.id and row.object_id == str(second.id)
    assert row.details["position"] == 2 and row.details["session_id"] == session.id


def test_removing_someone_is_checked_first_then_audited(client, login_as):
    manager = login_as("manager")
    session, (first, second) = full_session_with_queue(2)
    db.session.commit()
    entry = _entries(session)[0]
    url = f"/bookings/session/{session.id}/waiting-list/{entry.id}/remove"
    check = client.get(url)
    text = check.get_data(as_text=True)
    assert check.status_code == 200 and f"Remove {first.person.full_name}" in text
    assert "1 in line" in text and "are sent an email or text message saying so" in text
    assert len(_entries(session)) == 2  # looking removes nobody
    assert _removal_messages() == []
    done = client.post(url, follow_redirects=True)
    assert "has been taken off the waiting list" in done.get_data(as_text=True)
    db.session.expire_all()
    assert [e.referral_id for e in _entries(session)] == [second.id]
    (row,) = _audit("waiting_list.remove")
    assert row.actor_user_id == manager.id and row.object_id == str(first.id)
    assert row.details == {"session_id": session.id, "position": 1}
    # He is told, once, so he does not wait for a place that will not come.
    (message,) = _removal_messages()
    assert message.subject_type == "referral" and message.subject_id == str(first.id)
    assert message.context["reference"] == first.reference
    assert message.recipient in (first.person.email, first.person.mobile)
    assert client.post(url).status_code == 404  # already gone
    assert len(_removal_messages()) == 1


def _removal_messages() -> list[OutboxMessage]:
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "waiting_list_removed")))


def test_leaving_a_line_by_being_booked_or_by_himself_sends_no_removal_message(client, login_as):
    session, (first, second) = full_session_with_queue(2)
    waiting_list.leave_waiting_list(referral=first, session_id=session.id, actor=None, now=NOW)
    create_booking(referral=second, session=future_session(20))
    waiting_list.leave_all_waiting_lists([second.id])
    db.session.flush()
    assert _entries(session) == [] and _removal_messages() == []


def test_an_entry_is_only_found_through_its_own_session(client, login_as):
    login_as("manager")
    session, _ = full_session_with_queue(1)
    other = future_session(12)
    db.session.commit()
    entry = _entries(session)[0]
    for path in (f"/bookings/session/{other.id}/waiting-list/{entry.id}/remove",):
        assert client.get(path).status_code == 404
    assert client.post(f"/bookings/session/{other.id}/waiting-list/{entry.id}/promote"
                       ).status_code == 404
    assert len(_entries(session)) == 1


@pytest.mark.parametrize("role", ["facilitator", "police", "admin"])
def test_only_managers_can_promote_or_remove(client, login_as, role):
    login_as(role)
    session, _ = full_session_with_queue(1)
    session.capacity = 2
    db.session.commit()
    entry = _entries(session)[0]
    base = f"/bookings/session/{session.id}/waiting-list/{entry.id}"
    assert client.get(f"{base}/remove").status_code == 403
    assert client.post(f"{base}/remove").status_code == 403
    assert client.post(f"{base}/promote").status_code == 403
    assert len(_entries(session)) == 1


# Sessions list and calendar ------------------------------------------------------------------

def test_the_sessions_list_shows_fill_and_queue_and_filters_to_full_sessions_with_a_queue(
        client, login_as):
    login_as("manager")
    queued, _ = full_session_with_queue(3, days=5)
    full_no_queue = future_session(6, capacity=1)
    create_booking(session=full_no_queue)
    open_session = future_session(7)
    db.session.commit()
    text = client.get("/sessions").get_data(as_text=True)
    assert "1 of 1 booked" in text and "3 waiting" in text and "0 of 12 booked" in text
    filtered = client.get("/sessions?queue=1").get_data(as_text=True)
    ids = set(map(int, re.findall(r'href="/sessions/(\d+)"', filtered)))
    assert ids == {queued.id}
    assert full_no_queue.id not in ids and open_session.id not in ids
    assert "full with a waiting list" in filtered


def test_the_sessions_list_and_calendar_count_queues_in_a_fixed_number_of_queries(client,
                                                                                login_as):
    login_as("manager")
    programme = create_programme()
    for day in range(2):
        full_session_with_queue(2, days=day + 3, programme=programme)
    db.session.commit()
    month = f"{in_days(3):%Y-%m}"
    with count_queries() as few_list:
        assert client.get("/sessions").status_code == 200
    with count_queries() as few_calendar:
        assert client.get(f"/sessions/calendar?month={month}").status_code == 200
    for day in range(2, 12):
        full_session_with_queue(2, days=day + 3, programme=programme)
    db.session.commit()
    with count_queries() as many_list:
        page = client.get("/sessions")
    with count_queries() as many_calendar:
        calendar = client.get(f"/sessions/calendar?month={month}")
    assert page.get_data(as_text=True).count("2 waiting") == 12
    assert "2 waiting" in calendar.get_data(as_text=True)
    assert len(many_list) == len(few_list)
    assert len(many_calendar) == len(few_calendar)
    grouped = [s for s in many_list if "waiting_list_entries" in s and "GROUP BY" in s]
    assert len(grouped) == 1


# Allocation ------------------------------------------------------------------------------------

def _facts(referral_id: int, deadline: dt.date) -> ReferralFacts:
    return ReferralFacts(id=referral_id, programme_id=1, completion_deadline=deadline,
                         needs_step_free=False, has_email=True)


def _open(session_id: int, days: int, places: int) -> OpenSession:
    starts = in_days(days)
    return OpenSession(SessionFacts(id=session_id, programme_id=1, starts_at=starts,
                                    ends_at=starts + dt.timedelta(hours=7), is_scheduled=True,
                                    is_online=False, is_step_free=True), places)


def test_people_in_a_queue_take_its_free_place_in_the_order_they_joined():
    urgent, patient = _facts(1, dt.date(2026, 7, 1)), _facts(2, dt.date(2026, 12, 1))
    # Session 10 has one place; the patient man joined its queue first. Session 11 is later.
    queues = [(NOW, 5, 2, 10), (NOW + dt.timedelta(hours=1), 6, 1, 10)]
    plan = plan_allocation([urgent, patient], [_open(10, 5, 1), _open(11, 6, 1)], now=NOW,
                           queues=queues)
    assert sorted(plan.placed) == [(1, 11), (2, 10)]
    assert plan.moved == {1: [10]}  # the urgent man leaves the queue for session 10: said so


def test_the_allocation_preview_names_people_and_who_leaves_a_queue(client, login_as):
    login_as("manager")
    programme = create_programme()
    full, (queued,) = full_session_with_queue(1, days=5, programme=programme)
    later = future_session(8, programme=programme)
    fresh = create_referral(access_needs="Hearing loop")
    db.session.commit()
    page = client.get("/bookings/allocate")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for referral in (queued, fresh):
        assert referral.person.full_name in text and referral.reference in text
        assert referral.force.name in text and f"{referral.booking_deadline:%-d %b %Y}" in text
    assert "Hearing loop" in text and "Leaves waiting list" in text
    assert "1 person is on a waiting list" in text
    db.session.expire_all()
    assert later.booked_count == 0  # a preview books nobody
    assert _audit("booking.allocate_preview")
    result = allocate(actor=None, now=NOW, dry_run=True)
    assert {r.id: [s.id for s in ss] for r, ss in
            ((r, result.moved.get(r.id, [])) for r, _ in result.placed)}[queued.id] == [full.id]


def test_a_confirmed_allocation_loads_only_the_people_it_names(app):
    """A confirmed run reads the people's contact details as rows: of its thousands of people
    only those moved out of a waiting list (named on the confirmation page) become objects."""
    programme = create_programme()
    _, (queued,) = full_session_with_queue(1, days=5, programme=programme)
    future_session(8, capacity=5, programme=programme)
    others = [create_referral() for _ in range(3)]
    db.session.commit()
    queued_person, others_people = queued.person_id, {r.person_id for r in others}
    db.session.expunge_all()
    result = allocate(actor=None, now=NOW)
    people = {o.id for o in db.session.identity_map.values() if isinstance(o, Person)}
    assert len(result.placed) == 4 and list(result.moved) == [queued.id]
    assert people == {queued_person} and not people & others_people
    with count_queries() as statements:
        names = [referral.person.full_name for referral, _ in result.placed
                 if referral.id in result.moved]
    assert names and statements == []  # the page names them without a query each


def test_a_stale_preview_books_nobody_and_shows_the_new_list(client, login_as):
    login_as("manager")
    future_session(5)
    first = create_referral()
    db.session.commit()
    fingerprint = re.search(r'name="fingerprint" value="(\w+)"',
                            client.get("/bookings/allocate").get_data(as_text=True)).group(1)
    newcomer = create_referral()  # arrives while the manager reads the list
    db.session.commit()
    stale = client.post("/bookings/allocate", data={"fingerprint": fingerprint,
                                                    "referral": [str(first.id)]})
    text = stale.get_data(as_text=True)
    assert stale.status_code == 409 and "nobody was booked" in text
    assert newcomer.person.full_name in text  # the new list is shown
    db.session.expire_all()
    assert first.status is ReferralStatus.AWAITING_BOOKING


def test_only_the_people_ticked_are_booked_and_the_summary_says_who_left_a_queue(client,
                                                                               login_as):
    login_as("manager")
    programme = create_programme()
    full, (queued,) = full_session_with_queue(1, days=5, programme=programme)
    future_session(8, programme=programme)
    unticked = create_referral()
    db.session.commit()
    fingerprint = re.search(r'name="fingerprint" value="(\w+)"',
                            client.get("/bookings/allocate").get_data(as_text=True)).group(1)
    done = client.post("/bookings/allocate", data={"fingerprint": fingerprint,
                                                   "referral": [str(queued.id)]})
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and "1 person booked" in text
    assert "Moved out of a waiting list (1)" in text and queued.person.full_name in text
    db.session.expire_all()
    assert queued.status is ReferralStatus.BOOKED
    assert unticked.status is ReferralStatus.AWAITING_BOOKING
    assert _entries(full) == []
    nothing = client.post("/bookings/allocate", data={"fingerprint": "x"})
    assert nothing.status_code in (409, 422)


# Cancelling a session ------------------------------------------------------------------------

def test_cancelling_a_session_needs_a_reason_and_a_confirmation(client, login_as):
    login_as("manager")
    session, _ = full_session_with_queue(2)
    db.session.commit()
    no_reason = client.post(f"/bookings/session/{session.id}/cancel", data={"reason": ""})
    assert no_reason.status_code == 422
    assert "Enter why the session is cancelled" in no_reason.get_data(as_text=True)
    check = client.post(f"/bookings/session/{session.id}/cancel", data={"reason": "Flood"})
    text = check.get_data(as_text=True)
    assert check.status_code == 200 and "Check before you cancel" in text
    assert "1 person" in text and "2 people will be taken off the waiting list" in text
    assert "email" in text and "Fees" in text
    db.session.expire_all()
    assert session.status is SessionStatus.SCHEDULED
    people = re.search(r'name="people" value="([\d,]*)"', text).group(1)
    done = client.post(f"/bookings/session/{session.id}/cancel",
                       data={"reason": "Flood", "people": people, "action": "confirm"})
    assert done.status_code == 200 and "Session cancelled" in done.get_data(as_text=True)
    db.session.expire_all()
    assert session.status is SessionStatus.CANCELLED and _entries(session) == []


def test_a_cancel_confirmed_after_the_bookings_changed_cancels_nothing(client, login_as):
    login_as("manager")
    session = future_session(5)
    create_booking(session=session)
    db.session.commit()
    check = client.post(f"/bookings/session/{session.id}/cancel", data={"reason": "Flood"})
    people = re.search(r'name="people" value="([\d,]*)"', check.get_data(as_text=True)).group(1)
    create_booking(session=session)
    db.session.commit()
    again = client.post(f"/bookings/session/{session.id}/cancel",
                        data={"reason": "Flood", "people": people, "action": "confirm"})
    assert again.status_code == 409 and "nothing was cancelled" in again.get_data(as_text=True)
    db.session.expire_all()
    assert session.status is SessionStatus.SCHEDULED


# A series, previewed ---------------------------------------------------------------------------

def _series(programme, venue, facilitator, day: dt.date, **overrides):  # type: ignore[no-untyped-def]
    data = {"programme": str(programme.id), "venue": str(venue.id),
            "first_day-day": str(day.day), "first_day-month": str(day.month),
            "first_day-year": str(day.year), "start_time": "9:30", "end_time": "4:30pm",
            "capacity": "12", "facilitators": [str(facilitator.id)], "frequency": "weekly",
            "ends": "count", "count": "3"}
    data.update(overrides)
    return data


def test_a_weekly_series_across_the_clock_change_previews_0930_london_and_creates_nothing(
        client, login_as):
    login_as("manager")
    programme, venue, facilitator = create_programme(), create_venue(), create_user("facilitator")
    db.session.commit()
    # 18 October 2026 is BST, 25 October and 1 November are GMT.
    page = client.post("/sessions/new", data=_series(programme, venue, facilitator,
                                                     dt.date(2026, 10, 18)))
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Check the 3 sessions" in text
    for day in ("Sunday 18 October 2026", "Sunday 25 October 2026", "Sunday 1 November 2026"):
        assert day in text
    assert text.count("09:30 to 16:30") == 3
    assert db.session.scalar(select(func.count()).select_from(CourseSession)) == 0
    done = client.post("/sessions/new", data=_series(programme, venue, facilitator,
                                                     dt.date(2026, 10, 18), action="create"))
    assert done.status_code == 302
    starts = db.session.scalars(select(CourseSession.starts_at)
                                .order_by(CourseSession.starts_at)).all()
    assert [(to_london(s).hour, to_london(s).minute) for s in starts] == [(9, 30)] * 3
    assert [s.hour for s in starts] == [8, 9, 9]  # UTC moves with the clocks; London does not


def test_the_series_preview_flags_clashes_and_offers_no_create_button(client, login_as):
    login_as("manager")
    programme, venue, facilitator = create_programme(), create_venue(), create_user("facilitator")
    day = dt.date(2026, 7, 6)
    from diversion.courses.rules import london_wall_to_utc

    taken = create_session(starts_at=london_wall_to_utc(day + dt.timedelta(weeks=1),
                                                        dt.time(10, 0)), venue=venue)
    db.session.commit()
    text = client.post("/sessions/new", data=_series(programme, venue, facilitator, day)
                       ).get_data(as_text=True)
    assert "Clash" in text and f"session {taken.id}" in text
    assert "Schedule 3 sessions" not in text


def test_only_the_chosen_way_to_end_a_series_is_checked(client, login_as):
    login_as("manager")
    programme, venue, facilitator = create_programme(), create_venue(), create_user("facilitator")
    db.session.commit()
    page = client.post("/sessions/new", data=_series(
        programme, venue, facilitator, dt.date(2026, 7, 6), **{"until-day": "99",
                                                               "until-month": "x"}))
    assert page.status_code == 200 and "Check the 3 sessions" in page.get_data(as_text=True)
    missing = client.post("/sessions/new", data=_series(
        programme, venue, facilitator, dt.date(2026, 7, 6), ends="until", count=""))
    text = missing.get_data(as_text=True)
    assert missing.status_code == 422 and "Enter the last date of the series" in text
    assert "Enter the number of sessions" not in text


# Cancelling a series -----------------------------------------------------------------------

def _weekly_series(count: int = 3) -> list[CourseSession]:
    from diversion.courses import planning
    from diversion.courses.rules import Frequency

    created = planning.create_sessions(
        programme=create_programme(), venue=create_venue(), first_day=dt.date(2026, 7, 6),
        start_time=dt.time(9, 30), end_time=dt.time(16, 30), capacity=12,
        facilitators=[create_user("facilitator")], frequency=Frequency.WEEKLY, count=count,
        actor=None, now=NOW)
    return created.sessions


def test_cancelling_a_series_checks_first_then_cancels_this_and_later_sessions(client, login_as):
    login_as("manager")
    first, second, third = _weekly_series(3)
    booking = create_booking(session=second)
    db.session.commit()
    url = f"/bookings/session/{second.id}/cancel-series"
    page = client.get(url).get_data(as_text=True)
    assert "2 sessions to cancel" in page
    assert client.post(url, data={"reason": ""}).status_code == 422
    check = client.post(url, data={"reason": "Venue sold"})
    text = check.get_data(as_text=True)
    assert check.status_code == 200 and "Check before you cancel 2 sessions" in text
    assert "1 person, all returned to awaiting booking" in text and "text message" in text
    db.session.expire_all()
    assert second.status is SessionStatus.SCHEDULED
    checked = re.search(r'name="checked" value="([^"]*)"', text).group(1)
    done = client.post(url, data={"reason": "Venue sold", "checked": checked,
                                  "action": "confirm"})
    assert done.status_code == 200 and "2 sessions cancelled" in done.get_data(as_text=True)
    db.session.expire_all()
    assert [s.status for s in (first, second, third)] == [
        SessionStatus.SCHEDULED, SessionStatus.CANCELLED, SessionStatus.CANCELLED]
    assert booking.referral.status is ReferralStatus.AWAITING_BOOKING
    assert _audit("series.cancel")[0].details["sessions"] == [second.id, third.id]


def test_a_series_cancel_confirmed_after_a_change_cancels_nothing(client, login_as):
    login_as("manager")
    first, second = _weekly_series(2)
    db.session.commit()
    url = f"/bookings/session/{first.id}/cancel-series"
    text = client.post(url, data={"reason": "Venue sold"}).get_data(as_text=True)
    checked = re.search(r'name="checked" value="([^"]*)"', text).group(1)
    create_booking(session=second)
    db.session.commit()
    again = client.post(url, data={"reason": "Venue sold", "checked": checked,
                                   "action": "confirm"})
    assert again.status_code == 409
    db.session.expire_all()
    assert second.status is SessionStatus.SCHEDULED


def test_only_managers_cancel_a_series_and_only_of_a_series(client, login_as):
    login_as("manager")
    single = future_session(5)
    (first, _) = _weekly_series(2)
    db.session.commit()
    assert client.get(f"/bookings/session/{single.id}/cancel-series").status_code == 404
    client.post("/sign-out")
    login_as("facilitator")
    assert client.get(f"/bookings/session/{first.id}/cancel-series").status_code == 403
    assert client.post(f"/bookings/session/{first.id}/cancel-series",
                       data={"reason": "x", "action": "confirm"}).status_code == 403
