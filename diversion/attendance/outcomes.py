"""What the register decides for each referral, and what follows from it.

Outcomes go through `lifecycle.transition` only. The lifecycle tells the referring officer of
every terminal move (completed, not completed); this module adds the person's completion
notice. Bookings follow the referral's moves by themselves (diversion.bookings listens).

- `apply_outcome(entry, session=, actor=, now=)`: the referral's move for a submitted line
- `notify_person_completed(referral, session=, now=)`: the completion notice (once only)
- `is_fee_cleared(referral)`, `on_fee_cleared(referral, actor, now)`,
  `complete_after_fee(referral, actor=, now=)`: an attendee completes when his fee clears
- `attended_entry(referral)`, `missed_at(referral)`, `grace_window_closes_at(referral)`
- `count_fee_outstanding()`: attended, waiting only for the fee (register outcome)
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from diversion.attendance.models import Register, RegisterEntry, RegisterState
from diversion.attendance.rules import AttendanceStatus, Mark, Outcome, grace_closes_at, outcome_for
from diversion.auth.models import User
from diversion.bookings import fees
from diversion.core.errors import Conflict
from diversion.core.extensions import db
from diversion.core.timeutils import format_london
from diversion.courses.models import CourseSession
from diversion.outbox.rules import choose_contact
from diversion.outbox.services import enqueue
from diversion.referrals import lifecycle
from diversion.referrals.models import (
    Referral,
    ReferralEvent,
    ReferralEventType,
    ReferralStatus,
)

log = logging.getLogger(__name__)


E = ReferralEventType


S = ReferralStatus


COMPLETION_TEMPLATE = "course_completed_person"


class OutcomeConflict(Conflict):
    """A changed mark would need a move the referral's present state does not allow."""

    title = "Outcome cannot be changed"


def mark_of(entry: RegisterEntry) -> Mark:
    return Mark(status=entry.status, id_checked=entry.id_checked, arrived_at=entry.arrived_at,
                reason=entry.reason)


# (referral status now, outcome wanted) -> the move that gets it there (None: no move needed).
OUTCOME_MOVES: dict[tuple[ReferralStatus, Outcome], ReferralEventType | None] = {
    (S.BOOKED, Outcome.COMPLETED): E.ATTENDED_COMPLETED,
    (S.BOOKED, Outcome.FEE_OUTSTANDING): None,
    (S.BOOKED, Outcome.MISSED): E.MISSED,
    (S.BOOKED, Outcome.EXCUSED): E.BOOKING_CANCELLED,
    (S.MISSED, Outcome.EXCUSED): E.EXCUSE_ACCEPTED,
    (S.MISSED, Outcome.MISSED): None,
}


def is_fee_cleared(referral: Referral) -> bool:
    """Paid in full or waived."""
    return fees.fee_status(referral).is_cleared


def _reason_for(entry: RegisterEntry, outcome: Outcome) -> str:
    assert entry.status is not None
    if outcome is Outcome.EXCUSED:
        return f"Excused from the session: {entry.reason}"
    text = f"Register: {entry.status.label.lower()}"
    return f"{text}. {entry.reason}" if entry.reason else text


def apply_outcome(entry: RegisterEntry, *, session: CourseSession, actor: User | None,
                  now: dt.datetime) -> None:
    referral = entry.referral
    wanted = outcome_for(mark_of(entry), is_fee_cleared=is_fee_cleared(referral))
    if wanted is entry.outcome:
        return
    if entry.outcome is None and referral.status.is_terminal:
        # Withdrawn (or closed) before the register was submitted: attendance is kept, nothing moves.
        return
    key = (referral.status, wanted)
    if key not in OUTCOME_MOVES:
        raise OutcomeConflict(
            f"{referral.person.full_name} ({referral.reference}) is now "
            f"{referral.status.label.lower()}: they cannot be recorded as "
            f"'{wanted.label.lower()}' by changing the register", reference=referral.reference)
    event = OUTCOME_MOVES[key]
    if event is not None:
        lifecycle.transition(referral, event, actor=actor, now=now,
                             reason=_reason_for(entry, wanted))
    entry.outcome = wanted
    if wanted is Outcome.COMPLETED:
        notify_person_completed(referral, session=session, now=now)


