"""Paying the course fee online: start a GOV.UK Pay payment, confirm it, reconcile the rest.

Only the provider's API decides what happened to a payment: the return page and the scheduler
job both ask it (`settle_online_payment`), and whichever gets there first applies a success,
once, through `bookings.fees.record_online_payment` (so `fee_cleared` fires as for a manager's
entry). Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import joinedload

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.bookings import fees
from diversion.bookings import queries as bookings_queries
from diversion.bookings.models import Booking, Payment
from diversion.core.errors import Conflict, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.web import format_pounds
from diversion.payments.govukpay import GovukPayClient, PaymentServiceUnavailable, ProviderPayment
from diversion.payments.models import (
    FINISHED,
    OnlinePayment,
    OnlinePaymentStatus,
    OnlineRefund,
    OnlineRefundStatus,
)
from diversion.referrals.models import Referral, ReferralStatus

log = logging.getLogger(__name__)

# What the man's bank statement and the provider's page say: never the offence.
DESCRIPTION = "Course fee"
# GOV.UK Pay ends a payment session the man leaves unfinished after 90 minutes.
PROVIDER_SESSION = dt.timedelta(minutes=90)
# The reconciliation job asks about unfinished attempts made in this window.
RECONCILE_WINDOW = dt.timedelta(days=3)
SYSTEM = "system"
# Refunds still `submitted` asked about per run of the job (the oldest-checked first).
REFUND_CHECKS_PER_RUN = 50
# The reason kept on a refund he asked for himself.
HIS_REFUND_REASON = ("His session was cancelled by the provider and he asked for his money back "
                     "instead of booking a new date")


class NothingToPay(Conflict):
    """The fee is paid or waived: there is no payment to start."""


def start_online_payment(*, referral: Referral, client: GovukPayClient,
                         return_url_for: Callable[[str], str], actor_label: str,
                         now: dt.datetime) -> tuple[OnlinePayment, str]:
    """Create a payment of the balance owed; the attempt and the provider's page address.

    The provider is asked first: when it is down nothing is written (PaymentServiceUnavailable).
    """
    owed = fees.fee_status(referral).balance_pence
    if owed <= 0:
        raise NothingToPay("There is nothing left to pay")
    token = secrets.token_urlsafe(24)
    created = client.create_payment(amount=owed, reference=referral.reference,
                                     description=DESCRIPTION, return_url=return_url_for(token))
    assert created.next_url is not None
    attempt = OnlinePayment(token=token, referral_id=referral.id,
                            provider_payment_id=created.payment_id, amount_pence=owed,
                            status=_status(created.status), created_at=now, excess_pence=0)
    db.session.add(attempt)
    db.session.flush()
    record(action="payment.online_start", category=AuditCategory.ALTERATION, now=now,
           actor_label=actor_label, object_type="referral", object_id=referral.id,
           details={"online_payment_id": attempt.id, "amount_pence": owed})
    return attempt, created.next_url


def get_attempt_of(referral: Referral, token: str) -> OnlinePayment:
    """The referral's own attempt named by the token; NotFound for any other."""
    attempt = db.session.scalar(select(OnlinePayment).where(OnlinePayment.token == token[:64]))
    if attempt is None or attempt.referral_id != referral.id:
        raise NotFound("No such payment")
    return attempt


def _status(value: str) -> OnlinePaymentStatus:
    try:
        status = OnlinePaymentStatus(value)
    except ValueError:
        return OnlinePaymentStatus.CREATED  # a state we do not know: still unfinished for us
    return OnlinePaymentStatus.CREATED if status is OnlinePaymentStatus.ABANDONED else status


def settle_online_payment(*, attempt: OnlinePayment, client: GovukPayClient, actor_label: str,
                          now: dt.datetime) -> OnlinePayment:
    """Ask the provider about the attempt and record what it says (a success applied once).

    Raises PaymentServiceUnavailable when the provider cannot say; then nothing changes.
    """
    if attempt.status.is_finished:
        return attempt
    answer = client.get_payment(attempt.provider_payment_id)
    return apply_provider_answer(attempt=attempt, answer=answer, actor_label=actor_label, now=now)


