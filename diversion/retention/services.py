"""The retention sweep: erase the identifying data of people whose referrals are long closed.

Who is due is decided in SQL from per-programme cut-off dates worked out by the pure rules
(`rules.latest_due_closing`), so a batch of people costs the same few statements whatever its
size. The person row stays, stripped of what identifies him, so that referrals, bookings,
registers and reoffences still count in reports. docs/data-protection.md gives the policy.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.audit.services import actor_label_for
from diversion.bookings.models import Booking
from diversion.core.extensions import db
from diversion.core.timeutils import london_today
from diversion.outbox.models import MessageStatus, OutboxMessage
from diversion.programmes.models import Programme
from diversion.referrals.models import TERMINAL_STATUSES, Person, Referral, ReferralDraft
from diversion.reoffences.models import Reoffence
from diversion.retention import rules
from diversion.selfservice.models import PersonSession, SelfServiceLock

BATCH_SIZE = 500
ERASED_RECIPIENT = "erased"
# A date no closing date is on or before: a referral of a programme created after the cut-offs
# were worked out is never taken as due.
_NEVER = dt.date(1, 1, 1)
# Messages still to be sent (or being sent) keep their address; the rest lose it.
_LIVE_MESSAGES = (MessageStatus.PENDING, MessageStatus.SENDING)

__all__ = ["BATCH_SIZE", "RetentionResult", "run_retention"]


@dataclass
class RetentionResult:
    """What a sweep erased, or would erase on a dry run. Counts only, never names."""

    dry_run: bool = False
    people: int = 0
    referrals: int = 0
    messages: int = 0
    person_sessions: int = 0
    self_service_locks: int = 0
    drafts: int = 0

    def summary(self) -> str:
        verb = "would erase" if self.dry_run else "erased"
        return f"{verb} {self.people} people ({self.referrals} referrals)"

    def __str__(self) -> str:
        return self.summary()


def _cutoffs(today: dt.date) -> dict[int, dt.date]:
    """Each programme's last closing date that is due for erasure today."""
    rows = db.session.execute(select(Programme.id, Programme.retention_months))
    return {programme_id: rules.latest_due_closing(retention_months=months, today=today)
            for programme_id, months in rows}


def _cutoff_of(programme_id: Any, cutoffs: dict[int, dt.date]) -> ColumnElement[Any]:
    if not cutoffs:
        return literal(_NEVER, Date())
    return case({key: literal(value, Date()) for key, value in cutoffs.items()},
                value=programme_id, else_=literal(_NEVER, Date()))


def _due_people(cutoffs: dict[int, dt.date], *, after: int, limit: int) -> list[tuple[int, dt.date]]:
    """The next people (by id) not yet erased, all of whose referrals are due and whose
    recorded reoffences are older than the horizon of every programme they were referred to."""
    is_due = and_(Referral.status.in_(TERMINAL_STATUSES), Referral.closed_on.is_not(None),
                  Referral.closed_on <= _cutoff_of(Referral.programme_id, cutoffs))
    has_referral = exists().where(Referral.person_id == Person.id)
    has_referral_kept = exists().where(Referral.person_id == Person.id, not_(is_due))
    other = aliased(Referral)
    has_recent_reoffence = exists().where(
        Reoffence.person_id == Person.id, other.person_id == Person.id,
        func.coalesce(Reoffence.outcome_date, Reoffence.offence_date)
        > _cutoff_of(other.programme_id, cutoffs))
    rows = db.session.execute(
        select(Person.id, Person.date_of_birth)
        .where(Person.id > after, Person.erased_at.is_(None), has_referral,
               not_(has_referral_kept), not_(has_recent_reoffence))
        .order_by(Person.id).limit(limit))
    return [(person_id, born) for person_id, born in rows]


ERASED_PIN_HASH = "!erased"


