"""The fee outstanding reminder: to a booked man whose fee is owed, exactly once, never once the
fee is paid or waived, cancelled and re-planned with the booking."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from diversion.bookings import fees as bookings_fees
from diversion.bookings import places as bookings_places
from diversion.bookings.models import FeeWaiver
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.outbox.channels import LogChannel
from diversion.outbox.dispatcher import dispatch_due
from diversion.outbox.models import BookingReminderState, Channel, MessageStatus, OutboxMessage, ReminderKind
from diversion.reminders import plan as reminders_plan
from diversion.reminders import session_reminders as reminders_session_reminders
from diversion.reminders import triggers as reminders_triggers
from diversion.reminders.rules import DEFAULT_PLAN, PlanItem
from tests.builders import (
    NOW,
    clear_fee,
    create_booking,
    create_programme,
    create_referral,
    create_user,
    future_session,
    pay_fee,
)
from tests.queries import count_queries

K = ReminderKind
FEE = "reminder_fee_outstanding"
BASE = "http://127.0.0.1:5000"
DUE = dt.datetime(2026, 6, 20, 9, 0, tzinfo=dt.UTC)  # 5 days before 25 June, 10:00 London


@pytest.fixture(autouse=True)
def pays_online(app, monkeypatch):  # type: ignore[no-untyped-def]
    """Online payment on (the reminder's pay link); planning never calls GOV.UK Pay."""
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], payment_backend="govuk_pay"))


def fee_reminders(booking, status: MessageStatus | None = None) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    db.session.flush()
    query = select(OutboxMessage).where(
        OutboxMessage.subject_type == "booking", OutboxMessage.subject_id == str(booking.id),
        OutboxMessage.template == FEE).execution_options(populate_existing=True)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


def sweep(now: dt.datetime = NOW) -> dict[str, int]:
    return reminders_triggers.run_reminder_sweep(now=now)


def test_the_default_plan_sends_it_five_days_before_at_ten_london_time():
    assert DEFAULT_PLAN[K.FEE_OUTSTANDING] == PlanItem(K.FEE_OUTSTANDING, True, 5, dt.time(10, 0))


def test_a_booked_man_who_owes_the_fee_gets_one_reminder_with_the_amount_and_the_pay_link(app):
    referral = create_referral()
    session = future_session(days=10)  # Thursday 25 June 2026, 09:00 UTC
    booking = create_booking(referral, session)
    (message,) = fee_reminders(booking)
    assert message.status is MessageStatus.PENDING and message.due_at == DUE
    assert message.expires_at == session.starts_at
    assert message.dedupe_key == f"reminder:fee_outstanding:booking:{booking.id}:20260625T0900Z"
    assert message.context["outstanding"] == "£200.00"
    assert message.context["pay_url"] == f"{BASE}/book?ref={referral.reference}&then=pay"
    assert message.context["manage_url"] == f"{BASE}/book?ref={referral.reference}"
    assert "venue_name" not in message.context


def test_it_says_what_is_left_after_a_part_payment(app):
    referral = create_referral()
    bookings_fees.record_payment(referral=referral, amount_pence=5050, method="cash",
                                 reference=None, actor=create_user("manager"), now=NOW)
    booking = create_booking(referral, future_session(days=10))
    (message,) = fee_reminders(booking)
    assert message.context["outstanding"] == "£149.50"


def test_nothing_is_planned_when_the_fee_is_already_paid_or_waived(app):
    paid, waived = create_referral(), create_referral()
    pay_fee(paid)
    clear_fee(waived)
    for referral in (paid, waived):
        booking = create_booking(referral, future_session(days=10))
        assert fee_reminders(booking) == []
        # The other reminders still go.
        assert db.session.scalar(select(BookingReminderState.planned_count).where(
            BookingReminderState.booking_id == booking.id)) == 2
    sweep()
    assert db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == FEE)).all() == []


def test_nothing_is_planned_for_a_programme_without_a_fee(app):
    assert create_programme(fee_pence=0).fee_pence == 0  # the programme referrals are made for
    booking = create_booking(create_referral(), future_session(days=10))
    assert fee_reminders(booking) == []


