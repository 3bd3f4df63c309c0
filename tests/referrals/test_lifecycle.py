import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.core.errors import InvalidTransition
from diversion.core.extensions import db
from diversion.outbox.dispatcher import render_message
from diversion.outbox.models import OutboxMessage
from diversion.referrals import lifecycle
from diversion.referrals.lifecycle import TRANSITIONS
from diversion.referrals.models import ReferralEvent, ReferralEventType, ReferralStatus
from diversion.referrals.signals import referral_moved
from tests.builders import NOW, create_referral, create_user

S = ReferralStatus
E = ReferralEventType

# How to bring a fresh referral (awaiting booking) to each status.
ROUTES = {
    S.AWAITING_BOOKING: [],
    S.BOOKED: [E.BOOKED],
    S.MISSED: [E.BOOKED, E.MISSED],
    S.COMPLETED: [E.BOOKED, E.ATTENDED_COMPLETED],
    S.NOT_COMPLETED: [E.DEADLINE_PASSED],
    S.WITHDRAWN: [E.WITHDRAWN],
}
MOVABLE_EVENTS = [e for e in E if e is not E.CREATED]


def referral_in(status):
    referral = create_referral()
    for event in ROUTES[status]:
        lifecycle.transition(referral, event, actor=None, now=NOW)
    db.session.flush()
    assert referral.status is status
    return referral


def test_the_table_matches_design_md():
    assert TRANSITIONS[(S.AWAITING_BOOKING, E.BOOKED)] is S.BOOKED
    assert TRANSITIONS[(S.BOOKED, E.BOOKING_CANCELLED)] is S.AWAITING_BOOKING
    assert TRANSITIONS[(S.BOOKED, E.ATTENDED_COMPLETED)] is S.COMPLETED
    assert TRANSITIONS[(S.BOOKED, E.COMPLETED_AFTER_FEE)] is S.COMPLETED
    assert TRANSITIONS[(S.BOOKED, E.MISSED)] is S.MISSED
    assert TRANSITIONS[(S.MISSED, E.EXCUSE_ACCEPTED)] is S.AWAITING_BOOKING
    assert TRANSITIONS[(S.MISSED, E.GRACE_EXPIRED)] is S.NOT_COMPLETED
    assert TRANSITIONS[(S.AWAITING_BOOKING, E.DEADLINE_PASSED)] is S.NOT_COMPLETED
    assert TRANSITIONS[(S.BOOKED, E.DEADLINE_PASSED)] is S.NOT_COMPLETED
    for status in (S.AWAITING_BOOKING, S.BOOKED, S.MISSED):
        assert TRANSITIONS[(status, E.WITHDRAWN)] is S.WITHDRAWN
    terminal = {S.COMPLETED, S.NOT_COMPLETED, S.WITHDRAWN}
    assert not [key for key in TRANSITIONS if key[0] in terminal], "terminal states are final"


@pytest.mark.parametrize(("status", "event"), list(itertools.product(S, MOVABLE_EVENTS)),
                         ids=lambda value: value.value)
def test_every_status_and_event_pair_moves_as_the_table_says_or_changes_nothing(app, status, event):
    officer = create_user("manager")
    referral = referral_in(status)
    history_before = len(referral.events)
    audits_before = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
    # The officer's notice; other features may also write to the person (e.g. withdrawal).
    officer_messages = (select(db.func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.template == lifecycle.OFFICER_TEMPLATE))
    messages_before = db.session.scalar(officer_messages)
    expected = TRANSITIONS.get((status, event))
    if expected is None:
        with pytest.raises(InvalidTransition):
            lifecycle.transition(referral, event, actor=officer, now=NOW, reason="r")
        db.session.flush()
        assert referral.status is status
        assert len(referral.events) == history_before
        assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)) == audits_before
        return
    lifecycle.transition(referral, event, actor=officer, now=NOW, reason="because")
    db.session.flush()
    db.session.expire_all()
    assert referral.status is expected
    row = db.session.scalars(select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)
                             .order_by(ReferralEvent.id.desc())).first()
    assert (row.event, row.from_status, row.to_status) == (event, status, expected)
    assert (row.at, row.actor_user_id, row.actor_label, row.reason) == (
        NOW, officer.id, f"user:{officer.id}", "because")
    audit = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert audit.action == f"referral.{event.value}" and audit.object_id == str(referral.id)
    assert audit.details == {"from": status.value, "to": expected.value}
    notified = db.session.scalar(officer_messages) - messages_before
    should_notify = expected.is_terminal and event not in lifecycle.SILENT_EVENTS
    assert notified == (1 if should_notify else 0)
    assert (referral.closed_on is not None) == expected.is_terminal


