"""Gathering everything held about one person, for a subject access request.

`gather(person, now=)` reads the person's referrals and every record hanging off them with one
query per table (never one per referral), and gives a JSON-ready mapping; the PDF is rendered
from the same mapping. `find_person` scopes by the referral reference the request came from
and refuses an erased person (NotFound): nothing identifying is left to disclose.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import and_, or_, select

from diversion.attendance.models import CertificateCode, Register, RegisterEntry
from diversion.audit.models import AuditCategory, AuditEvent
from diversion.audit.services import record, shown_details
from diversion.auth.models import User
from diversion.bookings.models import Booking, FeeWaiver, Payment, WaitingListEntry
from diversion.core.errors import NotFound
from diversion.core.extensions import db
from diversion.courses.models import CourseSession, Venue
from diversion.outbox.dispatcher import IndiscreetMessage, render_message
from diversion.outbox.models import OutboxMessage
from diversion.payments.models import OnlinePayment, OnlineRefund
from diversion.referrals.models import Person, Referral, ReferralEvent
from diversion.referrals.reading import get_scoped_referral
from diversion.reoffences.models import ComparisonCase, Reoffence

CHECK_ACTION = "person.subject_access_check"
EXPORT_ACTION = "person.subject_access_export"
FORMATS = ("json", "pdf")

__all__ = ["EXPORT_ACTION", "FORMATS", "LastExport", "find_person", "gather", "last_export",
           "record_export"]


def find_person(reference: str, actor: User) -> tuple[Referral, Person]:
    """The referral the request came from and its person; NotFound when out of the actor's
    scope or when the person was erased."""
    referral = get_scoped_referral(reference, actor)
    if referral.person.erased_at is not None:
        raise NotFound("No referral with that reference")
    return referral, referral.person


def record_export(*, person: Person, actor: User, now: dt.datetime, fmt: str) -> None:
    record(action=EXPORT_ACTION, category=AuditCategory.DISCLOSURE, now=now, actor=actor,
           object_type="person", object_id=person.id, details={"format": fmt})


def record_check_viewed(*, person: Person, referral_id: int, actor: User,
                        now: dt.datetime) -> None:
    """The check page names the person: a consultation, audited like every read."""
    record(action=CHECK_ACTION, category=AuditCategory.CONSULTATION, now=now, actor=actor,
           object_type="person", object_id=person.id, details=shown_details([referral_id]))


class LastExport:
    """When a person's data was last exported, and by whom."""

    def __init__(self, at: dt.datetime, by: str, fmt: str) -> None:
        self.at, self.by, self.format = at, by, fmt


def last_export(person_id: int) -> LastExport | None:
    row = db.session.execute(
        select(AuditEvent.at, User.name, AuditEvent.details)
        .outerjoin(User, User.id == AuditEvent.actor_user_id)
        .where(AuditEvent.object_type == "person", AuditEvent.object_id == str(person_id),
               AuditEvent.action == EXPORT_ACTION)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1)).first()
    if row is None:
        return None
    at, name, details = row
    return LastExport(at, name or "the system", str((details or {}).get("format", "")))


# Gathering -----------------------------------------------------------------------------------

def _value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def _row(obj: Any, fields: Sequence[str], **extra: Any) -> dict[str, Any]:
    values = {name: _value(getattr(obj, name)) for name in fields}
    values.update({key: _value(value) for key, value in extra.items()})
    return values


PERSON_FIELDS = ("id", "family_name", "given_names", "date_of_birth", "pnc_id", "gender", "email",
                 "mobile", "address_line_1", "address_line_2", "town", "postcode",
                 "preferred_contact", "access_needs", "needs_step_free", "language_needs",
                 "created_at", "updated_at")
REFERRAL_FIELDS = ("reference", "crime_reference", "referral_date", "offence_code",
                   "offence_date", "offence_time", "offence_location", "disposal", "admitted",
                   "consented", "no_relevant_convictions", "officer_email", "booking_deadline",
                   "completion_deadline", "status", "closed_on", "is_historical", "created_at")
EVENT_FIELDS = ("event", "from_status", "to_status", "at", "reason")
PAYMENT_FIELDS = ("amount_pence", "method", "reference", "recorded_at", "refunded_pence")
ONLINE_PAYMENT_FIELDS = ("provider_payment_id", "amount_pence", "status", "created_at",
                         "finished_at", "excess_pence")
REFUND_FIELDS = ("provider_refund_id", "amount_pence", "status", "reason", "created_at")
REOFFENCE_FIELDS = ("offence_code", "offence_date", "outcome", "outcome_date",
                    "source_reference", "recorded_at")
COMPARISON_FIELDS = ("index_date", "prior_offences", "disposal", "source_reference", "imported_at")


def _names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())


def _message(message: OutboxMessage) -> dict[str, Any]:
    try:
        rendered = render_message(message)
        subject, content = rendered.subject, rendered.text
    except (TemplateError, IndiscreetMessage):
        subject, content = None, None
    return _row(message, ("channel", "template", "recipient", "status", "due_at", "sent_at",
                          "created_at"), subject=subject, content=content)