def apply_provider_answer(*, attempt: OnlinePayment, answer: ProviderPayment, actor_label: str,
                          now: dt.datetime) -> OnlinePayment:
    status = _status(answer.status)
    if not status.is_finished or not answer.finished:
        if status is not attempt.status and not attempt.status.is_finished:
            attempt.status = status
            db.session.flush()
        return attempt
    # Claim the attempt: of two requests settling it at once, one changes the row, the other
    # finds it finished (the row lock on PostgreSQL, the write lock on SQLite).
    result = db.session.execute(
        update(OnlinePayment)
        .where(OnlinePayment.id == attempt.id, OnlinePayment.status.not_in(FINISHED))
        .values(status=status, finished_at=now)
        .execution_options(synchronize_session=False))
    claimed = int(getattr(result, "rowcount", 0) or 0)
    db.session.refresh(attempt)
    if not claimed:
        return attempt
    if status is OnlinePaymentStatus.SUCCESS:
        _apply_success(attempt, answer_amount=answer.amount, actor_label=actor_label, now=now)
    record(action=f"payment.online_{status.value}", category=AuditCategory.ALTERATION, now=now,
           actor_label=actor_label, object_type="referral", object_id=attempt.referral_id,
           details={"online_payment_id": attempt.id, "amount_pence": attempt.amount_pence})
    db.session.flush()
    return attempt


def _apply_success(attempt: OnlinePayment, *, answer_amount: int, actor_label: str,
                   now: dt.datetime) -> None:
    referral = db.session.get(Referral, attempt.referral_id)
    assert referral is not None
    if answer_amount != attempt.amount_pence:
        log.warning("online payment %s: the provider took a different amount", attempt.id)
        attempt.amount_pence = answer_amount
    try:
        payment = fees.record_online_payment(
            referral=referral, amount_pence=attempt.amount_pence,
            provider_reference=attempt.provider_payment_id, actor_label=actor_label, now=now)
    except Conflict:
        payment = fees.get_online_payment_record(attempt.provider_payment_id)
    applied = payment.amount_pence if payment is not None else 0
    attempt.applied_payment_id = payment.id if payment is not None else None
    attempt.excess_pence = attempt.amount_pence - applied
    if attempt.excess_pence > 0:
        attempt.flagged_at = now
        attempt.flag_reason = ("Paid online after the fee was already paid or waived: "
                               "refund the difference or settle it with the person")
        record(action="payment.online_excess", category=AuditCategory.ALTERATION, now=now,
               actor_label=actor_label, object_type="referral", object_id=attempt.referral_id,
               details={"online_payment_id": attempt.id, "excess_pence": attempt.excess_pence})
        log.warning("online payment %s paid more than was owed: flagged for a manager",
                    attempt.id)


def reconcile_online_payments(*, client: GovukPayClient | None,
                              now: dt.datetime) -> dict[str, int]:
    """Ask the provider about every recent unfinished attempt; apply, fail or abandon each. Then
    ask about refunds still `submitted` (`recheck_submitted_refunds`)."""
    counts = {"checked": 0, "succeeded": 0, "failed": 0, "abandoned": 0, "unfinished": 0,
              "unreachable": 0, "refunds_checked": 0, "refunds_succeeded": 0,
              "refunds_failed": 0, "refunds_unreachable": 0}
    if client is None:
        return counts
    attempts = db.session.scalars(
        select(OnlinePayment)
        .where(OnlinePayment.status.not_in(FINISHED),
               OnlinePayment.created_at >= now - RECONCILE_WINDOW)
        .order_by(OnlinePayment.id)).all()
    for attempt in attempts:
        counts["checked"] += 1
        try:
            settle_online_payment(attempt=attempt, client=client, actor_label=SYSTEM, now=now)
        except PaymentServiceUnavailable:
            counts["unreachable"] += 1
            continue
        if attempt.status is OnlinePaymentStatus.SUCCESS:
            counts["succeeded"] += 1
        elif attempt.status.is_finished:
            counts["failed"] += 1
        elif attempt.created_at <= now - PROVIDER_SESSION:
            _abandon(attempt, now=now)
            counts["abandoned"] += 1
        else:
            counts["unfinished"] += 1
    counts.update(recheck_submitted_refunds(client=client, now=now))
    return counts


def _abandon(attempt: OnlinePayment, *, now: dt.datetime) -> None:
    result = db.session.execute(
        update(OnlinePayment)
        .where(OnlinePayment.id == attempt.id, OnlinePayment.status.not_in(FINISHED))
        .values(status=OnlinePaymentStatus.ABANDONED, finished_at=now)
        .execution_options(synchronize_session=False))
    claimed = int(getattr(result, "rowcount", 0) or 0)
    db.session.refresh(attempt)
    if claimed:
        record(action="payment.online_abandoned", category=AuditCategory.ALTERATION, now=now,
               actor_label=SYSTEM, object_type="referral", object_id=attempt.referral_id,
               details={"online_payment_id": attempt.id})


