"""Booking, moving and cancelling places; the database's capacity and one-booking rules."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from diversion.bookings import capacity as bookings_capacity
from diversion.bookings import places as bookings_places
from diversion.bookings import queries as bookings_queries
from diversion.bookings import session_cancellation as bookings_session_cancellation
from diversion.bookings import waiting_list as bookings_waiting_list
from diversion.bookings.models import Booking, BookingStatus, WaitingListEntry
from diversion.core.errors import InvalidTransition, NotFound
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.courses import sessions as courses_sessions
from diversion.courses.models import CourseSession
from diversion.outbox.dispatcher import render_message
from diversion.outbox.models import MessageStatus
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEventType, ReferralStatus
from tests.bookings.helpers import messages_to
from tests.builders import NOW, create_booking, create_referral, create_venue, future_session, in_days


def test_booking_moves_the_referral_to_booked_and_sends_a_confirmation_with_a_calendar(app):
    session, referral = future_session(), create_referral()
    booking = create_booking(referral, session)
    assert referral.status is ReferralStatus.BOOKED
    assert booking.status is BookingStatus.ACTIVE and session.booked_count == 1
    [message] = messages_to(referral.person.email, "booking_confirmation")
    assert message.dedupe_key == f"booking-confirmation:{booking.id}"
    ics = message.context["ics"]
    assert f"UID:booking-{booking.id}@" in ics and "DTSTART:20260625T090000Z" in ics
    assert "\r\n" in ics and "kerb" not in ics.lower()


def test_a_person_who_prefers_sms_gets_a_text_without_a_calendar(app):
    referral = create_referral(mobile="07911123456", preferred_contact="sms", email=None)
    create_booking(referral, future_session())
    [message] = messages_to(referral.person.mobile, "booking_confirmation")
    assert message.channel.value == "sms" and "ics" not in message.context


def test_a_session_after_the_completion_deadline_is_refused(app):
    referral = create_referral()  # offence 1 June: complete by 1 October 2026
    late = future_session(days=(dt.datetime(2026, 10, 2, 9, tzinfo=dt.UTC) - NOW).days)
    on_the_day = future_session(days=(dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC) - NOW).days)
    assert [o.session for o in bookings_queries.list_bookable_sessions(referral=referral, now=NOW)] == [
        on_the_day]
    with pytest.raises(bookings_capacity.UnsuitableSession, match="completion deadline") as error:
        create_booking(referral, late)
    assert error.value.status == 422
    assert referral.status is ReferralStatus.AWAITING_BOOKING and late.booked_count == 0


def test_cancelled_and_past_sessions_are_refused(app):
    referral = create_referral()
    cancelled = future_session()
    courses_planning.cancel_session(session=cancelled, reason="Flood", actor=None, now=NOW)
    with pytest.raises(bookings_capacity.UnsuitableSession, match="not running"):
        create_booking(referral, cancelled)
    past = future_session(days=3)
    with pytest.raises(bookings_capacity.UnsuitableSession, match="already started"):
        create_booking(referral, past, now=NOW + dt.timedelta(days=4))


def test_a_person_needing_step_free_access_cannot_book_a_venue_without_it(app):
    referral = create_referral(needs_step_free=True)
    stairs = future_session(venue=create_venue(step_free_access=False))
    with pytest.raises(bookings_capacity.UnsuitableSession, match="step-free"):
        create_booking(referral, stairs)
    assert [o.session.id for o in bookings_queries.list_bookable_sessions(referral=referral, now=NOW)] == []


def test_an_online_session_needs_an_email_address(app):
    referral = create_referral(email=None, mobile="07911123456")
    online = future_session(venue=create_venue(is_online=True, joining_link="https://meet.example/x",
                                               address_line_1="", town="", postcode=""))
    with pytest.raises(bookings_capacity.UnsuitableSession, match="email"):
        create_booking(referral, online)


def test_a_second_booking_for_the_same_referral_is_refused(app):
    referral = create_referral()
    create_booking(referral, future_session())
    other = future_session(days=12)
    with pytest.raises(bookings_capacity.AlreadyBooked) as error:
        create_booking(referral, other)
    assert error.value.status == 409 and other.booked_count == 0


def test_the_database_refuses_two_active_bookings_for_one_referral(app):
    referral = create_referral()
    first, second = future_session(), future_session(days=12)
    db.session.add(Booking(referral_id=referral.id, session_id=first.id, created_at=NOW))
    db.session.flush()
    db.session.add(Booking(referral_id=referral.id, session_id=second.id, created_at=NOW))
    with pytest.raises(IntegrityError):
        db.session.flush()


def test_the_database_refuses_more_bookings_than_places(app):
    session = future_session(capacity=1)
    with pytest.raises(IntegrityError):
        db.session.execute(update(CourseSession).where(CourseSession.id == session.id)
                           .values(booked_count=2))


def test_the_last_place_goes_once_and_the_next_person_is_told_it_is_full(app):
    session = future_session(capacity=1)
    create_booking(create_referral(), session)
    late = create_referral()
    with pytest.raises(bookings_capacity.SessionFull) as error:
        create_booking(late, session)
    assert error.value.status == 409 and error.value.extra["waiting_list"] is True
    assert late.status is ReferralStatus.AWAITING_BOOKING


def test_cancelling_returns_the_referral_and_the_place_and_cancels_pending_messages(app):
    session, referral = future_session(), create_referral()
    booking = create_booking(referral, session)
    bookings_places.cancel_booking(referral=referral, actor=None, now=NOW, reason="Changed plans")
    assert referral.status is ReferralStatus.AWAITING_BOOKING
    assert booking.status is BookingStatus.CANCELLED and session.booked_count == 0
    [confirmation] = messages_to(referral.person.email, "booking_confirmation")
    [notice] = messages_to(referral.person.email, "booking_cancelled")
    assert confirmation.status is MessageStatus.CANCELLED
    reminders = [m for m in messages_to(referral.person.email) if m.template.startswith("reminder")]
    assert all(m.status is MessageStatus.CANCELLED for m in reminders)
    assert notice.template == "booking_cancelled" and notice.status is MessageStatus.PENDING
    with pytest.raises(NotFound):
        bookings_places.cancel_booking(referral=referral, actor=None, now=NOW)


def test_giving_back_a_place_never_takes_the_count_below_zero(app):
    session = future_session()
    bookings_capacity.give_back_place(session.id)
    db.session.refresh(session)
    assert session.booked_count == 0


def test_a_booking_can_be_moved_up_to_the_programmes_limit_then_is_refused(app):
    referral = create_referral()
    sessions = [future_session(days=d) for d in (10, 12, 14, 16)]
    create_booking(referral, sessions[0])
    bookings_places.transfer_booking(referral=referral, session=sessions[1], actor=None, now=NOW)
    moved = bookings_places.transfer_booking(referral=referral, session=sessions[2], actor=None, now=NOW)
    assert [s.booked_count for s in sessions] == [0, 0, 1, 0]
    assert moved.session_id == sessions[2].id and bookings_queries.transfers_remaining(referral) == 0
    with pytest.raises(bookings_places.TransferLimitReached, match="moved 2 times"):
        bookings_places.transfer_booking(referral=referral, session=sessions[3], actor=None, now=NOW)
    new_confirmation = messages_to(referral.person.email, "booking_confirmation")[-1]
    assert new_confirmation.context["is_change"] is True
    assert "STATUS:CANCELLED" in new_confirmation.context["ics"]


def test_withdrawing_a_booked_referral_cancels_the_booking_and_frees_the_place(app):
    session, referral = future_session(), create_referral()
    booking = create_booking(referral, session)
    lifecycle.transition(referral, ReferralEventType.WITHDRAWN, actor=None, now=NOW,
                         reason="Charged instead")
    db.session.refresh(session)
    assert booking.status is BookingStatus.CANCELLED and session.booked_count == 0
    [confirmation] = messages_to(referral.person.email, "booking_confirmation")
    assert confirmation.status is MessageStatus.CANCELLED


def test_a_freed_place_goes_to_the_first_in_line_who_can_still_take_it(app):
    session = future_session(capacity=1)
    holder = create_referral()
    create_booking(holder, session)
    gone_elsewhere, cannot_climb, waiting, behind = (create_referral(), create_referral(),
                                                     create_referral(), create_referral())
    for n, referral in enumerate((gone_elsewhere, cannot_climb, waiting, behind)):
        bookings_waiting_list.join_waiting_list(referral=referral, session=session, actor=None,
                                   now=NOW + dt.timedelta(minutes=n))
    create_booking(gone_elsewhere, future_session(days=20))  # leaves every waiting list
    cannot_climb.person.needs_step_free = True
    session.venue.step_free_access = False
    bookings_places.cancel_booking(referral=holder, actor=None, now=NOW)
    assert waiting.status is ReferralStatus.BOOKED
    assert bookings_queries.get_active_booking(waiting).session_id == session.id  # type: ignore[union-attr]
    assert messages_to(waiting.person.email, "booking_confirmation")[0].context["from_waiting_list"]
    left = db.session.scalars(select(WaitingListEntry.referral_id)
                              .order_by(WaitingListEntry.joined_at)).all()
    assert left == [cannot_climb.id, behind.id]
    assert [p for _, p in bookings_waiting_list.waiting_positions(behind)] == [2]


def test_joining_the_waiting_list_of_a_session_with_places_is_refused(app):
    with pytest.raises(Exception, match="has places"):
        bookings_waiting_list.join_waiting_list(referral=create_referral(), session=future_session(),
                                                actor=None, now=NOW)


def test_cancelling_a_session_rebooks_or_returns_each_person_as_chosen_and_tells_them(app):
    session, next_one = future_session(), future_session(days=14)
    to_rebook, to_return = create_referral(), create_referral()
    moved, returned = create_booking(to_rebook, session), create_booking(to_return, session)
    outcomes = bookings_session_cancellation.cancel_session_with_bookings(
        session=session, reason="Trainer ill",
        choices={moved.id: bookings_session_cancellation.AfterCancel.REBOOK,
                 returned.id: bookings_session_cancellation.AfterCancel.RETURN},
        actor=None, now=NOW)
    assert {o.referral.id: o.rebooked_on for o in outcomes} == {to_rebook.id: next_one,
                                                              to_return.id: None}
    assert to_rebook.status is ReferralStatus.BOOKED and next_one.booked_count == 1
    assert to_return.status is ReferralStatus.AWAITING_BOOKING and session.booked_count == 0
    for referral in (to_rebook, to_return):
        [notice] = messages_to(referral.person.email, "session_cancelled")
        assert notice.context["cancel_reason"] == "Trainer ill"
    assert messages_to(to_rebook.person.email, "session_cancelled")[0].context["rebooked"] is True


def test_those_waiting_for_a_cancelled_session_are_taken_off_its_list_and_told(app):
    # No place will come up on a cancelled session: each man in its line is told so, once, and
    # that he must still book and complete a course by his date.
    session = future_session(capacity=1)
    create_booking(create_referral(), session)
    first, second = create_referral(), create_referral()
    for referral in (first, second):
        bookings_waiting_list.join_waiting_list(referral=referral, session=session, actor=None,
                                                now=NOW)
    bookings_session_cancellation.cancel_session_with_bookings(
        session=session, reason="Venue flooded", choices={}, actor=None, now=NOW)
    assert db.session.scalars(select(WaitingListEntry)).all() == []
    for referral in (first, second):
        [notice] = messages_to(referral.person.email, "waiting_list_removed")
        assert notice.context["course_cancelled"] is True
        text_part = render_message(notice).text
        assert "has been cancelled, so you are no longer on its waiting list" in text_part
        assert notice.context["complete_by"] in text_part


def test_a_removal_notice_is_not_lost_when_a_deleted_entrys_id_comes_back(app):
    # SQLite gives the highest deleted id to the next row: the second man's entry may carry the
    # first's id, and his notice must not be taken for a copy of the first's.
    first_session, second_session = future_session(capacity=1), future_session(days=9, capacity=1)
    for session in (first_session, second_session):
        create_booking(create_referral(), session)
    first, second = create_referral(), create_referral()
    entry = bookings_waiting_list.join_waiting_list(referral=first, session=first_session,
                                                    actor=None, now=NOW)
    entry_id = entry.id
    bookings_waiting_list.remove_from_waiting_list(entry=entry, actor=None, now=NOW)
    later = NOW + dt.timedelta(hours=2)
    again = bookings_waiting_list.join_waiting_list(referral=second, session=second_session,
                                                    actor=None, now=later)
    if db.engine.dialect.name == "sqlite":
        assert again.id == entry_id  # the case this guards against
    bookings_waiting_list.remove_from_waiting_list(entry=again, actor=None, now=later)
    for referral in (first, second):
        assert len(messages_to(referral.person.email, "waiting_list_removed")) == 1


def test_only_a_booking_ended_by_the_providers_cancellation_counts_as_cancelled_by_the_provider(app):
    session, other = future_session(), future_session(days=14)
    by_provider, rebooked, left_first = create_referral(), create_referral(), create_referral()
    ended = create_booking(by_provider, session)
    moved = create_booking(rebooked, session)
    create_booking(left_first, session)
    bookings_places.cancel_booking(referral=left_first, actor=None, now=NOW)  # he left first
    bookings_session_cancellation.cancel_session_with_bookings(
        session=session, reason="Trainer ill",
        choices={moved.id: bookings_session_cancellation.AfterCancel.REBOOK},
        actor=None, now=NOW + dt.timedelta(hours=1))
    assert bookings_queries.get_booking_cancelled_by_provider(by_provider) == ended
    assert bookings_queries.get_booking_cancelled_by_provider(rebooked) is None  # booked again
    assert other.booked_count == 1
    assert bookings_queries.get_booking_cancelled_by_provider(left_first) is None
    assert bookings_queries.get_booking_cancelled_by_provider(create_referral()) is None


def test_a_withdrawn_referral_cannot_be_booked(app):
    referral = create_referral()
    lifecycle.transition(referral, ReferralEventType.WITHDRAWN, actor=None, now=NOW, reason="x")
    with pytest.raises(InvalidTransition):
        create_booking(referral, future_session())


def test_booked_counts_in_session_lists_are_real(app):
    session = future_session(capacity=3)
    create_booking(create_referral(), session)
    [row] = courses_sessions.list_sessions(
        where=courses_sessions.SessionFilter(starts_from=NOW)).rows
    assert (row.booked, row.available) == (1, 2)
    assert db.session.execute(text("SELECT booked_count FROM sessions")).scalar() == 1
    assert in_days(1) > NOW
