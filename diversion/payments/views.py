"""Managers' page of online payments that took more than was owed (`/payments/flagged`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.access import acting_user, roles
from diversion.auth.models import Role
from diversion.bookings.forms import NOT_AN_AMOUNT, pence_from_pounds
from diversion.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.forms import Form, attach_errors
from diversion.core.timeutils import now_utc
from diversion.core.transactions import savepoint
from diversion.core.web import format_pounds
from diversion.payments import govukpay, services
from diversion.payments.govukpay import PaymentServiceUnavailable
from diversion.payments.models import OnlinePayment, OnlineRefundStatus

bp = Blueprint("payments", __name__)


class ConfirmForm(Form):
    """A button with a CSRF token, nothing else."""


@bp.get("/payments/flagged")
@roles(Role.MANAGER)
def flagged() -> Any:
    attempts = services.list_flagged()
    record(action="payment.online_flagged_view", category=AuditCategory.CONSULTATION,
           now=now_utc(), actor=acting_user(), object_type="online_payments",
           details={"count": len(attempts)})
    return render_template("payments/flagged.html", attempts=attempts, form=ConfirmForm())


@bp.route("/payments/online/<int:online_payment_id>/settled", methods=["GET", "POST"])
@roles(Role.MANAGER)
def settled(online_payment_id: int) -> Any:
    """GET: the check page (the payment leaves the list for good); POST: mark it settled."""
    form = ConfirmForm()
    if request.method == "GET":
        attempt = _attempt(online_payment_id)
        if attempt.flagged_at is None:
            raise NotFound("No such online payment waiting for a manager")
        record(action="payment.online_flagged_view", category=AuditCategory.CONSULTATION,
               now=now_utc(), actor=acting_user(), object_type="referral",
               object_id=attempt.referral_id, details={"online_payment_id": attempt.id})
        return render_template("payments/settle.html", attempt=attempt, form=form)
    if form.validate_on_submit():
        attempt = services.settle_flag(online_payment_id=online_payment_id, actor=acting_user(),
                                       now=now_utc())
        flash(f"The online payment for {attempt.referral.reference} is marked as settled",
              "success")
    return redirect(url_for("payments.flagged"))


class RefundForm(Form):
    amount = StringField("Amount to refund", validators=[InputRequired("Enter the amount to refund")])
    reason = TextAreaField("Why is it refunded?",
                           description="For example: his session was cancelled and he chose not to rebook",
                           validators=[InputRequired("Enter why the payment is refunded"),
                                       Length(max=services.MAX_REASON_LENGTH)])


def _attempt(online_payment_id: int) -> OnlinePayment:
    attempt = db.session.get(OnlinePayment, online_payment_id)
    if attempt is None:
        raise NotFound("No such online payment")
    return attempt


@bp.route("/payments/online/<int:online_payment_id>/refund", methods=["GET", "POST"])
@roles(Role.MANAGER)
def refund(online_payment_id: int) -> Any:
    """Refund an online payment through GOV.UK Pay, with a reason, after confirming."""
    attempt = _attempt(online_payment_id)
    actor = acting_user()
    now = now_utc()
    form = RefundForm()
    status = 200
    client = govukpay.client_from_settings()
    if client is None:
        raise Conflict("Online payment is switched off (DIVERSION_PAYMENT_BACKEND): refund it in "
                       "the GOV.UK Pay admin tool")
    if request.method == "GET":
        form.amount.data = f"{services.refundable_pence(attempt) / 100:.2f}"
    elif form.validate_on_submit():
        try:
            with savepoint():
                pence = pence_from_pounds(form.amount.data)
                if pence is None:
                    raise ValidationFailed({"amount": NOT_AN_AMOUNT})
                refunded = services.refund_online_payment(
                    attempt=attempt, amount_pence=pence, reason=form.reason.data, client=client,
                    actor=actor, now=now)
        except ValidationFailed as error:
            attach_errors(form, error, fallback="amount")
            status = 422
        except PaymentServiceUnavailable:
            form.form_errors.append("GOV.UK Pay did not make the refund: nothing was refunded. "
                                    "Try again later")
            status = 503
        except DomainError as error:
            form.form_errors.append(error.message)
            status = error.status
        else:
            if refunded.status is OnlineRefundStatus.ERROR:
                flash("GOV.UK Pay could not make the refund: nothing was refunded", "error")
            else:
                flash(f"Refund of {format_pounds(refunded.amount_pence)} sent to GOV.UK Pay",
                      "success")
            return redirect(url_for("bookings.referral_booking",
                                    reference=attempt.referral.reference))
    else:
        status = 422
        if not form.amount.errors and "csrf_token" not in form.errors:
            # The form stopped at the reason: say what is wrong with the amount too, so every
            # problem is shown in one round.
            pence = pence_from_pounds(form.amount.data)
            problem = (NOT_AN_AMOUNT if pence is None
                       else services.refund_amount_problem(attempt, pence))
            if problem:
                form.amount.errors = [*form.amount.errors, problem]
    record(action="payment.online_refund_view", category=AuditCategory.CONSULTATION, now=now,
           actor=actor, object_type="referral", object_id=attempt.referral_id)
    return render_template("payments/refund.html", attempt=attempt, form=form,
                           available=services.refundable_pence(attempt),
                           refunds=services.list_refunds(attempt)), status