def list_online_payments(referral: Referral) -> list[OnlinePayment]:
    """The referral's online payment attempts, newest first (for the managers' fee section)."""
    return list(db.session.scalars(select(OnlinePayment)
                                   .where(OnlinePayment.referral_id == referral.id)
                                   .order_by(OnlinePayment.id.desc())))


def count_flagged_query() -> Select[int]:
    """How many online payments took more than was owed or had a refund fail (the dashboard)."""
    return (select(func.count()).select_from(OnlinePayment)
            .where(OnlinePayment.flagged_at.is_not(None)))


def list_flagged() -> list[OnlinePayment]:
    """Online payments that took more than was owed, or whose refund failed, not yet settled,
    oldest first."""
    return list(db.session.scalars(select(OnlinePayment)
                                   .where(OnlinePayment.flagged_at.is_not(None))
                                   .order_by(OnlinePayment.flagged_at, OnlinePayment.id)))


def settle_flag(*, online_payment_id: int, actor: User, now: dt.datetime) -> OnlinePayment:
    """A manager has refunded or settled the excess of an online payment: clear its flag."""
    attempt = db.session.get(OnlinePayment, online_payment_id)
    if attempt is None or attempt.flagged_at is None:
        raise NotFound("No such online payment waiting for a manager")
    attempt.flagged_at = None
    record(action="payment.online_excess_settled", category=AuditCategory.ALTERATION, now=now,
           actor=actor, object_type="referral", object_id=attempt.referral_id,
           details={"online_payment_id": attempt.id, "excess_pence": attempt.excess_pence})
    db.session.flush()
    return attempt


MAX_REASON_LENGTH = 1000


def refundable_pence(attempt: OnlinePayment) -> int:
    """What can still be given back on a successful online payment (refunds in error excluded)."""
    if attempt.status is not OnlinePaymentStatus.SUCCESS:
        return 0
    refunded = db.session.scalar(
        select(func.coalesce(func.sum(OnlineRefund.amount_pence), 0))
        .where(OnlineRefund.online_payment_id == attempt.id,
               OnlineRefund.status != OnlineRefundStatus.ERROR)) or 0
    return max(attempt.amount_pence - int(refunded), 0)


def list_refunds(attempt: OnlinePayment) -> list[OnlineRefund]:
    return list(db.session.scalars(select(OnlineRefund)
                                   .where(OnlineRefund.online_payment_id == attempt.id)
                                   .order_by(OnlineRefund.id)))


def _send_refund(*, attempt: OnlinePayment, amount_pence: int, fee_pence: int, reason: str,
                 client: GovukPayClient, actor: User | None, actor_label: str | None,
                 now: dt.datetime) -> OnlineRefund:
    """Ask GOV.UK Pay to refund (with what it says can still be refunded), then record the row
    with its refund id and an audit row. `fee_pence` is kept unless the answer is `error`."""
    answer = client.get_payment(attempt.provider_payment_id)
    available = (answer.refund_amount_available if answer.refund_amount_available is not None
                 else refundable_pence(attempt))
    refund = client.create_refund(payment_id=attempt.provider_payment_id, amount=amount_pence,
                                  refund_amount_available=available)
    status = (OnlineRefundStatus(refund.status) if refund.status in set(OnlineRefundStatus)
              else OnlineRefundStatus.SUBMITTED)
    row = OnlineRefund(online_payment_id=attempt.id, provider_refund_id=refund.refund_id,
                       amount_pence=amount_pence, status=status, reason=reason, created_at=now,
                       created_by_id=actor.id if actor is not None else None,
                       fee_pence=0 if status is OnlineRefundStatus.ERROR else fee_pence)
    db.session.add(row)
    db.session.flush()
    record(action="payment.online_refund", category=AuditCategory.ALTERATION, now=now,
           actor=actor, actor_label=actor_label, object_type="referral",
           object_id=attempt.referral_id,
           details={"online_payment_id": attempt.id, "refund_id": row.id,
                    "amount_pence": amount_pence, "status": status.value,
                    "asked_by_person": actor is None})
    return row


def refund_amount_problem(attempt: OnlinePayment, amount_pence: int | None) -> str | None:
    """What is wrong with refunding this much of the payment, or None (a form shows it beside
    its other problems, in one round)."""
    available = refundable_pence(attempt)
    if amount_pence is None:
        return "Enter the amount to refund"
    if amount_pence <= 0:
        return "The amount must be more than £0"
    if amount_pence > available:
        return (f"The amount is more than the £{available // 100}.{available % 100:02d} "
                "that can be refunded")
    return None


