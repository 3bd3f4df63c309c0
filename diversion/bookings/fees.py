"""Course fees: payments received, waivers, and the balance a referral still owes.

Balance = fee − payments, or 0 once waived. Completion needs the fee cleared
(`fee_status(referral).is_cleared`). What staff pages say is still owed (`FeeStatus.still_owed_pence`,
`still_owed_text`) is also nothing once the case has ended. Only managers record payments, waive
or reinstate a waived fee; each is audited.
The man's own refund (his session cancelled by the provider) is `claim_refund_he_asked_for`;
a refund GOV.UK Pay later reports in error is put back with `restore_refund`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.audit.services import record
from diversion.auth.models import Role, User
from diversion.bookings.models import MANUAL_PAYMENT_METHODS, FeeWaiver, Payment, PaymentMethod
from diversion.bookings.signals import fee_changed, fee_cleared
from diversion.core.bulk import one_of
from diversion.core.errors import Conflict, Forbidden, ValidationFailed
from diversion.core.extensions import db
from diversion.core.web import format_pounds
from diversion.programmes.models import Programme
from diversion.referrals import lifecycle
from diversion.referrals.models import Referral, ReferralStatus

MAX_PAYMENT_PENCE = 1_000_000


def _tell_if_cleared(referral: Referral, actor: User | None, now: dt.datetime) -> None:
    if fee_status(referral).is_cleared:
        fee_cleared.send(referral, actor=actor, now=now)


@dataclass(frozen=True)
class FeeStatus:
    fee_pence: int
    paid_pence: int
    waiver: FeeWaiver | None
    # The referral is completed, not completed or withdrawn: nothing more is asked of him.
    has_ended: bool = False

    @property
    def is_waived(self) -> bool:
        return self.waiver is not None

    @property
    def balance_pence(self) -> int:
        return 0 if self.is_waived else max(self.fee_pence - self.paid_pence, 0)

    @property
    def is_cleared(self) -> bool:
        return self.balance_pence == 0

    @property
    def still_owed_pence(self) -> int:
        """What he is asked to pay now: the balance, but nothing once the case has ended (a case
        that went back to the police, or was withdrawn, takes no more money; a completed one
        was cleared). The API's `balance_pence` stays the plain balance."""
        return 0 if self.has_ended else self.balance_pence

    @property
    def still_owed_text(self) -> str:
        """"Still owed" on staff pages (the booking page, the referral's page): one wording."""
        if self.is_waived:
            return "Nothing: the fee was waived"
        if self.has_ended:
            return "Nothing: the case has ended"
        return format_pounds(self.balance_pence)


def _manager_only(actor: User | None) -> None:
    if actor is None or actor.role is not Role.MANAGER:
        raise Forbidden("Only programme managers can record payments and waive fees")


def fee_status(referral: Referral) -> FeeStatus:
    """The referral's fee (its programme's), what has been paid, and any waiver."""
    paid = db.session.scalar(select(func.coalesce(func.sum(Payment.amount_pence - Payment.refunded_pence), 0))
                             .where(Payment.referral_id == referral.id)) or 0
    waiver = db.session.scalar(select(FeeWaiver).where(FeeWaiver.referral_id == referral.id))
    return FeeStatus(referral.programme.fee_pence, int(paid), waiver,
                     has_ended=referral.status.is_terminal)


def fee_statuses(referrals: list[Referral]) -> dict[int, FeeStatus]:
    """`fee_status` of many referrals in two queries, by referral id (for lists)."""
    ids = [r.id for r in referrals]
    paid = dict(db.session.execute(
        select(Payment.referral_id, func.sum(Payment.amount_pence - Payment.refunded_pence))
        .where(Payment.referral_id.in_(ids)).group_by(Payment.referral_id)).all())
    waivers = {w.referral_id: w for w in db.session.scalars(
        select(FeeWaiver).where(FeeWaiver.referral_id.in_(ids)))}
    return {r.id: FeeStatus(r.programme.fee_pence, int(paid.get(r.id) or 0), waivers.get(r.id),
                            has_ended=r.status.is_terminal)
            for r in referrals}


def paid_expression() -> ColumnElement[int]:
    """SQL: what a referral (`Referral.id` in the enclosing query) has paid, less refunds."""
    return (select(func.coalesce(func.sum(Payment.amount_pence - Payment.refunded_pence), 0))
            .where(Payment.referral_id == Referral.id).correlate(Referral).scalar_subquery())


def waived_expression() -> ColumnElement[bool]:
    """SQL: whether the referral's fee is waived."""
    return exists().where(FeeWaiver.referral_id == Referral.id).correlate(Referral)