def test_paying_the_fee_cancels_the_pending_reminder_and_it_is_never_sent(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    pay_fee(referral, now=NOW + dt.timedelta(days=1))
    assert [m.status for m in fee_reminders(booking)] == [MessageStatus.CANCELLED]
    sweep(NOW + dt.timedelta(days=1))
    db.session.commit()
    channel = LogChannel()
    dispatch_due(now=DUE + dt.timedelta(minutes=1),
                 channels={Channel.EMAIL: channel, Channel.SMS: LogChannel()})
    (message,) = fee_reminders(booking)
    assert message.status is MessageStatus.CANCELLED
    assert str(message.id) not in [reference for _, _, reference in channel.sent]


def test_waiving_the_fee_cancels_the_pending_reminder_but_not_the_others(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    clear_fee(referral)
    assert [m.status for m in fee_reminders(booking)] == [MessageStatus.CANCELLED]
    others = db.session.scalars(select(OutboxMessage.status).where(
        OutboxMessage.subject_id == str(booking.id),
        OutboxMessage.template.in_(["reminder_first", "reminder_final"]))).all()
    assert others == [MessageStatus.PENDING, MessageStatus.PENDING]


def test_the_sweep_cancels_a_reminder_whose_fee_was_cleared_without_the_signal(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    db.session.add(FeeWaiver(referral_id=referral.id, reason="Hardship", waived_at=NOW))
    db.session.flush()
    assert sweep()["cancelled"] == 1
    assert [m.status for m in fee_reminders(booking)] == [MessageStatus.CANCELLED]


def test_it_is_sent_exactly_once(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    assert reminders_session_reminders.plan_booking_reminders(booking, now=NOW) == 0
    sweep()
    sweep(NOW + dt.timedelta(minutes=5))
    db.session.commit()
    channel = LogChannel()
    channels = {Channel.EMAIL: channel, Channel.SMS: LogChannel()}
    for minutes in (1, 2, 10):
        sweep(DUE + dt.timedelta(minutes=minutes))
        db.session.commit()
        dispatch_due(now=DUE + dt.timedelta(minutes=minutes), channels=channels)
    (message,) = fee_reminders(booking)
    assert message.status is MessageStatus.SENT
    sent = [m for _, m, reference in channel.sent if reference == str(message.id)]
    assert len(sent) == 1
    assert "£200.00" in sent[0].text
    assert f"{BASE}/book?ref={referral.reference}&amp;then=pay" in sent[0].html
    assert f"{BASE}/book?ref={referral.reference}&then=pay" in sent[0].text


def test_a_transfer_cancels_the_old_bookings_reminder_and_plans_one_for_the_new_date(app):
    referral = create_referral()
    old = create_booking(referral, future_session(days=10))
    new = bookings_places.transfer_booking(referral=referral, session=future_session(days=20),
                                           actor=None, now=NOW)
    assert [m.status for m in fee_reminders(old)] == [MessageStatus.CANCELLED]
    (message,) = fee_reminders(new, MessageStatus.PENDING)
    assert message.due_at == dt.datetime(2026, 6, 30, 9, 0, tzinfo=dt.UTC)


def test_cancelling_the_booking_or_the_session_cancels_it(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    bookings_places.cancel_booking(referral=referral, actor=None, now=NOW + dt.timedelta(hours=1))
    assert [m.status for m in fee_reminders(booking)] == [MessageStatus.CANCELLED]
    session = future_session(days=12)
    other = create_booking(create_referral(), session)
    courses_planning.cancel_session(session=session, reason="Venue flooded", actor=None, now=NOW)
    sweep()
    assert [m.status for m in fee_reminders(other)] == [MessageStatus.CANCELLED]


def test_switched_off_in_the_plan_it_is_not_planned_and_pending_ones_are_cancelled(app):
    programme = create_programme()
    booking = create_booking(create_referral(), future_session(days=10))
    reminders_plan.save_plan(programme=programme, items=[
        PlanItem(K.FEE_OUTSTANDING, False, 5, dt.time(10, 0))], actor=None, now=NOW)
    assert [m.status for m in fee_reminders(booking)] == [MessageStatus.CANCELLED]
    later = create_booking(create_referral(), future_session(days=11))
    assert fee_reminders(later) == []


def test_bulk_planning_plans_it_only_for_those_who_owe_in_a_few_queries(app):
    session = future_session(days=20, capacity=12)
    referrals = [create_referral() for _ in range(10)]
    clear_fee(referrals[0])
    bookings = [bookings_places.book_place(referral=r, session=session, actor=None, now=NOW)
                for r in referrals]
    ids = [b.id for b in bookings]
    db.session.execute(OutboxMessage.__table__.delete())
    db.session.execute(BookingReminderState.__table__.delete())
    with count_queries() as statements:
        reminders_session_reminders.plan_reminders_in_bulk(ids, now=NOW)
    assert len(statements) <= 12  # a few per 500 bookings, not a few per booking
    assert fee_reminders(bookings[0]) == []
    for referral, booking in zip(referrals[1:], bookings[1:], strict=True):
        (message,) = fee_reminders(booking)
        assert message.context["outstanding"] == "£200.00"
        assert message.context["pay_url"] == f"{BASE}/book?ref={referral.reference}&then=pay"


def test_a_part_payment_after_planning_changes_the_amount_the_reminder_states(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    bookings_fees.record_payment(referral=referral, amount_pence=7500, method="cash",
                                 reference=None, actor=create_user("manager"),
                                 now=NOW + dt.timedelta(days=1))
    (message,) = fee_reminders(booking)
    assert message.status is MessageStatus.PENDING and message.context["outstanding"] == "£125.00"
    assert message.due_at == DUE


def test_a_refund_that_makes_the_fee_owed_again_brings_the_reminder_back(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    manager = create_user("manager")
    pay_fee(referral, manager)
    assert [m.status for m in fee_reminders(booking)] == [MessageStatus.CANCELLED]
    (payment,) = bookings_fees.list_payments(referral)
    bookings_fees.record_refund(payment=payment, amount_pence=5000, actor=manager,
                                now=NOW + dt.timedelta(days=1))
    (message,) = fee_reminders(booking)
    assert message.status is MessageStatus.PENDING and message.context["outstanding"] == "£50.00"


def test_with_online_payment_off_it_says_to_phone_the_team_and_gives_no_pay_link(
        app, monkeypatch):
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], payment_backend="none"))
    monkeypatch.setitem(app.config, "DIVERSION_BOOKING_PHONE", "0300 123 4567")
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    sweep()
    db.session.commit()
    channel = LogChannel()
    sweep(DUE + dt.timedelta(minutes=1))
    db.session.commit()
    dispatch_due(now=DUE + dt.timedelta(minutes=1),
                 channels={Channel.EMAIL: channel, Channel.SMS: LogChannel()})
    (message,) = fee_reminders(booking)
    (sent,) = [m for _, m, reference in channel.sent if reference == str(message.id)]
    for body in (sent.text, sent.html):
        assert "0300 123 4567" in body and referral.reference in body
        assert "then=pay" not in body and "Pay online" not in body