def refund_online_payment(*, attempt: OnlinePayment, amount_pence: int | None, reason: str | None,
                          client: GovukPayClient, actor: User, now: dt.datetime) -> OnlineRefund:
    """Give money back through GOV.UK Pay: first any part the fee did not need, then the fee.

    Checked before the provider is asked; recorded with the provider's refund id once it has
    accepted. A refund of the fee itself lowers what the referral has paid (`fees.record_refund`),
    so the fee is owed again; it is refused once the course was completed with that fee.
    Raises PaymentServiceUnavailable (nothing recorded) when the provider cannot do it.
    """
    available = refundable_pence(attempt)
    text = (reason or "").strip()
    errors: dict[str, str] = {}
    if attempt.status is not OnlinePaymentStatus.SUCCESS or available == 0:
        raise Conflict("There is nothing left to refund on this payment")
    amount_problem = refund_amount_problem(attempt, amount_pence)
    if amount_problem:
        errors["amount"] = amount_problem
    if not text:
        errors["reason"] = "Enter why the payment is refunded"
    elif len(text) > MAX_REASON_LENGTH:
        errors["reason"] = f"Enter a reason of up to {MAX_REASON_LENGTH} characters"
    if errors:
        raise ValidationFailed(errors)
    assert amount_pence is not None
    from_excess = min(amount_pence, attempt.excess_pence)
    from_fee = amount_pence - from_excess
    payment = attempt.applied_payment
    if from_fee:
        assert payment is not None  # what is not excess was applied
        fees.check_refund(payment=payment, amount_pence=from_fee, actor=actor)
    row = _send_refund(attempt=attempt, amount_pence=amount_pence, fee_pence=from_fee,
                       reason=text, client=client, actor=actor, actor_label=None, now=now)
    if row.status is OnlineRefundStatus.ERROR:
        return row
    if from_excess:
        attempt.excess_pence -= from_excess
        if attempt.excess_pence == 0:
            attempt.flagged_at = None
    if from_fee:
        assert payment is not None
        fees.record_refund(payment=payment, amount_pence=from_fee, actor=actor, now=now)
    db.session.flush()
    return row


# His own refund when the provider cancelled his session ------------------------------------

@dataclass(frozen=True)
class RefundOffer:
    """What he may ask back: the fee part of his latest online payment, his session cancelled."""

    attempt: OnlinePayment
    payment: Payment
    amount_pence: int
    cancelled_booking: Booking


def get_refund_offer(referral: Referral) -> RefundOffer | None:
    """His choice of a refund: only while he waits to book again after the provider cancelled
    his session, and only for fee he paid online that has not been given back."""
    if referral.status is not ReferralStatus.AWAITING_BOOKING:
        return None
    booking = bookings_queries.get_booking_cancelled_by_provider(referral)
    if booking is None:
        return None
    attempts = db.session.scalars(
        select(OnlinePayment).options(joinedload(OnlinePayment.applied_payment))
        .where(OnlinePayment.referral_id == referral.id,
               OnlinePayment.status == OnlinePaymentStatus.SUCCESS,
               OnlinePayment.applied_payment_id.is_not(None))
        .order_by(OnlinePayment.id.desc()))
    for attempt in attempts:
        payment = attempt.applied_payment
        assert payment is not None
        amount = min(payment.amount_pence - payment.refunded_pence,
                     refundable_pence(attempt) - attempt.excess_pence)
        if amount > 0:
            return RefundOffer(attempt=attempt, payment=payment, amount_pence=amount,
                               cancelled_booking=booking)
    return None


def refund_after_cancelled_session(*, referral: Referral, client: GovukPayClient,
                                   actor_label: str, now: dt.datetime) -> OnlineRefund:
    """He asked for his fee back instead of booking a new date: refund it through GOV.UK Pay.

    The fee is claimed first (`fees.claim_refund_he_asked_for`, one conditional update), so a
    second request, at once or later, refunds nothing (Conflict). Raises
    PaymentServiceUnavailable when the provider cannot do it: the caller rolls the claim back, so
    nothing is recorded. An answer of `error` puts the fee back at once.
    """
    offer = get_refund_offer(referral)
    if offer is None:
        raise Conflict("There is no payment to give back")
    attempt, amount = offer.attempt, offer.amount_pence
    fees.claim_refund_he_asked_for(payment=offer.payment, amount_pence=amount,
                                   actor_label=actor_label, now=now)
    row = _send_refund(attempt=attempt, amount_pence=amount, fee_pence=amount,
                       reason=HIS_REFUND_REASON, client=client, actor=None,
                       actor_label=actor_label, now=now)
    if row.status is OnlineRefundStatus.ERROR:
        fees.restore_refund(payment=offer.payment, amount_pence=amount, actor_label=actor_label,
                            now=now)
    return row