def balance_expression() -> ColumnElement[int]:
    """SQL: the balance still owed (as `FeeStatus.balance_pence`), in a query that joins
    `Programme` to `Referral`. Each row reads its own payments and waiver through their
    referral_id indexes."""
    owed = Programme.fee_pence - paid_expression()
    return case((waived_expression(), 0), (owed > 0, owed), else_=0)


def balances(referral_ids: Sequence[int]) -> dict[int, int]:
    """The balance still owed by each of these referrals, in one query (up to a few thousand ids)."""
    if not referral_ids:
        return {}
    rows = db.session.execute(
        select(Referral.id, balance_expression())
        .join(Programme, Programme.id == Referral.programme_id)
        .where(one_of(Referral.id, referral_ids)))
    return {int(referral_id): int(balance) for referral_id, balance in rows}


def list_payments(referral: Referral) -> list[Payment]:
    return list(db.session.scalars(select(Payment).where(Payment.referral_id == referral.id)
                                   .order_by(Payment.recorded_at, Payment.id)))


def record_payment(*, referral: Referral, amount_pence: int | None, method: str | None,
                   reference: str | None, actor: User | None, now: dt.datetime) -> Payment:
    """Record money received towards the fee. Not more than the balance still owed."""
    _manager_only(actor)
    lifecycle.lock([referral.id])  # the fee read and changed as one (see reinstate_fee)
    errors = payment_problems(referral=referral, amount_pence=amount_pence, method=method,
                              reference=reference)
    if errors:
        raise ValidationFailed(errors)
    assert amount_pence is not None
    return _add_payment(referral=referral, amount_pence=amount_pence,
                        method=PaymentMethod(method or ""),
                        reference=(reference or "").strip() or None, actor=actor,
                        actor_label=None, now=now)


def payment_problems(*, referral: Referral, amount_pence: int | None, method: str | None,
                     reference: str | None) -> dict[str, str]:
    """Every problem with a payment to record, by field (amount_pence, method, reference): all
    of them at once, so a form can show them in one round."""
    errors: dict[str, str] = {}
    status = fee_status(referral)
    if amount_pence is None:
        errors["amount_pence"] = "Enter the amount paid"
    elif amount_pence <= 0:
        errors["amount_pence"] = "The amount must be more than £0"
    elif amount_pence > MAX_PAYMENT_PENCE:
        errors["amount_pence"] = "The amount is too large"
    elif status.is_waived:
        errors["amount_pence"] = "The fee has been waived: there is nothing to pay"
    elif amount_pence > status.balance_pence:
        owed = status.balance_pence
        errors["amount_pence"] = (f"The amount is more than the £{owed // 100}.{owed % 100:02d} "
                                  "still owed")
    try:
        chosen: PaymentMethod | None = PaymentMethod(method or "")
    except ValueError:
        chosen = None
    if chosen not in MANUAL_PAYMENT_METHODS:
        errors["method"] = "Choose how it was paid: card, cash, bank transfer or cheque"
    if len((reference or "").strip()) > 100:
        errors["reference"] = "The reference must be 100 characters or fewer"
    return errors


def _add_payment(*, referral: Referral, amount_pence: int, method: PaymentMethod,
                 reference: str | None, actor: User | None, actor_label: str | None,
                 now: dt.datetime) -> Payment:
    payment = Payment(referral_id=referral.id, amount_pence=amount_pence, method=method,
                      reference=reference, recorded_at=now,
                      recorded_by_id=getattr(actor, "id", None))
    db.session.add(payment)
    db.session.flush()
    record(action="fee.payment", category=AuditCategory.ALTERATION, now=now, actor=actor,
           actor_label=actor_label, object_type="referral", object_id=referral.id,
           details={"payment_id": payment.id, "amount_pence": amount_pence,
                    "method": method.value})
    fee_changed.send(referral, now=now)
    _tell_if_cleared(referral, actor, now)
    return payment


def get_online_payment_record(provider_reference: str) -> Payment | None:
    """The payment already recorded for this online (GOV.UK Pay) payment id, if any."""
    return db.session.scalar(select(Payment).where(
        Payment.method == PaymentMethod.ONLINE_CARD, Payment.reference == provider_reference))


