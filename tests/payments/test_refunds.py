"""Managers refund an online payment through GOV.UK Pay (the stand-in), with a reason."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from diversion.attendance import register as attendance_register
from diversion.attendance.rules import AttendanceStatus as A
from diversion.audit.models import AuditEvent
from diversion.bookings import fees
from diversion.bookings.models import Payment
from diversion.core.extensions import db
from diversion.payments import govukpay, services
from diversion.payments.models import OnlinePayment, OnlineRefund, OnlineRefundStatus
from diversion.referrals.models import ReferralStatus
from tests.builders import DURING, NOW, create_referral, pay_fee, pay_online, session_with_people

pytestmark = pytest.mark.usefixtures("clock")


def test_a_manager_refunds_the_fee_with_a_reason_and_it_is_owed_again(client, login_as, govuk_pay):
    manager = login_as("manager")
    referral = create_referral()
    attempt = pay_online(referral, govuk_pay)
    fee_page = client.get(f"/bookings/referral/{referral.reference}").get_data(as_text=True)
    assert f"/payments/online/{attempt.id}/refund" in fee_page

    form = client.get(f"/payments/online/{attempt.id}/refund").get_data(as_text=True)
    assert "Refund the online payment" in form and 'value="200.00"' in form
    response = client.post(f"/payments/online/{attempt.id}/refund",
                           data={"amount": "200", "reason": "Session cancelled; he chose not to rebook"})

    assert response.status_code == 302
    (sent,) = govuk_pay.refunds
    assert sent["amount"] == 20000 and sent["payment_id"] == attempt.provider_payment_id
    refund = db.session.scalar(select(OnlineRefund))
    assert refund.provider_refund_id == sent["refund_id"] and refund.status is OnlineRefundStatus.SUCCESS
    assert refund.reason == "Session cancelled; he chose not to rebook" and refund.created_by_id == manager.id
    db.session.expire_all()
    assert fees.fee_status(referral).balance_pence == 20000
    assert db.session.scalar(select(Payment.refunded_pence)) == 20000
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"payment.online_refund", "fee.refund"} <= actions
    # Nothing left to refund: the page says so and a second refund is refused.
    again = client.post(f"/payments/online/{attempt.id}/refund", data={"amount": "1", "reason": "x"})
    assert again.status_code == 409 and len(govuk_pay.refunds) == 1


def test_the_extra_is_refunded_first_and_clears_the_flag(client, login_as, govuk_pay):
    login_as("manager")
    referral = create_referral()
    client_ = govukpay.client_from_settings()
    assert client_ is not None
    attempt, _ = services.start_online_payment(
        referral=referral, client=client_, return_url_for=lambda token: "http://127.0.0.1:5000/",
        actor_label="person:x", now=NOW)
    pay_fee(referral)  # cash taken meanwhile
    govuk_pay.finish(attempt.provider_payment_id, "success")
    services.settle_online_payment(attempt=attempt, client=client_, actor_label="system", now=NOW)
    db.session.commit()
    assert attempt.excess_pence == 20000 and attempt.flagged_at is not None

    response = client.post(f"/payments/online/{attempt.id}/refund",
                           data={"amount": "200.00", "reason": "Paid twice"})

    assert response.status_code == 302
    db.session.expire_all()
    attempt = db.session.get(OnlinePayment, attempt.id)
    assert attempt.excess_pence == 0 and attempt.flagged_at is None
    assert fees.fee_status(referral).is_cleared  # the cash still pays the fee


def test_a_refund_needs_a_reason_and_an_amount_within_what_was_paid(client, login_as, govuk_pay):
    login_as("manager")
    attempt = pay_online(create_referral(), govuk_pay)
    url = f"/payments/online/{attempt.id}/refund"
    no_reason = client.post(url, data={"amount": "200", "reason": ""})
    assert no_reason.status_code == 422
    assert "Enter why the payment is refunded" in no_reason.get_data(as_text=True)
    too_much = client.post(url, data={"amount": "250", "reason": "Cancelled"})
    assert too_much.status_code == 422 and "more than the £200.00" in too_much.get_data(as_text=True)
    assert govuk_pay.refunds == [] and db.session.scalar(select(OnlineRefund)) is None


def test_the_fee_of_a_completed_course_is_not_refunded(client, login_as, govuk_pay):
    login_as("manager")
    session, (referral,) = session_with_people(1)
    attendance_register.save_register(
        session=session, submit=True, actor=session.facilitators[0], now=DURING,
        marks=[attendance_register.MarkInput(reference=referral.reference, status=A.ATTENDED,
                                             id_checked=True)])
    attempt = pay_online(referral, govuk_pay)
    assert referral.status is ReferralStatus.COMPLETED
    response = client.post(f"/payments/online/{attempt.id}/refund", data={"amount": "200", "reason": "x"})
    assert response.status_code == 409
    assert "The course was completed with this fee" in response.get_data(as_text=True)
    assert govuk_pay.refunds == []


def test_the_provider_refusing_or_down_records_nothing(client, login_as, govuk_pay):
    login_as("manager")
    attempt = pay_online(create_referral(), govuk_pay)
    govuk_pay.down_with = 503
    response = client.post(f"/payments/online/{attempt.id}/refund", data={"amount": "200", "reason": "x"})
    assert response.status_code == 503
    assert "GOV.UK Pay did not make the refund" in response.get_data(as_text=True)
    assert db.session.scalar(select(OnlineRefund)) is None
    assert db.session.scalar(select(Payment.refunded_pence)) == 0


def test_a_refund_the_provider_answers_in_error_changes_no_fee(client, login_as, govuk_pay):
    login_as("manager")
    referral = create_referral()
    attempt = pay_online(referral, govuk_pay)
    govuk_pay.refund_status = "error"
    response = client.post(f"/payments/online/{attempt.id}/refund", data={"amount": "200", "reason": "x"})
    assert response.status_code == 302
    assert db.session.scalar(select(OnlineRefund.status)) is OnlineRefundStatus.ERROR
    db.session.expire_all()
    assert fees.fee_status(referral).is_cleared


def test_only_managers_refund(client, login_as, govuk_pay):
    attempt = pay_online(create_referral(), govuk_pay)
    login_as("facilitator")
    assert client.get(f"/payments/online/{attempt.id}/refund").status_code == 403


@pytest.mark.parametrize("amount, reason", [
    ("abc", "Cancelled"), ("9" * 40, "Cancelled"), ("-5", "Cancelled"), ("0", "Cancelled"),
    ("200", "x" * 1001), ("200", "bad\x00reason"), ("", ""),
])
def test_odd_refund_input_is_refused_on_the_form_never_a_500(client, login_as, govuk_pay, amount, reason):
    login_as("manager")
    attempt = pay_online(create_referral(), govuk_pay)
    response = client.post(f"/payments/online/{attempt.id}/refund", data={"amount": amount, "reason": reason})
    assert response.status_code in (400, 422)
    assert govuk_pay.refunds == []


@pytest.mark.parametrize(("amount", "problem"), [
    ("0", "The amount must be more than £0"),
    ("250", "more than the £200.00"),
    ("lots", "Enter an amount in pounds"),
    ("20,50", "Enter an amount in pounds"),
])
def test_a_refund_with_no_reason_and_a_bad_amount_says_both_in_one_round(client, login_as, govuk_pay,
                                                                         amount, problem):
    login_as("manager")
    attempt = pay_online(create_referral(), govuk_pay)

    response = client.post(f"/payments/online/{attempt.id}/refund",
                           data={"amount": amount, "reason": ""})

    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "<title>Error: " in page
    summary = page.split('class="govuk-error-summary"')[1].split("</ul>")[0]
    assert problem in summary and "Enter why the payment is refunded" in summary
    assert f'value="{amount}"' in page
    assert govuk_pay.refunds == []


def test_a_refund_amount_that_is_not_money_says_so_not_that_it_is_missing(client, login_as,
                                                                          govuk_pay):
    login_as("manager")
    attempt = pay_online(create_referral(), govuk_pay)

    response = client.post(f"/payments/online/{attempt.id}/refund",
                           data={"amount": "1,50", "reason": "Cancelled"})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter an amount in pounds, like 110 or 55.50" in page
    assert "Enter the amount to refund" not in page
    assert govuk_pay.refunds == []