def gather(person: Person, *, now: dt.datetime) -> dict[str, Any]:
    """Everything held about the person, as JSON-ready data; a fixed number of queries."""
    referrals = list(db.session.scalars(
        select(Referral).where(Referral.person_id == person.id).order_by(Referral.referral_date,
                                                                          Referral.id)))
    referral_ids = [r.id for r in referrals]
    reference_of = {r.id: r.reference for r in referrals}
    events: dict[int, list[ReferralEvent]] = {i: [] for i in referral_ids}
    for event in db.session.scalars(select(ReferralEvent).where(
            ReferralEvent.referral_id.in_(referral_ids)).order_by(ReferralEvent.id)):
        events[event.referral_id].append(event)

    bookings = db.session.execute(
        select(Booking, CourseSession.starts_at, Venue.name)
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .join(Venue, Venue.id == CourseSession.venue_id)
        .where(Booking.referral_id.in_(referral_ids)).order_by(Booking.id)).all()
    booking_ids = [b.id for b, _, _ in bookings]
    waiting = db.session.execute(
        select(WaitingListEntry, CourseSession.starts_at)
        .join(CourseSession, CourseSession.id == WaitingListEntry.session_id)
        .where(WaitingListEntry.referral_id.in_(referral_ids))
        .order_by(WaitingListEntry.id)).all()
    entries = db.session.execute(
        select(RegisterEntry, Register.state, CourseSession.starts_at)
        .join(Register, Register.id == RegisterEntry.register_id)
        .join(CourseSession, CourseSession.id == Register.session_id)
        .where(RegisterEntry.referral_id.in_(referral_ids)).order_by(RegisterEntry.id)).all()
    entry_ids = [e.id for e, _, _ in entries]
    payments = list(db.session.scalars(
        select(Payment).where(Payment.referral_id.in_(referral_ids)).order_by(Payment.id)))
    waivers = list(db.session.scalars(
        select(FeeWaiver).where(FeeWaiver.referral_id.in_(referral_ids)).order_by(FeeWaiver.id)))
    online = list(db.session.scalars(
        select(OnlinePayment).where(OnlinePayment.referral_id.in_(referral_ids))
        .order_by(OnlinePayment.id)))
    refunds = db.session.execute(
        select(OnlineRefund, OnlinePayment.referral_id)
        .join(OnlinePayment, OnlinePayment.id == OnlineRefund.online_payment_id)
        .where(OnlinePayment.referral_id.in_(referral_ids)).order_by(OnlineRefund.id)).all()
    certificates = list(db.session.scalars(
        select(CertificateCode).where(CertificateCode.referral_id.in_(referral_ids))))
    messages = list(db.session.scalars(
        select(OutboxMessage).where(or_(
            and_(OutboxMessage.subject_type == "referral",
                 OutboxMessage.subject_id.in_([str(i) for i in referral_ids])),
            and_(OutboxMessage.subject_type == "booking",
                 OutboxMessage.subject_id.in_([str(i) for i in booking_ids]))))
        .order_by(OutboxMessage.due_at, OutboxMessage.id)))
    reoffences = list(db.session.scalars(
        select(Reoffence).where(Reoffence.person_id == person.id).order_by(Reoffence.offence_date,
                                                                           Reoffence.id)))
    comparisons = list(db.session.scalars(
        select(ComparisonCase).where(ComparisonCase.person_id == person.id)
        .order_by(ComparisonCase.id)))
    objects = [("person", [person.id]), ("referral", referral_ids), ("booking", booking_ids),
               ("register_entry", entry_ids), ("outbox_message", [m.id for m in messages])]
    audit = db.session.execute(
        select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.actor_user_id)
        .where(or_(*[and_(AuditEvent.object_type == kind,
                          AuditEvent.object_id.in_([str(i) for i in ids]))
                     for kind, ids in objects if ids]))
        .order_by(AuditEvent.at, AuditEvent.id)).all()
    names = _names([e.actor_user_id for evs in events.values() for e in evs])

    return {
        "generated_at": _value(now),
        "person": _row(person, PERSON_FIELDS),
        "referrals": [
            _row(r, REFERRAL_FIELDS, force=r.force.name, programme=r.programme.name,
                 events=[_row(e, EVENT_FIELDS, by=_actor(e.actor_user_id, names))
                         for e in events[r.id]])
            for r in referrals],
        "bookings": [
            _row(b, ("status", "created_at", "ended_at", "end_reason"),
                 referral=reference_of[b.referral_id], session_starts_at=starts, venue=venue)
            for b, starts, venue in bookings],
        "waiting_list": [
            _row(w, ("joined_at",), referral=reference_of[w.referral_id], session_starts_at=starts)
            for w, starts in waiting],
        "attendance": [
            _row(e, ("status", "arrived_at", "id_checked", "reason", "participation_note",
                     "outcome", "updated_at"),
                 referral=reference_of[e.referral_id], session_starts_at=starts,
                 register_state=state)
            for e, state, starts in entries],
        "payments": [_row(p, PAYMENT_FIELDS, referral=reference_of[p.referral_id])
                     for p in payments],
        "fee_waivers": [_row(w, ("reason", "waived_at"), referral=reference_of[w.referral_id])
                        for w in waivers],
        "online_payments": [_row(p, ONLINE_PAYMENT_FIELDS, referral=reference_of[p.referral_id])
                            for p in online],
        "online_refunds": [_row(r, REFUND_FIELDS, referral=reference_of[referral_id])
                           for r, referral_id in refunds],
        "messages": [_message(m) for m in messages],
        "reoffences": [_row(r, REOFFENCE_FIELDS) for r in reoffences],
        "comparison_cases": [_row(c, COMPARISON_FIELDS) for c in comparisons],
        "certificates": [_row(c, ("code", "issued_at"), referral=reference_of[c.referral_id])
                         for c in certificates],
        "audit": [_row(a, ("at", "action", "category", "object_type", "object_id"),
                       by=name or ("the system" if a.actor_user_id is None else "a user"),
                       actor=a.actor_label)
                  for a, name in audit],
    }


def _actor(user_id: int | None, names: dict[int, str]) -> str:
    if user_id is None:
        return "the system"
    return names.get(user_id, "a user")