def record_online_payment(*, referral: Referral, amount_pence: int, provider_reference: str,
                          actor_label: str, now: dt.datetime) -> Payment | None:
    """Record money the man paid online, as a manual payment is recorded (audit, `fee_cleared`).

    The provider has already taken the money, so nothing is refused: at most the balance still
    owed is recorded and the caller flags the rest for a manager. None when nothing is owed.
    Raises Conflict when this provider payment was already recorded (also a database rule).
    """
    if get_online_payment_record(provider_reference) is not None:
        raise Conflict("This online payment has already been recorded")
    lifecycle.lock([referral.id])  # the fee read and changed as one (see reinstate_fee)
    applied = min(amount_pence, fee_status(referral).balance_pence)
    if applied <= 0:
        return None
    try:
        with db.session.begin_nested():
            return _add_payment(referral=referral, amount_pence=applied,
                                method=PaymentMethod.ONLINE_CARD, reference=provider_reference,
                                actor=None, actor_label=actor_label, now=now)
    except IntegrityError as error:
        raise Conflict("This online payment has already been recorded") from error


def waive_fee(*, referral: Referral, reason: str | None, actor: User | None,
              now: dt.datetime) -> FeeWaiver:
    """Waive what is still owed of the referral's fee, with the reason: not a fee already paid
    or waived, nor once the case has ended (Conflict)."""
    _manager_only(actor)
    lifecycle.lock([referral.id])  # the fee read and changed as one (see reinstate_fee)
    status = fee_status(referral)
    if status.is_waived:
        raise Conflict("The fee has already been waived")
    if status.still_owed_pence == 0:
        raise Conflict("Nothing is owed: the case has ended" if status.has_ended
                       else "Nothing is owed: the fee has already been paid")
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed({"reason": "Enter why the fee is waived"})
    if len(text) > 1000:
        raise ValidationFailed({"reason": "Enter a reason of up to 1000 characters"})
    waiver = FeeWaiver(referral_id=referral.id, reason=text, waived_at=now,
                       waived_by_id=getattr(actor, "id", None))
    try:
        with db.session.begin_nested():
            db.session.add(waiver)
    except IntegrityError as error:
        raise Conflict("The fee has already been waived") from error
    record(action="fee.waive", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id,
           details={"waiver_id": waiver.id, "fee_pence": status.fee_pence,
                    "waived_pence": status.balance_pence})
    _tell_if_cleared(referral, actor, now)
    return waiver


def check_reinstatement(*, referral: Referral, actor: User | None) -> FeeWaiver:
    """The waiver a manager may take back, or why not: only while the case is open (a completed
    case was completed with the fee waived; an ended one takes no more money)."""
    _manager_only(actor)
    waiver = fee_status(referral).waiver
    if waiver is None:
        raise Conflict("The fee is not waived: there is nothing to reinstate")
    if referral.status.is_terminal:
        raise Conflict(f"The case has ended ({referral.status.label.lower()}), so the waived fee "
                       "cannot be reinstated")
    return waiver


def reinstate_fee(*, referral: Referral, actor: User | None, now: dt.datetime) -> int:
    """Undo a waiver: the fee is owed again (less what was paid), and the balance is returned.

    A waiver is one row of `fee_waivers` (at most one a referral), so taking it back removes
    the row; what it was (id, when, by whom; never the reason, which is personal) is kept in the
    audit row `fee.waiver_reinstated`, beside the `fee.waive` row that made it. The fee
    reminder may come back (`fee_changed`)."""
    # Held, and its status read again: every change to the fee holds the referral (waiving,
    # payments, this), as a register's submission does before it reads the fee, so a register
    # submitted at this moment either completes the course first (and reinstating is refused)
    # or waits and sees the fee owed, and a fee cleared meanwhile finds its submitted entry.
    lifecycle.lock([referral.id])
    waiver = check_reinstatement(referral=referral, actor=actor)
    details = {"waiver_id": waiver.id, "waived_at": waiver.waived_at.isoformat(),
               "waived_by_id": waiver.waived_by_id}
    # By its id, in the database: of two managers reinstating at once only one deletes it (an
    # ORM delete of a row already gone would fail the flush, a 500).
    result = db.session.execute(delete(FeeWaiver).where(FeeWaiver.id == waiver.id)
                                .execution_options(synchronize_session=False))
    if not int(getattr(result, "rowcount", 0) or 0):
        raise Conflict("The fee has already been reinstated meanwhile")
    db.session.expunge(waiver)
    balance = fee_status(referral).balance_pence
    record(action="fee.waiver_reinstated", category=AuditCategory.ALTERATION, now=now,
           actor=actor, object_type="referral", object_id=referral.id,
           details={**details, "owed_pence": balance})
    fee_changed.send(referral, now=now)
    return balance


@dataclass(frozen=True)
class FeeEvent:
    """One line of a referral's waiver history, read from the audit log."""

    at: dt.datetime
    action: str
    by: str


WAIVER_ACTIONS = {"fee.waive": "Fee waived", "fee.waiver_reinstated": "Waived fee reinstated"}