def get_latest_refund_he_asked_for(referral: Referral) -> OnlineRefund | None:
    """His own latest refund (none made by a manager), for the page that tells him the outcome."""
    return db.session.scalar(
        select(OnlineRefund).join(OnlineRefund.online_payment)
        .where(OnlinePayment.referral_id == referral.id, OnlineRefund.created_by_id.is_(None))
        .order_by(OnlineRefund.id.desc()).limit(1))


def list_refunds_of(referral: Referral) -> list[OnlineRefund]:
    """Every online refund on the referral's payments, oldest first (the managers' fee section)."""
    return list(db.session.scalars(
        select(OnlineRefund).join(OnlineRefund.online_payment)
        .options(joinedload(OnlineRefund.created_by))
        .where(OnlinePayment.referral_id == referral.id).order_by(OnlineRefund.id)))


# Refunds left `submitted` ---------------------------------------------------------------------

def recheck_submitted_refunds(*, client: GovukPayClient,
                              now: dt.datetime) -> dict[str, int]:
    """Ask the provider about refunds still `submitted` (at most REFUND_CHECKS_PER_RUN, the
    longest unchecked first) and record what it says; an `error` is put right once."""
    counts = {"refunds_checked": 0, "refunds_succeeded": 0, "refunds_failed": 0,
              "refunds_unreachable": 0}
    refunds = db.session.scalars(
        select(OnlineRefund)
        .options(joinedload(OnlineRefund.online_payment).joinedload(OnlinePayment.applied_payment))
        .where(OnlineRefund.status == OnlineRefundStatus.SUBMITTED)
        .order_by(OnlineRefund.checked_at.is_not(None), OnlineRefund.checked_at, OnlineRefund.id)
        .limit(REFUND_CHECKS_PER_RUN)).unique().all()
    for refund in refunds:
        counts["refunds_checked"] += 1
        try:
            answer = client.get_refund(payment_id=refund.online_payment.provider_payment_id,
                                       refund_id=refund.provider_refund_id)
        except PaymentServiceUnavailable:
            counts["refunds_unreachable"] += 1
            refund.checked_at = now
            continue
        refund.checked_at = now
        if answer.status == OnlineRefundStatus.SUCCESS.value:
            if _finish_refund(refund, OnlineRefundStatus.SUCCESS, now=now):
                counts["refunds_succeeded"] += 1
        elif (answer.status == OnlineRefundStatus.ERROR.value
              and _finish_refund(refund, OnlineRefundStatus.ERROR, now=now)):
            _put_back(refund, now=now)
            counts["refunds_failed"] += 1
    db.session.flush()
    return counts


def _finish_refund(refund: OnlineRefund, status: OnlineRefundStatus, *, now: dt.datetime) -> bool:
    """Move a refund on from `submitted`, once: False when another run got there first."""
    result = db.session.execute(
        update(OnlineRefund)
        .where(OnlineRefund.id == refund.id, OnlineRefund.status == OnlineRefundStatus.SUBMITTED)
        .values(status=status)
        .execution_options(synchronize_session=False))
    if not int(getattr(result, "rowcount", 0) or 0):
        db.session.refresh(refund)
        return False
    refund.status = status
    record(action=f"payment.online_refund_{status.value}", category=AuditCategory.ALTERATION,
           now=now, actor_label=SYSTEM, object_type="referral",
           object_id=refund.online_payment.referral_id,
           details={"online_payment_id": refund.online_payment_id, "refund_id": refund.id,
                    "amount_pence": refund.amount_pence})
    return True


def _put_back(refund: OnlineRefund, *, now: dt.datetime) -> None:
    """The money of a refund in error was not given back: undo what the refund took off the fee
    and the excess, and flag the payment for a manager."""
    attempt = refund.online_payment
    amount = format_pounds(refund.amount_pence)
    if refund.fee_pence is None:
        note = (f"A refund of {amount} failed at GOV.UK Pay: the money was not given back. "
                "Check the fee on the referral's page")
    else:
        if refund.fee_pence and attempt.applied_payment is not None:
            fees.restore_refund(payment=attempt.applied_payment, amount_pence=refund.fee_pence,
                                actor_label=SYSTEM, now=now)
        attempt.excess_pence = min(attempt.excess_pence + refund.amount_pence - refund.fee_pence,
                                   attempt.amount_pence)
        refund.fee_pence = 0
        note = (f"A refund of {amount} failed at GOV.UK Pay: the money was not given back and "
                "still counts as paid. Refund it again or settle it with the person")
    attempt.flagged_at = now
    attempt.flag_reason = note
    log.warning("online refund %s answered error: flagged for a manager", refund.id)
