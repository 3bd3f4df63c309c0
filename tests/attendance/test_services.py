"""Taking the register and what it decides: every status to every outcome, through the lifecycle."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from diversion.attendance import corrections as attendance_corrections
from diversion.attendance import deadlines as attendance_deadlines
from diversion.attendance import outcomes as attendance_outcomes
from diversion.attendance import register as attendance_register
from diversion.attendance import sessions as attendance_sessions
from diversion.attendance.models import RegisterAction, RegisterChange, RegisterState
from diversion.attendance.rules import AttendanceStatus, Outcome
from diversion.audit.models import AuditEvent
from diversion.bookings.models import Booking, BookingStatus, Payment, PaymentMethod
from diversion.core.errors import Conflict, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.courses.models import SessionStatus
from diversion.referrals.models import ReferralEventType, ReferralStatus
from tests.attendance.helpers import messages
from tests.builders import DURING, SESSION_START, clear_fee, create_user, pay_fee, session_with_people

A = AttendanceStatus
S = ReferralStatus


def mark(referral, status, **values):  # type: ignore[no-untyped-def]
    values.setdefault("id_checked", status is A.ATTENDED)
    return attendance_register.MarkInput(reference=referral.reference, status=status, **values)


def submit(session, marks, actor=None, now=DURING):  # type: ignore[no-untyped-def]
    actor = actor or session.facilitators[0]
    return attendance_register.save_register(session=session, marks=marks, submit=True, actor=actor, now=now)


def test_attended_with_id_checked_and_fee_cleared_completes_and_tells_person_and_officer(app) -> None:
    session, (referral,) = session_with_people(1)
    clear_fee(referral)

    result = submit(session, [mark(referral, A.ATTENDED)])

    assert referral.status is S.COMPLETED
    assert result.lines[0].referral_status == "completed"
    assert result.register.state is RegisterState.SUBMITTED
    person = messages("course_completed_person")
    assert [m.recipient for m in person] == [referral.person.email]
    assert person[0].context["attachment"]["reference"] == referral.reference
    officer = messages("referral_outcome_officer")
    assert len(officer) == 1 and officer[0].context["outcome"] == "completed"
    booking = db.session.scalar(select(Booking).where(Booking.referral_id == referral.id))
    assert booking.status is BookingStatus.ATTENDED


def test_attended_with_the_fee_owed_stays_booked_then_completes_when_the_fee_is_paid(app) -> None:
    session, (referral,) = session_with_people(1)
    submit(session, [mark(referral, A.ATTENDED)])
    assert referral.status is S.BOOKED
    assert attendance_outcomes.count_fee_outstanding() == 1
    assert messages("course_completed_person") == []

    pay_fee(referral, now=DURING)  # the fee service tells the register: no separate step

    assert referral.status is S.COMPLETED
    assert referral.events[-1].event is ReferralEventType.COMPLETED_AFTER_FEE
    assert attendance_outcomes.count_fee_outstanding() == 0
    # A second call (a retried request, the sweep) changes nothing and sends nothing more.
    assert attendance_outcomes.on_fee_cleared(referral, None, DURING + dt.timedelta(days=2)) is False
    assert len(messages("course_completed_person")) == 1
    assert len(messages("referral_outcome_officer")) == 1


def test_the_deadline_sweep_completes_an_attendee_whose_fee_was_cleared_behind_its_back(app) -> None:
    session, (referral,) = session_with_people(1)
    submit(session, [mark(referral, A.ATTENDED)])
    # A payment written without the fee service (a data fix, say) tells no one; the sweep notices.
    db.session.add(Payment(referral_id=referral.id, amount_pence=referral.programme.fee_pence,
                           method=PaymentMethod.CASH, reference="FIX-1", recorded_at=DURING))
    db.session.flush()
    assert referral.status is S.BOOKED

    result = attendance_deadlines.sweep_deadlines(now=DURING + dt.timedelta(hours=1))

    assert result["completed_after_fee"] == 1
    assert referral.status is S.COMPLETED


def test_attended_with_the_fee_still_owed_at_the_deadline_is_not_completed(app) -> None:
    session, (referral,) = session_with_people(1)
    submit(session, [mark(referral, A.ATTENDED)])
    day_after_deadline = dt.datetime.combine(referral.completion_deadline + dt.timedelta(days=1),
                                             dt.time(12), tzinfo=dt.UTC)

    assert attendance_deadlines.sweep_deadlines(
        now=day_after_deadline - dt.timedelta(days=1))["not_completed"] == 0
    result = attendance_deadlines.sweep_deadlines(now=day_after_deadline)

    assert result["not_completed"] == 1
    assert referral.status is S.NOT_COMPLETED
    assert "fee was not paid" in referral.events[-1].reason
    officer = messages("referral_outcome_officer")
    assert len(officer) == 1 and officer[0].context["outcome"] == "not_completed"


@pytest.mark.parametrize("status", [A.LATE_REFUSED, A.LEFT_EARLY, A.REMOVED, A.ABSENT])
def test_not_attending_in_full_is_missed(app, status: AttendanceStatus) -> None:
    session, (referral,) = session_with_people(1)
    clear_fee(referral)

    submit(session, [mark(referral, status)])

    assert referral.status is S.MISSED
    assert referral.events[-1].event is ReferralEventType.MISSED
    assert status.label.lower() in referral.events[-1].reason
    # Missed is not terminal: the officer hears only if it becomes not completed.
    assert messages("referral_outcome_officer") == []


def test_excused_on_the_day_returns_the_referral_to_awaiting_booking(app) -> None:
    session, (referral,) = session_with_people(1)

    submit(session, [mark(referral, A.EXCUSED, reason="Hospital appointment")])

    assert referral.status is S.AWAITING_BOOKING
    assert "Hospital appointment" in referral.events[-1].reason
    booking = db.session.scalar(select(Booking).where(Booking.referral_id == referral.id))
    assert booking.status is not BookingStatus.ACTIVE  # the place is no longer held


def test_a_manager_accepts_an_excuse_within_the_grace_window(app) -> None:
    session, (referral,) = session_with_people(1)
    manager = create_user("manager")
    submit(session, [mark(referral, A.ABSENT)])

    attendance_corrections.accept_excuse(referral=referral, reason="Car broke down; garage bill seen",
                                         actor=manager, now=DURING + dt.timedelta(days=3))

    assert referral.status is S.AWAITING_BOOKING
    assert referral.events[-1].event is ReferralEventType.EXCUSE_ACCEPTED


def test_an_excuse_after_the_grace_window_is_refused_and_the_sweep_closes_the_referral(app) -> None:
    session, (referral,) = session_with_people(1)
    manager = create_user("manager")
    submit(session, [mark(referral, A.ABSENT)])
    closes = attendance_outcomes.grace_window_closes_at(referral)
    assert closes == dt.datetime(2026, 6, 20, 23, 0, tzinfo=dt.UTC)  # 3 London days after

    with pytest.raises(Conflict):
        attendance_corrections.accept_excuse(referral=referral, reason="Late excuse", actor=manager,
                                             now=closes)
    assert referral.status is S.MISSED
    assert attendance_deadlines.sweep_grace_window(
        now=closes - dt.timedelta(minutes=1)) == {"not_completed": 0}

    assert attendance_deadlines.sweep_grace_window(now=closes) == {"not_completed": 1}
    assert referral.status is S.NOT_COMPLETED
    assert attendance_deadlines.sweep_grace_window(now=closes + dt.timedelta(hours=1)) == {"not_completed": 0}
    assert len(messages("referral_outcome_officer")) == 1


def test_the_deadline_sweep_closes_referrals_never_booked_but_waits_for_an_open_register(app) -> None:
    session, (booked,) = session_with_people(1)
    from tests.builders import create_referral

    waiting = create_referral()
    after = dt.datetime.combine(waiting.completion_deadline + dt.timedelta(days=1), dt.time(12),
                                tzinfo=dt.UTC)

    result = attendance_deadlines.sweep_deadlines(now=after)

    assert waiting.status is S.NOT_COMPLETED
    assert booked.status is S.BOOKED  # its register is not submitted: it decides first
    assert result["not_completed"] == 1


def test_a_submitted_register_cannot_be_submitted_again(app) -> None:
    session, (referral,) = session_with_people(1)
    submit(session, [mark(referral, A.ABSENT)])
    events = len(referral.events)

    with pytest.raises(Conflict) as refused:
        submit(session, [mark(referral, A.ATTENDED)])

    assert refused.value.status == 409
    assert len(referral.events) == events
    assert referral.status is S.MISSED


def test_someone_not_booked_on_the_session_is_refused(app) -> None:
    session, (referral,) = session_with_people(1)
    _, (elsewhere,) = session_with_people(1, starts_at=SESSION_START + dt.timedelta(days=7))

    with pytest.raises(ValidationFailed) as refused:
        attendance_register.save_register(session=session, marks=[mark(elsewhere, A.ATTENDED)],
                                          submit=False, actor=None, now=DURING)

    assert f"{elsewhere.reference}.reference" in refused.value.errors


def test_a_cancelled_session_and_a_session_more_than_an_hour_away_have_no_register(app) -> None:
    session, (referral,) = session_with_people(1)
    with pytest.raises(Conflict, match="opens an hour before"):
        submit(session, [mark(referral, A.ABSENT)], now=SESSION_START - dt.timedelta(minutes=61))

    courses_planning.change_session_status(session=session, to=SessionStatus.CANCELLED,
                                           reason="Venue flooded", actor=None, now=DURING)
    with pytest.raises(Conflict, match="cancelled"):
        submit(session, [mark(referral, A.ABSENT)])


def test_submitting_with_someone_unmarked_or_attended_without_an_id_check_is_refused(app) -> None:
    session, (first, second) = session_with_people(2)

    with pytest.raises(ValidationFailed) as refused:
        submit(session, [mark(first, A.ATTENDED, id_checked=False)])

    assert set(refused.value.errors) == {f"{first.reference}.id_checked",
                                         f"{second.reference}.status"}


def test_mark_everyone_attended_leaves_a_draft_to_adjust(app) -> None:
    session, referrals = session_with_people(3)
    actor = session.facilitators[0]

    assert attendance_register.mark_everyone_attended(session=session, actor=actor, now=DURING) == 3

    register = attendance_register.get_register(session.id)
    assert register.state is RegisterState.DRAFT
    assert {e.status for e in register.entries} == {A.ATTENDED}
    assert all(r.status is S.BOOKED for r in referrals)


def test_a_manager_amends_one_entry_with_a_reason_and_the_outcome_follows(app) -> None:
    session, (referral,) = session_with_people(1)
    manager = create_user("manager")
    submit(session, [mark(referral, A.ABSENT)])
    entry = attendance_register.get_register(session.id).entries[0]

    attendance_corrections.amend_entry(session=session, entry=entry,
                                       mark=mark(referral, A.EXCUSED, reason="Bereavement"),
                                       reason="Phoned before the start; facilitator was not told",
                                       actor=manager, now=DURING + dt.timedelta(hours=5))

    assert referral.status is S.AWAITING_BOOKING
    assert entry.outcome is Outcome.EXCUSED
    change = db.session.scalar(select(RegisterChange).where(
        RegisterChange.action == RegisterAction.AMENDED))
    assert change.reason == "Phoned before the start; facilitator was not told"
    assert change.changes["status"] == ["absent", "excused"]
    assert change.actor_user_id == manager.id
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "register.amend"))
    assert audit is not None and audit.object_id == str(entry.id)


def test_an_amendment_the_lifecycle_cannot_follow_is_refused_with_nothing_changed(app) -> None:
    session, (referral,) = session_with_people(1)
    manager = create_user("manager")
    submit(session, [mark(referral, A.ABSENT)])
    entry = attendance_register.get_register(session.id).entries[0]

    with pytest.raises(Conflict, match="missed"):
        attendance_corrections.amend_entry(session=session, entry=entry, mark=mark(referral, A.ATTENDED),
                                           reason="Typo", actor=manager, now=DURING)


def test_only_a_manager_amends_and_a_reason_is_required(app) -> None:
    session, (referral,) = session_with_people(1)
    submit(session, [mark(referral, A.ABSENT)])
    entry = attendance_register.get_register(session.id).entries[0]

    with pytest.raises(NotFound):
        attendance_corrections.amend_entry(session=session, entry=entry, mark=mark(referral, A.LEFT_EARLY),
                                           reason="x", actor=session.facilitators[0], now=DURING)
    with pytest.raises(ValidationFailed):
        attendance_corrections.amend_entry(session=session, entry=entry, mark=mark(referral, A.LEFT_EARLY),
                                           reason=" ", actor=create_user("manager"), now=DURING)


def test_a_reopened_register_applies_only_what_changed_when_resubmitted(app) -> None:
    session, (stays, changes) = session_with_people(2)
    manager = create_user("manager")
    submit(session, [mark(stays, A.ABSENT), mark(changes, A.ATTENDED)])
    stays_events = len(stays.events)

    attendance_corrections.reopen_register(session=session, reason="Wrong person marked", actor=manager,
                                           now=DURING)
    assert attendance_register.get_register(session.id).state is RegisterState.DRAFT
    submit(session, [mark(changes, A.LEFT_EARLY)], actor=manager)

    assert changes.status is S.MISSED
    assert len(stays.events) == stays_events
    register = attendance_register.get_register(session.id)
    actions = [c.action for c in attendance_corrections.register_history(register)[0]]
    assert RegisterAction.REOPENED in actions and actions.count(RegisterAction.SUBMITTED) == 2


def test_a_withdrawn_referral_keeps_its_attendance_but_no_outcome(app) -> None:
    from diversion.referrals import lifecycle

    session, (referral,) = session_with_people(1)
    lifecycle.transition(referral, ReferralEventType.WITHDRAWN, actor=None,
                         now=SESSION_START - dt.timedelta(hours=2), reason="Charged instead")
    # Withdrawal ended the booking, so the person is no longer on the register.
    result = submit(session, [])
    assert result.lines == []


def test_a_register_not_submitted_by_the_end_of_the_next_day_is_overdue(app) -> None:
    session, (referral,) = session_with_people(1)
    due = dt.datetime(2026, 6, 18, 23, 0, tzinfo=dt.UTC)

    assert attendance_sessions.overdue_registers(now=due - dt.timedelta(minutes=1)) == []
    assert attendance_sessions.overdue_registers(now=due) == [session]
    # The dashboard's count, made in SQL, draws the line at the same minute.
    assert attendance_sessions.count_overdue_registers(now=due - dt.timedelta(minutes=1)) == 0
    assert attendance_sessions.count_overdue_registers(now=due) == 1

    submit(session, [mark(referral, A.ABSENT)])
    assert attendance_sessions.overdue_registers(now=due) == []
    assert attendance_sessions.count_overdue_registers(now=due) == 0


def test_a_facilitator_cannot_open_a_session_they_do_not_run(app) -> None:
    session, _ = session_with_people(1)
    stranger = create_user("facilitator")

    with pytest.raises(NotFound):
        attendance_sessions.get_session_for(session_id=session.id, actor=stranger)
    assert attendance_sessions.get_session_for(session_id=session.id, actor=create_user("manager")) is session


def test_the_register_shows_names_and_access_needs_and_records_the_look(app) -> None:
    session, (referral,) = session_with_people(1, access_needs="Hearing loop, please")

    sheet = attendance_register.register_sheet(session=session, actor=session.facilitators[0], now=DURING)

    line = sheet.lines[0]
    assert (line.name, line.access_needs) == (referral.person.full_name, "Hearing loop, please")
    assert not hasattr(line, "date_of_birth") and not hasattr(line, "offence_code")
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "register.view"))


def test_history_rows_record_each_change_by_whom(app) -> None:
    session, (referral,) = session_with_people(1)
    facilitator = session.facilitators[0]
    attendance_register.save_register(session=session, marks=[mark(referral, A.ABSENT)], submit=False,
                                      actor=facilitator, now=DURING)
    attendance_register.save_register(session=session, marks=[mark(referral, A.ATTENDED,
                                                                    participation_note="Quiet but engaged")],
                                      submit=False, actor=facilitator, now=DURING)

    rows = db.session.scalars(select(RegisterChange).where(
        RegisterChange.action == RegisterAction.SAVED).order_by(RegisterChange.id)).all()
    assert rows[0].changes["status"] == [None, "absent"]
    assert rows[1].changes["status"] == ["absent", "attended"]
    assert rows[1].changes["participation_note"] == ["changed"]  # not the opinion's text
    assert all(r.actor_user_id == facilitator.id for r in rows)


def test_waiving_an_attendees_owed_fee_completes_him_at_once(app) -> None:
    from diversion.bookings import fees

    session, (referral,) = session_with_people(1)
    submit(session, [mark(referral, A.ATTENDED)])
    assert referral.status is S.BOOKED

    fees.waive_fee(referral=referral, reason="Hardship: on benefits", actor=create_user("manager"),
                   now=DURING)

    assert referral.status is S.COMPLETED
    assert len(messages("course_completed_person")) == 1


def test_the_register_page_reads_the_same_lines_as_the_roster(app) -> None:
    session, (finished, excused, absent) = session_with_people(3)
    facilitator = session.facilitators[0]

    def both() -> tuple[list[attendance_register.Line], list[attendance_register.Line]]:
        db.session.expire_all()
        roster = attendance_register.roster_lines(
            session, attendance_register.get_register(session.id))
        sheet = attendance_register.register_sheet(session=session, actor=facilitator, now=DURING)
        return roster, sheet.lines

    roster, page = both()  # no register yet: everyone booked, unmarked
    assert page == roster and len(page) == 3 and all(line.status is None for line in page)

    clear_fee(finished)
    submit(session, [mark(finished, A.ATTENDED), mark(excused, A.EXCUSED, reason="Ill"),
                     mark(absent, A.ABSENT)])
    roster, page = both()  # bookings ended with their outcomes: the lines stay
    statuses = set(db.session.scalars(select(Booking.status)
                                      .where(Booking.session_id == session.id)))
    assert BookingStatus.ACTIVE not in statuses  # every line is one whose booking ended
    assert page == roster and len(page) == 3
    assert {line.reference: line.status for line in page} == {
        finished.reference: A.ATTENDED, excused.reference: A.EXCUSED, absent.reference: A.ABSENT}
    assert all(line.outcome is not None and line.entry_id is not None for line in page)
