"""Refunds GOV.UK Pay answered `submitted` are asked about again by the `online_payments` job:
a success is recorded, an error puts the money accounting right once and is flagged."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.auth.models import Role
from diversion.bookings import fees
from diversion.bookings.models import Payment
from diversion.core.extensions import db
from diversion.core.jobs import run_job
from diversion.payments import govukpay, services
from diversion.payments.models import OnlinePayment, OnlineRefund, OnlineRefundStatus
from diversion.referrals.models import Referral
from tests.builders import NOW, create_referral, create_user, pay_fee, pay_online

LATER = NOW + dt.timedelta(minutes=10)


def refund_submitted(stand_in, *, amount: int = 20000, excess_first: bool = False) -> tuple[int, int, str]:  # type: ignore[no-untyped-def]
    """A manager's refund the provider answered `submitted`: (referral id, refund id, provider's)."""
    referral = create_referral()
    if excess_first:
        client = govukpay.client_from_settings()
        attempt, _ = services.start_online_payment(
            referral=referral, client=client, return_url_for=lambda token: "http://127.0.0.1/",
            actor_label="person:x", now=NOW)
        pay_fee(referral)  # cash meanwhile: the whole online payment is excess
        stand_in.finish(attempt.provider_payment_id, "success")
        services.settle_online_payment(attempt=attempt, client=client, actor_label="system", now=NOW)
        db.session.commit()
    else:
        attempt = pay_online(referral, stand_in)
    stand_in.refund_status = "submitted"
    row = services.refund_online_payment(
        attempt=attempt, amount_pence=amount, reason="Session cancelled",
        client=govukpay.client_from_settings(), actor=create_user(Role.MANAGER), now=NOW)
    db.session.commit()
    assert row.status is OnlineRefundStatus.SUBMITTED
    return referral.id, row.id, row.provider_refund_id


def audit_count(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == action)) or 0


def test_a_submitted_refund_that_succeeded_is_recorded(app, govuk_pay):
    referral_id, refund_id, provider_id = refund_submitted(govuk_pay)
    assert run_job("online_payments", now=LATER)["refunds_checked"] == 1  # still submitted
    govuk_pay.finish_refund(provider_id, "success")

    counts = run_job("online_payments", now=LATER + dt.timedelta(minutes=10))

    assert counts["refunds_checked"] == 1 and counts["refunds_succeeded"] == 1
    assert ("GET", f"/v1/payments/{govuk_pay.only_payment_id()}/refunds/{provider_id}") in govuk_pay.requests
    refund = db.session.get(OnlineRefund, refund_id)
    assert refund.status is OnlineRefundStatus.SUCCESS and refund.checked_at is not None
    referral = db.session.get(Referral, referral_id)
    assert fees.fee_status(referral).balance_pence == 20000  # the refund stands
    assert audit_count("payment.online_refund_success") == 1
    assert run_job("online_payments", now=LATER + dt.timedelta(minutes=20))["refunds_checked"] == 0


def test_a_refund_in_error_gives_the_fee_back_once_and_is_flagged(app, client, login_as, govuk_pay):
    referral_id, refund_id, provider_id = refund_submitted(govuk_pay)
    referral = db.session.get(Referral, referral_id)
    assert fees.fee_status(referral).balance_pence == 20000  # taken off when submitted
    govuk_pay.finish_refund(provider_id, "error")

    counts = run_job("online_payments", now=LATER)

    assert counts["refunds_failed"] == 1
    refund = db.session.get(OnlineRefund, refund_id)
    assert refund.status is OnlineRefundStatus.ERROR and refund.fee_pence == 0
    referral = db.session.get(Referral, referral_id)
    assert fees.fee_status(referral).is_cleared  # the money was not given back: still paid
    assert db.session.scalar(select(Payment.refunded_pence)) == 0
    attempt = db.session.scalar(select(OnlinePayment))
    assert attempt.flagged_at == LATER and "failed at GOV.UK Pay" in attempt.flag_reason
    assert audit_count("fee.refund_restored") == 1 and audit_count("payment.online_refund_error") == 1
    # Once: later runs ask nothing more and put nothing back again.
    again = run_job("online_payments", now=LATER + dt.timedelta(minutes=10))
    assert again["refunds_checked"] == 0
    assert db.session.scalar(select(Payment.refunded_pence)) == 0
    assert audit_count("fee.refund_restored") == 1

    login_as("manager")
    page = client.get("/payments/flagged").get_data(as_text=True)
    assert "A refund of £200 failed at GOV.UK Pay" in page
    home = client.get("/dashboard").get_data(as_text=True)
    assert "refund failed" in home


def test_a_failed_refund_of_the_excess_puts_the_excess_back(app, govuk_pay):
    _referral_id, refund_id, provider_id = refund_submitted(govuk_pay, excess_first=True)
    attempt = db.session.scalar(select(OnlinePayment))
    assert attempt.excess_pence == 0 and attempt.flagged_at is None
    govuk_pay.finish_refund(provider_id, "error")

    run_job("online_payments", now=LATER)

    attempt = db.session.scalar(select(OnlinePayment))
    assert attempt.excess_pence == 20000 and attempt.flagged_at is not None
    assert db.session.get(OnlineRefund, refund_id).fee_pence == 0


def test_the_provider_down_leaves_the_refund_submitted(app, govuk_pay):
    _referral_id, refund_id, _provider_id = refund_submitted(govuk_pay)
    govuk_pay.down_with = 503
    counts = run_job("online_payments", now=LATER)
    assert counts["refunds_unreachable"] == 1 and counts["refunds_failed"] == 0
    assert db.session.get(OnlineRefund, refund_id).status is OnlineRefundStatus.SUBMITTED
    assert db.session.scalar(select(Payment.refunded_pence)) == 20000


def test_each_run_asks_about_a_bounded_number_the_longest_unasked_first(app, govuk_pay, monkeypatch):
    monkeypatch.setattr(services, "REFUND_CHECKS_PER_RUN", 1)
    _a, first, _ = refund_submitted(govuk_pay)
    _b, second, _ = refund_submitted(govuk_pay)
    assert run_job("online_payments", now=LATER)["refunds_checked"] == 1
    assert db.session.get(OnlineRefund, first).checked_at == LATER
    assert db.session.get(OnlineRefund, second).checked_at is None
    assert run_job("online_payments", now=LATER + dt.timedelta(minutes=10))["refunds_checked"] == 1
    assert db.session.get(OnlineRefund, second).checked_at == LATER + dt.timedelta(minutes=10)


def test_an_old_refund_without_its_fee_part_is_flagged_not_restored(app, govuk_pay):
    _referral_id, refund_id, provider_id = refund_submitted(govuk_pay)
    db.session.get(OnlineRefund, refund_id).fee_pence = None  # made before migration 0019
    db.session.commit()
    govuk_pay.finish_refund(provider_id, "error")
    run_job("online_payments", now=LATER)
    assert db.session.scalar(select(Payment.refunded_pence)) == 20000
    attempt = db.session.scalar(select(OnlinePayment))
    assert "Check the fee" in attempt.flag_reason


@pytest.mark.parametrize("refunds", [1, 3])
def test_the_checks_load_in_a_fixed_number_of_queries(app, govuk_pay, refunds):
    from sqlalchemy import event

    for _ in range(refunds):
        refund_submitted(govuk_pay)
    selects: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        services.recheck_submitted_refunds(client=govukpay.client_from_settings(), now=LATER)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    db.session.rollback()
    assert len(selects) == 1
