"""The man pays his fee online (DIVERSION_PAYMENT_BACKEND=govuk_pay): /book/pay and the return;
and, when the provider cancelled his session, asks for it back instead (/book/refund).

`POST /book/pay` creates a GOV.UK Pay payment of the balance and sends him (303) to the
provider's page; the provider sends him back to `/book/payments/<token>/return`, which only his
own person session can open. What happened is asked of the provider's API, never read from the
request.

`GET|POST /book/refund` is offered only while he waits to book again after the provider cancelled
his session and has fee paid online (`payments.get_refund_offer`); only its POST refunds, once
(`payments.refund_after_cancelled_session` claims the fee first). `/book/refund/requested` tells
him what happened to the refund he asked for.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, redirect, render_template, url_for

from diversion.auth.access import public
from diversion.bookings import fees
from diversion.core.errors import DomainError
from diversion.core.links import external_url
from diversion.core.timeutils import now_utc
from diversion.core.web import CSP
from diversion.payments import govukpay
from diversion.payments import services as payments
from diversion.payments.govukpay import PaymentServiceUnavailable
from diversion.referrals.models import Referral
from diversion.selfservice import services
from diversion.selfservice.forms import ConfirmForm
from diversion.selfservice.person import current_referral, person_required
from diversion.selfservice.views import bp, confirm_page


def _unavailable() -> Any:
    return render_template("selfservice/pay_unavailable.html"), 503


@bp.post("/book/pay")
@public
@person_required
def pay() -> Any:
    referral = current_referral()
    client = govukpay.client_from_settings()
    form = ConfirmForm()
    if client is None:
        return redirect(url_for("selfservice.overview"))
    if not form.validate_on_submit() or fees.fee_status(referral).balance_pence <= 0:
        return redirect(url_for("selfservice.overview"))
    try:
        _attempt, next_url = payments.start_online_payment(
            referral=referral, client=client,
            return_url_for=lambda token: external_url("selfservice.payment_return", token=token),
            actor_label=services.actor_label(referral), now=now_utc())
    except PaymentServiceUnavailable:
        return _unavailable()
    return redirect(next_url, code=303)


@bp.get("/book/payments/<token>/return")
@public
@person_required
def payment_return(token: str) -> Any:
    referral = current_referral()
    now = now_utc()
    attempt = payments.get_attempt_of(referral, token)
    client = govukpay.client_from_settings()
    if client is None:
        return redirect(url_for("selfservice.overview"))
    try:
        payments.settle_online_payment(attempt=attempt, client=client,
                                       actor_label=services.actor_label(referral), now=now)
    except PaymentServiceUnavailable:
        return render_template("selfservice/pay_result.html", referral=referral,
                               attempt=attempt, checking=True, fee=fees.fee_status(referral))
    services.record_person_view(referral=referral, now=now, action="selfservice.view_payment")
    return render_template("selfservice/pay_result.html", referral=referral, attempt=attempt,
                           checking=False, fee=fees.fee_status(referral))


class RefundUnavailable(DomainError):
    """GOV.UK Pay could not make his refund: nothing was recorded (the page answers 503)."""

    page_status = 503


REFUND_UNAVAILABLE = ("We could not pay your money back just now. Nothing has changed: your "
                      "payment still counts. Try again later")


def refund_offer_for(referral: Referral) -> payments.RefundOffer | None:
    """What he may ask back after the provider cancelled his session (online payment on)."""
    if current_app.config["SETTINGS"].payment_backend != "govuk_pay":
        return None
    return payments.get_refund_offer(referral)


@bp.route("/book/refund", methods=["GET", "POST"])
@public
@person_required
def refund() -> Any:
    """Check his refund with him; only "Yes, pay my money back" refunds, and only once."""
    referral = current_referral()
    client = govukpay.client_from_settings()
    offer = refund_offer_for(referral)
    if client is None or offer is None:
        already = payments.get_latest_refund_he_asked_for(referral)
        return redirect(url_for("selfservice.refunded" if already else "selfservice.overview"))

    def make_refund() -> None:
        try:
            payments.refund_after_cancelled_session(
                referral=referral, client=client, actor_label=services.actor_label(referral),
                now=now_utc())
        except PaymentServiceUnavailable as error:
            raise RefundUnavailable(REFUND_UNAVAILABLE) from error

    return confirm_page("selfservice/refund.html", make_refund,
                        lambda: redirect(url_for("selfservice.refunded")), offer=offer)


@bp.get("/book/refund/requested")
@public
@person_required
def refunded() -> Any:
    referral = current_referral()
    asked = payments.get_latest_refund_he_asked_for(referral)
    if asked is None:
        return redirect(url_for("selfservice.overview"))
    services.record_person_view(referral=referral, now=now_utc(), action="selfservice.view_refund")
    return render_template("selfservice/refunded.html", referral=referral, refund=asked,
                           fee=fees.fee_status(referral))


def amount_to_pay_online(referral: Referral) -> int | None:
    """The balance he can pay online now, or None (online payment off, nothing owed, or ended)."""
    if current_app.config["SETTINGS"].payment_backend != "govuk_pay" or referral.status.is_terminal:
        return None
    owed = fees.fee_status(referral).balance_pence
    return owed if owed > 0 else None


def amount_to_pay_by_phone(referral: Referral) -> int | None:
    """The balance he pays by phoning the team (online payment off), or None (nothing owed,
    ended, or he can pay online)."""
    if current_app.config["SETTINGS"].payment_backend == "govuk_pay" or referral.status.is_terminal:
        return None
    owed = fees.fee_status(referral).balance_pence
    return owed if owed > 0 else None


@bp.after_request
def let_the_pay_form_lead_to_the_provider(response: Response) -> Response:
    """The pay form's answer sends the browser on to GOV.UK Pay's page; browsers apply the
    page's CSP `form-action` to that redirect too, so name the provider's origin there."""
    client = govukpay.client_from_settings()
    if client is not None:
        origins = " ".join(o for o in client.paying_page_origins if o)
        response.headers["Content-Security-Policy"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {origins}")
    return response


@bp.context_processor
def paying_helpers() -> dict[str, Any]:
    return {"amount_to_pay_online": amount_to_pay_online,
            "amount_to_pay_by_phone": amount_to_pay_by_phone, "refund_offer_for": refund_offer_for}