def test_the_status_cannot_be_assigned_directly(app):
    referral = create_referral()
    with pytest.raises(AttributeError):
        referral.status = S.COMPLETED
    assert referral.status is S.AWAITING_BOOKING


def test_the_officer_notice_links_to_the_referral_at_the_address_people_use(app, monkeypatch):
    monkeypatch.setitem(app.config, "DIVERSION_BASE_URL", "https://diversion.example.org")
    referral = create_referral()
    lifecycle.transition(referral, E.WITHDRAWN, actor=None, now=NOW, reason="Charged instead")
    db.session.flush()
    message = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.template == lifecycle.OFFICER_TEMPLATE))
    rendered = render_message(message)
    assert f"https://diversion.example.org/referrals/{referral.reference}" in rendered.text


def test_a_new_referral_starts_awaiting_booking_with_a_created_history_row(app):
    referral = create_referral()
    assert referral.status is S.AWAITING_BOOKING
    assert [(e.event, e.from_status, e.to_status, e.actor_label) for e in referral.events] == [
        (E.CREATED, None, S.AWAITING_BOOKING, "system")]


def test_the_officer_notice_is_discreet_and_sent_once(app):
    referral = create_referral(officer_email="PC.Jones@Police.Example")
    lifecycle.transition(referral, E.DEADLINE_PASSED, actor=None, now=NOW)
    db.session.flush()
    message = db.session.scalar(select(OutboxMessage))
    assert message.recipient == "PC.Jones@Police.Example"
    assert message.template == "referral_outcome_officer"
    assert message.context["outcome"] == "not_completed"
    rendered = render_message(message)
    subject = rendered.subject.lower()
    assert referral.reference.lower() in subject
    for word in ("kerb", "soliciting", "sexual", "offence", referral.person.family_name.lower()):
        assert word not in subject
    assert "not completed" in rendered.text


def test_the_officer_notice_gives_the_london_closing_date_in_words(app):
    referral = create_referral()
    late_evening_utc = dt.datetime(2026, 10, 1, 23, 30, tzinfo=dt.UTC)  # 00:30 on 2 Oct, London
    lifecycle.transition(referral, E.DEADLINE_PASSED, actor=None, now=late_evening_utc)
    db.session.flush()
    message = db.session.scalar(select(OutboxMessage))
    assert message.context["closed_on"] == "2 October 2026"
    from diversion.outbox.dispatcher import render_message

    assert "Outcome: not completed, on 2 October 2026." in render_message(message).text


def test_the_system_is_named_as_the_actor_of_automatic_moves(app):
    referral = create_referral()
    lifecycle.transition(referral, E.DEADLINE_PASSED, actor=None, now=NOW)
    assert referral.events[-1].actor_label == "system"
    assert referral.events[-1].actor_user_id is None


def test_listeners_hear_every_move(app):
    heard = []
    with referral_moved.connected_to(heard.append):
        referral = create_referral()
        lifecycle.transition(referral, E.BOOKED, actor=None, now=NOW)
    assert [(m.from_status, m.to_status) for m in heard] == [(S.AWAITING_BOOKING, S.BOOKED)]


def test_allowed_events_lists_the_moves_from_a_status():
    assert set(lifecycle.allowed_events(S.MISSED)) == {E.EXCUSE_ACCEPTED, E.GRACE_EXPIRED,
                                                       E.WITHDRAWN}
    assert lifecycle.allowed_events(S.COMPLETED) == []


def test_a_past_move_is_checked_dated_and_written_to_the_history_without_notices(app):
    referral = create_referral()
    officer = create_user("police")
    db.session.flush()
    audit_rows = len(db.session.scalars(select(AuditEvent)).all())
    heard = []
    long_ago = dt.datetime(2025, 3, 30, 23, 30, tzinfo=dt.UTC)  # 00:30 on 31 March, London
    with referral_moved.connected_to(heard.append):
        row = lifecycle.record_past_move(referral, E.WITHDRAWN, actor=officer, at=long_ago,
                                         reason="Charged instead")
    db.session.flush()
    assert referral.status is S.WITHDRAWN
    assert referral.closed_on == dt.date(2025, 3, 31)
    assert (row.event, row.from_status, row.to_status, row.at, row.actor_user_id, row.reason) == (
        E.WITHDRAWN, S.AWAITING_BOOKING, S.WITHDRAWN, long_ago, officer.id, "Charged instead")
    assert referral.events[-1] is row
    assert heard == []
    assert db.session.scalar(select(OutboxMessage)) is None
    assert len(db.session.scalars(select(AuditEvent)).all()) == audit_rows
    with pytest.raises(InvalidTransition):
        lifecycle.record_past_move(referral, E.BOOKED, actor=None, at=long_ago)