def _erase_batch(people: list[tuple[int, dt.date]], referrals: list[tuple[int, int, str]],
                 *, now: dt.datetime, result: RetentionResult) -> None:
    referral_ids = [referral_id for referral_id, _, _ in referrals]
    references = [reference for _, _, reference in referrals]
    booking_ids = list(db.session.scalars(
        select(Booking.id).where(Booking.referral_id.in_(referral_ids))))

    # Bulk UPDATE by primary key: one executemany for the whole batch.
    db.session.execute(update(Person), [
        {"id": person_id, "family_name": rules.ERASED_NAME, "given_names": "",
         "family_name_key": "", "given_name_key": "",
         "date_of_birth": rules.erased_date_of_birth(born), "pnc_id": None, "email": None,
         "mobile": None, "address_line_1": None, "address_line_2": None, "town": None,
         "postcode": None, "access_needs": None, "language_needs": None,
         "updated_at": now, "erased_at": now}
        for person_id, born in people])

    # No PIN opens an erased referral again: the marker is not an Argon2 hash, so it never verifies.
    db.session.execute(
        update(Referral).where(Referral.id.in_(referral_ids)).values(pin_hash=ERASED_PIN_HASH)
        .execution_options(synchronize_session=False))

    result.person_sessions += _rowcount(db.session.execute(
        delete(PersonSession).where(PersonSession.referral_id.in_(referral_ids))
        .execution_options(synchronize_session=False)))
    result.self_service_locks += _rowcount(db.session.execute(
        delete(SelfServiceLock).where(SelfServiceLock.referral_id.in_(referral_ids))
        .execution_options(synchronize_session=False)))
    result.drafts += _rowcount(db.session.execute(
        delete(ReferralDraft).where(ReferralDraft.pin_reference.in_(references))
        .execution_options(synchronize_session=False)))

    about_them = or_(
        and_(OutboxMessage.subject_type == "referral",
             OutboxMessage.subject_id.in_([str(i) for i in referral_ids])),
        and_(OutboxMessage.subject_type == "booking",
             OutboxMessage.subject_id.in_([str(i) for i in booking_ids])))
    result.messages += _rowcount(db.session.execute(
        update(OutboxMessage)
        .where(about_them, OutboxMessage.status.not_in(_LIVE_MESSAGES),
               OutboxMessage.recipient != ERASED_RECIPIENT)
        .values(recipient=ERASED_RECIPIENT, context={})
        .execution_options(synchronize_session=False)))

    # The audit rows `audit.services.record` would add, as one executemany.
    per_person = Counter(person_id for _, person_id, _ in referrals)
    db.session.execute(insert(AuditEvent), [
        {"at": now, "actor_user_id": None, "actor_label": actor_label_for(None),
         "action": "person_erased", "category": AuditCategory.ERASURE, "object_type": "person",
         "object_id": str(person_id), "address": None,
         "details": {"referrals": per_person[person_id]}}
        for person_id, _ in people])


def _rowcount(outcome: Any) -> int:
    return max(int(getattr(outcome, "rowcount", 0) or 0), 0)


def run_retention(*, now: dt.datetime, dry_run: bool = False,
                  batch_size: int = BATCH_SIZE) -> RetentionResult:
    """Erase everyone due on the London date of `now`, in batches; a dry run writes nothing.

    Idempotent: erased people are marked `erased_at` and never picked again.
    """
    db.session.flush()
    today = london_today(now)
    cutoffs = _cutoffs(today)
    result = RetentionResult(dry_run=dry_run)
    after = 0
    while True:
        people = _due_people(cutoffs, after=after, limit=batch_size)
        if not people:
            break
        after = people[-1][0]
        referrals = [(referral_id, person_id, reference) for referral_id, person_id, reference
                     in db.session.execute(
                         select(Referral.id, Referral.person_id, Referral.reference)
                         .where(Referral.person_id.in_([p for p, _ in people])))]
        result.people += len(people)
        result.referrals += len(referrals)
        if not dry_run:
            _erase_batch(people, referrals, now=now, result=result)
    if result.people and not dry_run:
        # The bulk statements bypass the identity map: reload anything the caller holds.
        db.session.expire_all()
    return result
