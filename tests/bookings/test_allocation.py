"""Auto-allocation: the pure matcher, the bulk service and the command."""

from __future__ import annotations

import datetime as dt

import pytest

from diversion.bookings.allocation import ALL_FULL, NO_SESSION, OpenSession, allocate, plan_allocation
from diversion.bookings.rules import ReferralFacts, SessionFacts
from diversion.referrals.models import ReferralStatus
from tests.bookings.helpers import messages_to
from tests.builders import NOW, create_referral, create_venue, future_session

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

DAY = dt.timedelta(days=1)


def session(id: int, days: int, places: int = 1, *, online: bool = False, step_free: bool = True,
            programme: int = 1) -> OpenSession:
    starts = NOW + days * DAY
    return OpenSession(SessionFacts(id, programme, starts, starts + dt.timedelta(hours=7), True,
                                    online, step_free), places)


def person(id: int, deadline_days: int, *, step_free: bool = False, email: bool = True,
           programme: int = 1) -> ReferralFacts:
    return ReferralFacts(id, programme, (NOW + deadline_days * DAY).date(), step_free, email)


def test_the_most_urgent_deadline_gets_the_earliest_place():
    plan = plan_allocation([person(1, 90), person(2, 30)], [session(10, 5), session(11, 20)],
                           now=NOW)
    assert plan.placed == [(2, 10), (1, 11)]


def test_nobody_is_placed_after_their_deadline_or_beyond_capacity():
    plan = plan_allocation([person(1, 10), person(2, 10), person(3, 3)], [session(10, 5)], now=NOW)
    assert plan.placed == [(1, 10)]
    assert plan.unplaced == [(3, NO_SESSION), (2, ALL_FULL)]


def test_step_free_needs_and_online_sessions_are_respected():
    sessions = [session(10, 2, step_free=False), session(11, 3, online=True), session(12, 4)]
    plan = plan_allocation([person(1, 60, step_free=True, email=False), person(2, 61, email=False),
                            person(3, 62)], sessions, now=NOW)
    assert plan.placed == [(1, 12), (2, 10), (3, 11)]


def test_allocation_is_deterministic_whatever_the_input_order():
    people = [person(i, 30 + i % 7) for i in range(1, 60)]
    sessions = [session(100 + i, 1 + i % 9, places=3) for i in range(12)]
    first = plan_allocation(people, sessions, now=NOW)
    again = plan_allocation(list(reversed(people)), list(reversed(sessions)), now=NOW)
    assert first.placed == again.placed and len(first.placed) == 36


def test_allocate_books_and_tells_everyone_who_can_be_placed(app):
    small = future_session(days=5, capacity=1)
    placed, unplaced = create_referral(), create_referral(needs_step_free=True)
    small.venue.step_free_access = False
    dry = allocate(actor=None, now=NOW, dry_run=True)
    assert [(r.id, s.id) for r, s in dry.placed] == [(placed.id, small.id)]
    assert placed.status is ReferralStatus.AWAITING_BOOKING and small.booked_count == 0
    result = allocate(actor=None, now=NOW)
    assert [(r.id, why) for r, why in result.unplaced] == [(unplaced.id, NO_SESSION)]
    assert placed.status is ReferralStatus.BOOKED and small.booked_count == 1
    assert messages_to(placed.person.email, "booking_confirmation")


def test_the_allocate_command_prints_who_was_placed_and_who_was_not(app):
    from diversion.core.extensions import db
    from diversion.core.timeutils import now_utc
    from tests.builders import create_session

    soon = now_utc() + dt.timedelta(days=5)  # the command reads the real clock
    create_session(starts_at=soon, capacity=1, venue=create_venue())
    deadline = (soon + dt.timedelta(days=30)).date()
    first = create_referral(completion_deadline=deadline)
    second = create_referral(completion_deadline=deadline)

    db.session.commit()
    output = app.test_cli_runner().invoke(args=["sessions", "allocate", "--dry-run"]).output
    assert f"would place {first.reference}" in output
    assert f"not placed {second.reference}: {ALL_FULL}" in output
    assert "dry run" in output


def test_allocating_takes_the_same_queries_for_two_people_as_for_twenty(app):
    from diversion.core.extensions import db
    from tests.queries import count_queries

    def queries_for(people: int) -> int:
        future_session(days=5, capacity=people)
        referrals = [create_referral().id for _ in range(people)]
        db.session.commit()
        db.session.expunge_all()
        with count_queries() as statements:
            result = allocate(actor=None, now=NOW)
        db.session.commit()
        assert sorted(r.id for r, _ in result.placed) == sorted(referrals)
        return len(statements)

    assert queries_for(2) == queries_for(20)


