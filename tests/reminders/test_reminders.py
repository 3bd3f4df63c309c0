"""Planning reminders into the outbox: on booking, by the sweep, and when things change."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from diversion.bookings import places as bookings_places
from diversion.core.extensions import db
from diversion.core.jobs import run_job
from diversion.core.timeutils import to_london
from diversion.courses import planning as courses_planning
from diversion.outbox.channels import LogChannel
from diversion.outbox.dispatcher import dispatch_due
from diversion.outbox.models import (
    BookingReminderState,
    Channel,
    MessageStatus,
    OutboxMessage,
    ReminderKind,
)
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEventType
from diversion.reminders import plan as reminders_plan
from diversion.reminders import session_reminders as reminders_session_reminders
from diversion.reminders import triggers as reminders_triggers
from diversion.reminders.rules import DEFAULT_PLAN, PlanItem
from tests.builders import (
    NOW,
    create_booking,
    create_programme,
    create_referral,
    create_venue,
    future_session,
)

K = ReminderKind
REMINDER_TEMPLATES = ("reminder_first", "reminder_final", "reminder_joining_details")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def reminders_of(booking, status: MessageStatus | None = None) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    db.session.flush()
    query = select(OutboxMessage).where(
        OutboxMessage.subject_type == "booking", OutboxMessage.subject_id == str(booking.id),
        OutboxMessage.template.in_(REMINDER_TEMPLATES))
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    return list(db.session.scalars(query.order_by(OutboxMessage.due_at)))


def sweep(now: dt.datetime = NOW) -> dict[str, int]:
    return reminders_triggers.run_reminder_sweep(now=now)


def move(session, starts_at: dt.datetime, now=NOW):  # type: ignore[no-untyped-def]
    wall = to_london(starts_at)
    end = to_london(starts_at + (session.ends_at - session.starts_at))
    return courses_planning.update_session(session=session, venue=session.venue, day=wall.date(),
                                           start_time=wall.time(), end_time=end.time(),
                                           capacity=session.capacity,
                                           facilitators=session.facilitators, actor=None, now=now)


def test_booking_plans_the_week_and_day_before_reminders_at_ten_london_time(app):
    session = future_session(days=10)  # Thursday 25 June 2026, 09:00 UTC
    booking = create_booking(create_referral(), session)
    first, final = reminders_of(booking)
    assert (first.template, first.due_at) == ("reminder_first", utc(2026, 6, 18, 9, 0))
    assert (final.template, final.due_at) == ("reminder_final", utc(2026, 6, 24, 9, 0))
    assert first.expires_at == final.expires_at == session.starts_at
    assert first.dedupe_key == f"reminder:first_reminder:booking:{booking.id}:20260625T0900Z"
    assert first.channel is Channel.EMAIL and first.status is MessageStatus.PENDING


def test_planning_again_and_sweeping_again_add_nothing(app):
    booking = create_booking(create_referral(), future_session(days=10))
    assert reminders_session_reminders.plan_booking_reminders(booking, now=NOW) == 0
    sweep()
    sweep(NOW + dt.timedelta(minutes=5))
    assert len(reminders_of(booking)) == 2


def test_a_booking_moved_to_another_session_is_reminded_of_the_new_date_only(app):
    referral = create_referral()
    old = create_booking(referral, future_session(days=10))
    new = bookings_places.transfer_booking(referral=referral, session=future_session(days=20),
                                    actor=None, now=NOW)
    assert {m.status for m in reminders_of(old)} == {MessageStatus.CANCELLED}
    assert [m.due_at for m in reminders_of(new, MessageStatus.PENDING)] == [
        utc(2026, 6, 28, 9, 0), utc(2026, 7, 4, 9, 0)]
    assert sweep()["bookings_planned"] == 0  # planned on the move; the sweep is the backstop
    assert len(reminders_of(new)) == 2


def test_the_sweep_plans_an_active_booking_that_was_never_planned(app):
    booking = create_booking(create_referral(), future_session(days=10))
    db.session.execute(delete(OutboxMessage).where(
        OutboxMessage.template.in_(REMINDER_TEMPLATES)))
    db.session.execute(delete(BookingReminderState))
    assert sweep()["bookings_planned"] == 1
    assert [m.due_at for m in reminders_of(booking, MessageStatus.PENDING)] == [
        utc(2026, 6, 18, 9, 0), utc(2026, 6, 24, 9, 0)]


def test_cancelling_a_booking_cancels_its_reminders_and_the_sweep_does_not_replan_them(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    bookings_places.cancel_booking(referral=referral, actor=None, now=NOW + dt.timedelta(hours=1))
    sweep(NOW + dt.timedelta(hours=1))
    assert {m.status for m in reminders_of(booking)} == {MessageStatus.CANCELLED}


def test_a_cancelled_session_has_its_pending_reminders_cancelled_by_the_sweep(app):
    session = future_session(days=10)
    booking = create_booking(create_referral(), session)
    courses_planning.cancel_session(session=session, reason="Venue flooded", actor=None, now=NOW)
    assert sweep()["cancelled"] == 3  # first, final, and the fee reminder (the fee is owed)
    assert {m.status for m in reminders_of(booking)} == {MessageStatus.CANCELLED}


def test_a_moved_session_has_its_reminders_re_timed(app):
    session = future_session(days=10)
    booking = create_booking(create_referral(), session)
    move(session, utc(2026, 7, 2, 9, 0))
    result = sweep()
    # first, final, and the fee reminder (the fee is owed)
    assert result["cancelled"] == 3 and result["bookings_planned"] == 1
    pending = reminders_of(booking, MessageStatus.PENDING)
    assert [m.due_at for m in pending] == [utc(2026, 6, 25, 9, 0), utc(2026, 7, 1, 9, 0)]
    assert all(m.dedupe_key.endswith(":20260702T0900Z") for m in pending)
    assert all(m.expires_at == utc(2026, 7, 2, 9, 0) for m in pending)
    assert len(reminders_of(booking, MessageStatus.CANCELLED)) == 2


def test_a_session_moved_and_moved_back_gets_its_first_reminders_back(app):
    session = future_session(days=10)
    booking = create_booking(create_referral(), session)
    original = session.starts_at
    move(session, utc(2026, 7, 2, 9, 0))
    sweep()
    move(session, original)
    sweep(NOW + dt.timedelta(minutes=5))
    pending = reminders_of(booking, MessageStatus.PENDING)
    assert [m.due_at for m in pending] == [utc(2026, 6, 18, 9, 0), utc(2026, 6, 24, 9, 0)]
    assert len(reminders_of(booking)) == 4  # two per start instant, never duplicated


def test_a_session_moved_so_a_reminder_is_already_past_skips_that_reminder(app):
    session = future_session(days=10)
    booking = create_booking(create_referral(), session)
    move(session, utc(2026, 6, 19, 9, 0))  # first reminder would be 12 June: past
    sweep()
    assert [m.template for m in reminders_of(booking, MessageStatus.PENDING)] == ["reminder_final"]


def test_a_late_booking_is_not_sent_reminders_whose_time_has_passed(app):
    # Session 16 June 10:00 BST; the final reminder was due at 09:00 UTC on the 15th.
    booking = create_booking(create_referral(), future_session(days=1), now=NOW + dt.timedelta(minutes=1))
    assert reminders_of(booking) == []
    state = db.session.get(BookingReminderState, booking.id)
    assert state is not None and state.planned_count == 0 and "passed" in (state.note or "")
    assert sweep(NOW + dt.timedelta(minutes=5))["bookings_planned"] == 0


def test_someone_with_no_email_or_mobile_is_recorded_as_nothing_to_send(app):
    referral = create_referral(email=None, mobile=None, preferred_contact="post",
                               address_line_1="1 Example Road", town="Leeds", postcode="LS1 4AP")
    booking = create_booking(referral, future_session(days=10))
    assert reminders_of(booking) == []
    state = db.session.get(BookingReminderState, booking.id)
    assert state is not None and state.note == reminders_session_reminders.NO_CONTACT


def test_someone_who_prefers_texts_gets_sms_reminders_outside_the_quiet_hours(app):
    programme = create_programme()
    reminders_plan.save_plan(programme=programme, items=[
        PlanItem(K.FINAL_REMINDER, True, 1, dt.time(21, 30))], actor=None, now=NOW)
    referral = create_referral(mobile="07911123456", preferred_contact="sms")
    booking = create_booking(referral, future_session(days=10))
    final = [m for m in reminders_of(booking) if m.template == "reminder_final"]
    assert [(m.channel, m.due_at) for m in final] == [(Channel.SMS, utc(2026, 6, 25, 7, 0))]


def test_an_online_session_sends_the_joining_link_only_in_the_joining_details(app):
    venue = create_venue(is_online=True, joining_link="https://meet.example/abc-123",
                         address_line_1=None, town=None, postcode=None)
    session = future_session(days=10, venue=venue)
    referral = create_referral()
    booking = create_booking(referral, session)
    messages = reminders_of(booking)
    [joining] = [m for m in messages if m.template == "reminder_joining_details"]
    assert joining.due_at == session.starts_at - dt.timedelta(hours=48)
    assert joining.context["joining_link"] == "https://meet.example/abc-123"
    everything_else = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.id != joining.id)).all()
    assert everything_else and all("meet.example" not in str(m.context) for m in everything_else)


def test_a_reminder_still_pending_when_the_session_starts_expires_instead_of_sending(app):
    session = future_session(days=10)
    booking = create_booking(create_referral(), session)
    db.session.commit()
    channel = LogChannel()
    dispatch_due(now=session.starts_at + dt.timedelta(minutes=1),
                 channels={Channel.EMAIL: channel, Channel.SMS: LogChannel()})
    statuses = {m.template: m.status for m in reminders_of(booking)}
    assert statuses == {"reminder_first": MessageStatus.EXPIRED,
                        "reminder_final": MessageStatus.EXPIRED}
    assert not any(str(m.id) == reference for _, _, reference in channel.sent
                   for m in reminders_of(booking))


def test_a_due_reminder_is_delivered_once(app):
    session = future_session(days=10)
    booking = create_booking(create_referral(), session)
    db.session.commit()
    channel = LogChannel()
    channels = {Channel.EMAIL: channel, Channel.SMS: LogChannel()}
    dispatch_due(now=utc(2026, 6, 18, 9, 1), channels=channels)
    dispatch_due(now=utc(2026, 6, 18, 9, 2), channels=channels)
    first = reminders_of(booking)[0]
    assert first.status is MessageStatus.SENT
    assert [ref for _, _, ref in channel.sent].count(str(first.id)) == 1
    rendered = next(message for _, message, ref in channel.sent if ref == str(first.id))
    assert "Thursday 25 June 2026 at 10:00am" in rendered.text and rendered.html


def test_the_deadline_message_is_planned_for_people_not_yet_booked_and_dropped_on_booking(app):
    referral = create_referral()  # referred 10 June: book by 8 July
    assert referral.booking_deadline == dt.date(2026, 7, 8)
    assert sweep(utc(2026, 6, 20, 9, 0))["deadline_planned"] == 0  # too early to plan
    assert sweep(utc(2026, 6, 30, 12, 0))["deadline_planned"] == 1
    assert sweep(utc(2026, 6, 30, 12, 5))["deadline_planned"] == 0
    [message] = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "reminder_booking_deadline")).all()
    assert message.due_at == utc(2026, 7, 1, 9, 0) and message.expires_at == utc(2026, 7, 8, 23, 0)
    assert message.context["booking_deadline"] == "Wednesday 8 July 2026"
    create_booking(referral, future_session(days=20), now=utc(2026, 6, 30, 13, 0))
    db.session.refresh(message)
    assert message.status is MessageStatus.CANCELLED


def test_withdrawing_the_offer_tells_the_person_once(app):
    referral = create_referral()
    lifecycle.transition(referral, ReferralEventType.WITHDRAWN, actor=None, now=NOW,
                         reason="Charged instead")
    db.session.flush()
    [message] = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "offer_withdrawn")).all()
    assert message.recipient == referral.person.email and message.due_at == NOW
    assert message.dedupe_key == f"offer-withdrawn:referral:{referral.id}"


def test_no_withdrawal_notice_when_the_plan_switches_it_off(app):
    reminders_plan.save_plan(programme=create_programme(), items=[
        PlanItem(K.OFFER_WITHDRAWN, False)], actor=None, now=NOW)
    referral = create_referral()
    lifecycle.transition(referral, ReferralEventType.WITHDRAWN, actor=None, now=NOW)
    db.session.flush()
    assert db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "offer_withdrawn")).all() == []


def test_changing_the_plan_re_plans_pending_reminders_of_upcoming_bookings(app):
    programme = create_programme()
    booking = create_booking(create_referral(), future_session(days=10))
    reminders_plan.save_plan(programme=programme, items=[
        PlanItem(K.FIRST_REMINDER, False, 7, dt.time(10)),
        PlanItem(K.FINAL_REMINDER, True, 2, dt.time(9, 15))], actor=None, now=NOW)
    pending = reminders_of(booking, MessageStatus.PENDING)
    assert [(m.template, m.due_at) for m in pending] == [
        ("reminder_final", utc(2026, 6, 23, 8, 15))]
    reminders_plan.save_plan(programme=programme, items=list(DEFAULT_PLAN.values()), actor=None,
                             now=NOW)
    assert [m.due_at for m in reminders_of(booking, MessageStatus.PENDING)] == [
        utc(2026, 6, 18, 9, 0), utc(2026, 6, 24, 9, 0)]
    assert len(reminders_of(booking)) == 2


def test_the_plan_reminders_job_is_registered_and_runs_once(app):
    referral = create_referral()
    session = future_session(days=10)
    db.session.commit()
    booking_id = bookings_places.book_place(referral=referral, session=session, actor=None, now=NOW).id
    db.session.execute(delete(OutboxMessage))  # as if planning had never happened
    db.session.execute(delete(BookingReminderState))
    db.session.commit()
    result = run_job("plan_reminders", now=NOW)
    assert result["bookings_planned"] == 1
    assert db.session.scalars(select(OutboxMessage.template).where(
        OutboxMessage.subject_id == str(booking_id),
        OutboxMessage.template.in_(REMINDER_TEMPLATES)).order_by(OutboxMessage.due_at)).all() == [
        "reminder_first", "reminder_final"]


def test_the_demo_has_messages_in_every_status_and_loading_twice_adds_none(app):
    from diversion.demo import load_demo_data
    from diversion.outbox.services import count_by_status

    load_demo_data(now=NOW)
    db.session.commit()
    first = count_by_status()
    assert all(first[status] >= 1 for status in ("pending", "sent", "failed", "expired",
                                                 "cancelled")), first
    demo = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.dedupe_key.like("demo:%"))).all()
    assert len(demo) == 5 and all(m.subject_type == "referral" and m.subject_id for m in demo)
    load_demo_data(now=NOW)
    db.session.commit()
    assert count_by_status() == first


def test_a_managers_resend_of_a_failed_reminder_is_not_cancelled_by_the_sweep(app):
    from diversion.outbox.services import resend_message

    booking = create_booking(create_referral(), future_session(days=10))
    first = reminders_of(booking)[0]
    first.status = MessageStatus.FAILED  # as the dispatcher leaves a permanent failure
    db.session.flush()
    copy = resend_message(message_id=first.id, actor=None, now=NOW)
    sweep()
    db.session.refresh(copy)
    assert copy.status is MessageStatus.PENDING


def sent_references(channel: LogChannel) -> list[str]:
    return [reference for _, _, reference in channel.sent]


def test_a_booking_cancelled_an_hour_before_its_reminder_never_sends_it(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    first = reminders_of(booking)[0]
    db.session.commit()
    channel = LogChannel()
    channels = {Channel.EMAIL: channel, Channel.SMS: LogChannel()}
    an_hour_before = first.due_at - dt.timedelta(hours=1)
    bookings_places.cancel_booking(referral=referral, actor=None, now=an_hour_before)
    db.session.commit()
    for minutes in (1, 6, 60 * 24):  # at the reminder's time, a sweep later, a day later
        sweep(first.due_at + dt.timedelta(minutes=minutes))
        db.session.commit()
        dispatch_due(now=first.due_at + dt.timedelta(minutes=minutes), channels=channels)
    assert {m.status for m in reminders_of(booking)} == {MessageStatus.CANCELLED}
    assert not set(sent_references(channel)) & {str(m.id) for m in reminders_of(booking)}


def test_a_session_moved_after_planning_sends_only_the_new_reminders_each_once(app):
    session = future_session(days=10)  # Thursday 25 June 09:00 UTC
    booking = create_booking(create_referral(), session)
    old_ids = {str(m.id) for m in reminders_of(booking)}
    move(session, utc(2026, 7, 2, 9, 0))
    db.session.commit()
    channel = LogChannel()
    channels = {Channel.EMAIL: channel, Channel.SMS: LogChannel()}
    # Every 5 minutes the sweep, every run the dispatcher, around each old and new due time.
    for due in (utc(2026, 6, 18, 9, 0), utc(2026, 6, 24, 9, 0), utc(2026, 6, 25, 9, 0),
                utc(2026, 7, 1, 9, 0)):
        for minutes in (-5, 0, 1, 5, 30):
            now = due + dt.timedelta(minutes=minutes)
            sweep(now)
            db.session.commit()
            dispatch_due(now=now, channels=channels)
    new = reminders_of(booking, MessageStatus.SENT)
    assert [m.due_at for m in new] == [utc(2026, 6, 25, 9, 0), utc(2026, 7, 1, 9, 0)]
    references = sent_references(channel)
    assert not old_ids & set(references)
    assert sorted(r for r in references if r in {str(m.id) for m in new}) == sorted(
        str(m.id) for m in new)
    assert len(references) == len(set(references))
