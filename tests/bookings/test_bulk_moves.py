"""Bulk moves (auto-allocation): `transition_many` writes what `transition` writes, and the
reminders of bulk-booked people are planned as they are for a single booking."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.bookings import places as bookings_places
from diversion.bookings import queries as bookings_queries
from diversion.bookings.allocation import allocate
from diversion.bookings.models import Booking
from diversion.core.errors import InvalidTransition
from diversion.core.extensions import db
from diversion.outbox.models import BookingReminderState, MessageStatus, OutboxMessage
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEvent, ReferralEventType, ReferralStatus
from diversion.reminders.offer_notices import DEADLINE_TEMPLATE
from diversion.reminders.rules import SESSION_TEMPLATES
from tests.builders import NOW, create_referral, create_user, future_session

E = ReferralEventType


def _history(referral):
    db.session.flush()
    return [(row.event, row.from_status, row.to_status, row.at, row.actor_user_id,
             row.actor_label, row.reason)
            for row in db.session.scalars(select(ReferralEvent).where(
                ReferralEvent.referral_id == referral.id).order_by(ReferralEvent.id))]


def _audit(referral):
    return [(row.action, row.category, row.actor_user_id, row.actor_label, row.details, row.at)
            for row in db.session.scalars(select(AuditEvent).where(
                AuditEvent.object_type == "referral", AuditEvent.object_id == str(referral.id),
                AuditEvent.action != "referral.create").order_by(AuditEvent.id))]


def _messages(referral):
    return sorted((m.template, m.status, m.recipient == referral.person.email)
                  for m in db.session.scalars(select(OutboxMessage).where(
                      OutboxMessage.subject_type == "referral",
                      OutboxMessage.subject_id == str(referral.id))))


def _state(referral):
    db.session.refresh(referral)
    return referral.status, referral.closed_on


@pytest.mark.parametrize("route", [[E.DEADLINE_PASSED], [E.WITHDRAWN], [E.BOOKED, E.MISSED]],
                         ids=lambda route: "-".join(e.value for e in route))
def test_transition_many_writes_the_same_status_history_audit_and_notices_as_transition(
        app, route):
    manager = create_user("manager")
    one_by_one = [create_referral() for _ in range(2)]
    together = [create_referral() for _ in range(2)]
    for event in route:
        for referral in one_by_one:
            lifecycle.transition(referral, event, actor=manager, now=NOW, reason="Why")
        lifecycle.transition_many(together, event, actor=manager, now=NOW, reason="Why")
    db.session.flush()
    for single, bulk in zip(one_by_one, together, strict=True):
        assert _history(bulk) == _history(single) and len(_history(bulk)) == 1 + len(route)
        assert _audit(bulk) == _audit(single) and len(_audit(bulk)) == len(route)
        assert _state(bulk) == _state(single) and bulk.status is not ReferralStatus.AWAITING_BOOKING
        assert _messages(bulk) == _messages(single)
        assert [e.event for e in bulk.events][-1] is route[-1]  # the loaded history is current


def test_a_terminal_bulk_move_tells_each_officer_but_booking_tells_none(app):
    referrals = [create_referral() for _ in range(3)]
    lifecycle.transition_many(referrals, E.BOOKED, actor=None, now=NOW)
    db.session.flush()
    assert not [m for r in referrals for m in _messages(r)
                if m[0] == lifecycle.OFFICER_TEMPLATE]
    lifecycle.transition_many(referrals, E.WITHDRAWN, actor=None, now=NOW, reason="No longer")
    db.session.flush()
    assert all((lifecycle.OFFICER_TEMPLATE, MessageStatus.PENDING, False) in _messages(r)
               for r in referrals)


def test_one_refused_move_in_a_batch_changes_nothing(app):
    waiting, closed = create_referral(), create_referral()
    lifecycle.transition(closed, E.WITHDRAWN, actor=None, now=NOW)
    db.session.flush()
    before = (_history(waiting), _history(closed))
    with pytest.raises(InvalidTransition):
        lifecycle.transition_many([waiting, closed], E.BOOKED, actor=None, now=NOW)
    assert waiting.status is ReferralStatus.AWAITING_BOOKING
    assert (_history(waiting), _history(closed)) == before


def _reminders(booking):
    return [(m.template, m.channel, m.status, m.due_at, m.expires_at,
             {k: v for k, v in m.context.items()
              if k not in ("reference", "given_name", "manage_url", "pay_url")})
            for m in db.session.scalars(select(OutboxMessage).where(
                OutboxMessage.subject_type == "booking",
                OutboxMessage.subject_id == str(booking.id),
                OutboxMessage.template.in_(sorted(SESSION_TEMPLATES))).order_by(
                OutboxMessage.template))]


def test_allocated_bookings_get_the_same_reminders_as_a_booking_made_by_hand(app):
    session = future_session(days=20, capacity=3)
    by_hand = bookings_places.book_place(referral=create_referral(), session=session, actor=None,
                                         now=NOW)
    allocated = [create_referral(), create_referral()]
    result = allocate(actor=None, now=NOW)
    db.session.flush()
    assert {r.id for r, _ in result.placed} == {r.id for r in allocated}
    expected = _reminders(by_hand)
    assert len(expected) == 3  # the first and the final reminder, and the fee still owed
    for referral in allocated:
        booking = bookings_queries.get_active_booking(referral)
        assert booking is not None and _reminders(booking) == expected
        links = {m.context["manage_url"] for m in db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.subject_type == "booking", OutboxMessage.subject_id == str(booking.id),
            OutboxMessage.template.in_(sorted(SESSION_TEMPLATES))))}
        assert links == {f"http://127.0.0.1:5000/book?ref={referral.reference}"}
        state = db.session.get(BookingReminderState, booking.id)
        assert state is not None and state.planned_count == 3
        assert state.planned_for_start == session.starts_at
        assert referral.status is ReferralStatus.BOOKED


def test_a_referral_allocated_with_no_address_gets_a_state_saying_so_and_no_reminders(app):
    session = future_session(days=20, capacity=3)
    referral = create_referral(email=None, mobile=None, preferred_contact="post",
                               address_line_1="1 Example Road", town="Leeds", postcode="LS1 4AP")
    allocate(actor=None, now=NOW)
    db.session.flush()
    booking = db.session.scalar(select(Booking).where(Booking.referral_id == referral.id))
    assert booking is not None and booking.session_id == session.id
    assert _reminders(booking) == []
    state = db.session.get(BookingReminderState, booking.id)
    assert state is not None and state.planned_count == 0 and "No email" in (state.note or "")


def test_allocation_cancels_a_pending_booking_deadline_message(app):
    future_session(days=20)
    referral = create_referral()
    db.session.add(OutboxMessage(
        dedupe_key=f"test-deadline:{referral.id}", channel="email", recipient="x@example.com",
        template=DEADLINE_TEMPLATE, context={}, subject_type="referral",
        subject_id=str(referral.id), status=MessageStatus.PENDING, due_at=NOW + dt.timedelta(days=1),
        next_attempt_at=NOW + dt.timedelta(days=1), attempts=0, created_at=NOW))
    db.session.flush()
    allocate(actor=None, now=NOW)
    db.session.flush()
    message = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.dedupe_key == f"test-deadline:{referral.id}")
        .execution_options(populate_existing=True))
    assert message is not None and message.status is MessageStatus.CANCELLED


def test_a_transfer_plans_the_new_bookings_reminders_at_once_and_cancels_the_old_ones(app):
    first, second = future_session(days=20), future_session(days=30)
    referral = create_referral()
    old = bookings_places.book_place(referral=referral, session=first, actor=None, now=NOW)
    assert [r[2] for r in _reminders(old)] == [MessageStatus.PENDING] * 3  # with the fee's
    new = bookings_places.transfer_booking(referral=referral, session=second, actor=None, now=NOW)
    db.session.flush()
    planned = _reminders(new)
    assert [r[2] for r in planned] == [MessageStatus.PENDING] * 3
    assert all(r[4] == second.starts_at for r in planned)  # they expire at the new start
    state = db.session.get(BookingReminderState, new.id)
    assert state is not None and state.planned_for_start == second.starts_at
    db.session.expire_all()
    assert [r[2] for r in _reminders(old)] == [MessageStatus.CANCELLED] * 3