def notify_person_completed(referral: Referral, *, session: CourseSession | None,
                            now: dt.datetime) -> None:
    """Tell the person they completed, with their certificate's reference (once only)."""
    person = referral.person
    contact = choose_contact(preferred=person.preferred_contact, email=person.email,
                             mobile=person.mobile)
    if contact is None:
        log.info("no email or mobile for the completion notice of referral %s", referral.id)
        return
    channel, recipient = contact
    attended_on = session.starts_at if session else now
    enqueue(dedupe_key=f"completion-person:{referral.id}", channel=channel, recipient=recipient,
            template=COMPLETION_TEMPLATE, due_at=now, now=now, subject_type="referral",
            subject_id=referral.id,
            context={"reference": referral.reference,
                     "given_name": referral.person.given_names.split()[0],
                     "attended_on": format_london(attended_on, "%-d %B %Y"),
                     # The dispatcher can render and attach the certificate from this reference.
                     "attachment": {"kind": "completion_certificate",
                                    "reference": referral.reference,
                                    "filename": f"certificate-{referral.reference}.pdf"}})


def attended_entry(referral: Referral) -> RegisterEntry | None:
    """The submitted register line that recorded the referral attending, if any."""
    return db.session.scalar(
        select(RegisterEntry).join(Register)
        .where(RegisterEntry.referral_id == referral.id,
               RegisterEntry.status == AttendanceStatus.ATTENDED,
               Register.state == RegisterState.SUBMITTED)
        .order_by(RegisterEntry.id.desc()).limit(1))


def on_fee_cleared(referral: Referral, actor: User | None, now: dt.datetime) -> bool:
    """Complete a referral that attended with the fee owed, now the fee is paid or waived.

    Connected to bookings' `fee_cleared` signal (see complete_after_fee) and called by the
    deadline sweep. Returns True when the
    referral completed; does nothing (False) in every other case.
    """
    entry = db.session.scalar(
        select(RegisterEntry).where(RegisterEntry.referral_id == referral.id,
                                    RegisterEntry.outcome == Outcome.FEE_OUTSTANDING)
        .options(joinedload(RegisterEntry.register).joinedload(Register.session)))
    if entry is None or referral.status is not S.BOOKED or not is_fee_cleared(referral):
        return False
    lifecycle.transition(referral, E.COMPLETED_AFTER_FEE, actor=actor, now=now,
                         reason="Attended in full; fee now cleared")
    entry.outcome = Outcome.COMPLETED
    notify_person_completed(referral, session=entry.register.session, now=now)
    return True


def missed_at(referral: Referral) -> dt.datetime | None:
    """When the referral was last recorded as missing its session."""
    return db.session.scalar(
        select(ReferralEvent.at).where(ReferralEvent.referral_id == referral.id,
                                       ReferralEvent.event == E.MISSED)
        .order_by(ReferralEvent.id.desc()).limit(1))


def grace_window_closes_at(referral: Referral) -> dt.datetime | None:
    at = missed_at(referral)
    return None if at is None else grace_closes_at(at, referral.programme.grace_days)


def count_fee_outstanding() -> int:
    """Referrals that attended in full and wait only for their fee."""
    return db.session.scalar(select(func.count()).select_from(RegisterEntry).join(Referral)
                             .where(RegisterEntry.outcome == Outcome.FEE_OUTSTANDING,
                                    Referral.status == S.BOOKED)) or 0


def complete_after_fee(referral: Referral, *, actor: User | None, now: dt.datetime) -> None:
    """The receiver of bookings' `fee_cleared` signal (connected in attendance's init_app)."""
    on_fee_cleared(referral, actor, now)