def list_waiver_history(referral: Referral) -> list[FeeEvent]:
    """When the fee was waived and reinstated, and by whom, oldest first (the audit rows)."""
    rows = db.session.execute(
        select(AuditEvent.at, AuditEvent.action, User.name)
        .outerjoin(User, User.id == AuditEvent.actor_user_id)
        .where(AuditEvent.object_type == "referral", AuditEvent.object_id == str(referral.id),
               AuditEvent.action.in_(WAIVER_ACTIONS))
        .order_by(AuditEvent.at, AuditEvent.id))
    return [FeeEvent(at, WAIVER_ACTIONS[action], name or "the system")
            for at, action, name in rows]


def check_refund(*, payment: Payment, amount_pence: int, actor: User | None) -> None:
    """Refuse a refund of the fee the service cannot take back (before any money moves)."""
    _manager_only(actor)
    referral = db.session.get(Referral, payment.referral_id)
    assert referral is not None
    if referral.status is ReferralStatus.COMPLETED:
        raise Conflict("The course was completed with this fee: only money paid beyond the fee "
                       "can be refunded")
    if not 0 < amount_pence <= payment.amount_pence - payment.refunded_pence:
        raise ValidationFailed({"amount": "The amount is more than what can be refunded"})


def record_refund(*, payment: Payment, amount_pence: int, actor: User | None,
                  now: dt.datetime) -> Payment:
    """Money of a payment given back: the referral has paid that much less (the fee is owed again)."""
    check_refund(payment=payment, amount_pence=amount_pence, actor=actor)
    # Added in the database, not from the value read: a refund he asked for at the same moment
    # (`claim_refund_he_asked_for`) is never overwritten, and never more than was paid.
    result = db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id,
               Payment.refunded_pence + amount_pence <= Payment.amount_pence)
        .values(refunded_pence=Payment.refunded_pence + amount_pence)
        .execution_options(synchronize_session=False))
    db.session.refresh(payment)
    if not int(getattr(result, "rowcount", 0) or 0):
        raise Conflict("This payment has already been refunded meanwhile")
    record(action="fee.refund", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=payment.referral_id,
           details={"payment_id": payment.id, "amount_pence": amount_pence})
    referral = db.session.get(Referral, payment.referral_id)
    if referral is not None:
        fee_changed.send(referral, now=now)
    return payment


def claim_refund_he_asked_for(*, payment: Payment, amount_pence: int, actor_label: str,
                              now: dt.datetime) -> Payment:
    """He asked for his fee back (his session was cancelled by the provider): he has paid that
    much less. One conditional update claims it before any money moves, so of two requests at
    once only one refunds; the other gets Conflict (the row lock on PostgreSQL, the write lock on
    SQLite). Refused once the course was completed with the fee."""
    referral = db.session.get(Referral, payment.referral_id)
    assert referral is not None
    if referral.status is ReferralStatus.COMPLETED:
        raise Conflict("The course was completed with this fee, so it cannot be paid back")
    result = db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.refunded_pence == payment.refunded_pence,
               Payment.refunded_pence + amount_pence <= Payment.amount_pence)
        .values(refunded_pence=Payment.refunded_pence + amount_pence)
        .execution_options(synchronize_session=False))
    db.session.refresh(payment)
    if amount_pence <= 0 or not int(getattr(result, "rowcount", 0) or 0):
        raise Conflict("This payment has already been paid back")
    record(action="fee.refund", category=AuditCategory.ALTERATION, now=now,
           actor_label=actor_label, object_type="referral", object_id=payment.referral_id,
           details={"payment_id": payment.id, "amount_pence": amount_pence})
    fee_changed.send(referral, now=now)  # owed again: the fee reminder may come back
    return payment


def restore_refund(*, payment: Payment, amount_pence: int, actor_label: str,
                   now: dt.datetime) -> Payment:
    """A refund that was not made after all (GOV.UK Pay answered error): the money is still
    paid, so what `record_refund` took off is put back (never more than was taken off)."""
    restored = min(amount_pence, payment.refunded_pence)
    if restored <= 0:
        return payment
    db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.refunded_pence >= restored)
        .values(refunded_pence=Payment.refunded_pence - restored)
        .execution_options(synchronize_session=False))
    db.session.refresh(payment)
    record(action="fee.refund_restored", category=AuditCategory.ALTERATION, now=now,
           actor_label=actor_label, object_type="referral", object_id=payment.referral_id,
           details={"payment_id": payment.id, "amount_pence": restored})
    referral = db.session.get(Referral, payment.referral_id)
    assert referral is not None
    fee_changed.send(referral, now=now)
    _tell_if_cleared(referral, None, now)
    return payment