def test_allocated_confirmations_are_the_messages_one_booking_would_get(app):
    """The bulk confirmations (built from plain values, each session's part once) say exactly
    what `confirmation_message` says for the booking: by email with its calendar file, by
    text without it, and nothing for someone with no address."""
    from sqlalchemy import select

    from diversion.bookings.models import Booking
    from diversion.bookings.notices import confirmation_message
    from diversion.core.extensions import db
    from diversion.outbox.models import OutboxMessage
    from diversion.referrals.models import ContactChannel

    online = future_session(days=4, capacity=2, venue=create_venue(
        name="Online", is_online=True, joining_link="https://meet.example/room",
        address_line_1=None, town=None, postcode=None))
    hall = future_session(days=6, capacity=3, venue=create_venue(address_line_2="Floor 2"))
    by_email, by_text, by_post = create_referral(), create_referral(), create_referral()
    by_text.person.email, by_text.person.mobile = None, "07700900123"
    by_text.person.preferred_contact = ContactChannel.SMS
    by_post.person.email, by_post.person.mobile = None, None
    by_post.person.preferred_contact = ContactChannel.POST
    db.session.flush()
    result = allocate(actor=None, now=NOW)
    assert {s.id for _, s in result.placed} <= {online.id, hall.id} and len(result.placed) == 3
    bookings = {b.referral_id: b for b in db.session.scalars(select(Booking))}
    sent = {m.subject_id: m for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "booking_confirmation"))}
    assert set(sent) == {str(bookings[r.id].id) for r in (by_email, by_text)}
    for referral in (by_email, by_text):
        booking = bookings[referral.id]
        expected = confirmation_message(booking, now=NOW)
        assert expected is not None
        message = sent[str(booking.id)]
        assert message.context == expected["context"]
        assert (message.dedupe_key, message.channel, message.recipient, message.expires_at) == (
            expected["dedupe_key"], expected["channel"], expected["recipient"],
            expected["expires_at"])
    assert "ics" in sent[str(bookings[by_email.id].id)].context
    assert "ics" not in sent[str(bookings[by_text.id].id)].context
    assert confirmation_message(bookings[by_post.id], now=NOW) is None


def test_an_allocated_booking_gets_the_rows_booking_by_hand_writes(app):
    """The bulk path (booking, history and audit rows, reminders and their planning state, all
    written in bulk) writes what booking the same session one person at a time writes, but for
    the history's reason and whose the reference, name and ids are."""
    import json

    from sqlalchemy import select

    from diversion.audit.models import AuditEvent
    from diversion.bookings.models import Booking
    from diversion.bookings.places import book_place
    from diversion.core.extensions import db
    from diversion.outbox.models import BookingReminderState, OutboxMessage
    from diversion.referrals.models import ReferralEvent
    from diversion.reminders.rules import SESSION_TEMPLATES

    online = future_session(days=20, capacity=2, venue=create_venue(
        name="Online", is_online=True, joining_link="https://meet.example/room",
        address_line_1=None, town=None, postcode=None))
    by_hand, allocated = create_referral(), create_referral()
    book_place(referral=by_hand, session=online, actor=None, now=NOW)
    assert [r.id for r, _ in allocate(actor=None, now=NOW).placed] == [allocated.id]
    db.session.expire_all()

    def rows_of(referral):  # type: ignore[no-untyped-def]
        booking = db.session.scalars(select(Booking).where(Booking.referral_id == referral.id)).one()
        own = {referral.reference: "REF", f":booking:{booking.id}:": ":booking:ID:",
               referral.person.given_names.split()[0]: "NAME"}

        def plain(value):  # type: ignore[no-untyped-def]
            text = json.dumps(value, default=str, sort_keys=True)
            for mine, placeholder in own.items():
                text = text.replace(mine, placeholder)
            return text

        event = db.session.scalars(select(ReferralEvent).where(
            ReferralEvent.referral_id == referral.id).order_by(ReferralEvent.id.desc())).first()
        audit = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "referral.booked",
            AuditEvent.object_id == str(referral.id))).one()
        reminders = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.subject_type == "booking", OutboxMessage.subject_id == str(booking.id),
            OutboxMessage.template.in_(sorted(SESSION_TEMPLATES))).order_by(OutboxMessage.template))
        state = db.session.get(BookingReminderState, booking.id)
        assert state is not None
        return {
            "booking": (booking.session_id, booking.status, booking.created_at,
                        booking.created_by_id),
            "history": (event.event, event.from_status, event.to_status, event.at,
                        event.actor_user_id, event.actor_label),
            "audit": (audit.at, audit.actor_label, audit.category, audit.object_type,
                      audit.details),
            "reminders": [plain([m.dedupe_key, m.channel, m.recipient.split("@")[1], m.template,
                                 m.context, m.status, m.due_at, m.expires_at,
                                 m.next_attempt_at, m.attempts, m.created_at])
                          for m in reminders],
            "state": (state.planned_for_start, state.planned_at, state.planned_count, state.note),
        }

    expected, got = rows_of(by_hand), rows_of(allocated)
    # The first and final reminders, the joining details and the fee reminder.
    assert len(got["reminders"]) == 4 and ":booking:ID:" in got["reminders"][0]
    assert got == expected


def test_a_booking_made_meanwhile_books_nobody(app):
    """The places and bookings are written together, sent ahead on PostgreSQL: a booking that
    appeared after the plan was read (here one left active for a referral still awaiting)
    makes the whole run a Conflict, with no place taken and nobody moved."""
    from sqlalchemy import func, select

    from diversion.bookings.models import Booking, BookingStatus
    from diversion.core.errors import Conflict
    from diversion.core.extensions import db

    session = future_session(days=5, capacity=3)
    first, second = create_referral(), create_referral()
    db.session.add(Booking(referral_id=second.id, session_id=session.id,
                           status=BookingStatus.ACTIVE, created_at=NOW))
    db.session.flush()
    with pytest.raises(Conflict, match="nothing was booked"):
        allocate(actor=None, now=NOW)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1
    assert session.booked_count == 0
    assert first.status is ReferralStatus.AWAITING_BOOKING
    assert not messages_to(first.person.email, "booking_confirmation")
