"""The `online_payments` job, and a success applied once whoever gets there first."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from diversion.attendance import register as attendance_register
from diversion.attendance.rules import AttendanceStatus as A
from diversion.bookings.models import Payment, PaymentMethod
from diversion.core.extensions import db
from diversion.core.jobs import jobs_of, run_job
from diversion.payments import govukpay, services
from diversion.payments.models import OnlinePayment, OnlinePaymentStatus
from diversion.referrals.models import Referral, ReferralStatus
from diversion.selfservice.services import actor_label
from tests.builders import DURING, NOW, create_referral, session_with_people


def start(referral, stand_in, *, now=NOW) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Start a payment; its id and the provider's payment id (run_job ends the database session)."""
    attempt, _next_url = services.start_online_payment(
        referral=referral, client=govukpay.client_from_settings(),
        return_url_for=lambda token: f"http://127.0.0.1:5000/book/payments/{token}/return",
        actor_label=actor_label(referral), now=now)
    db.session.commit()
    return attempt.id, attempt.provider_payment_id


def online_payments_recorded() -> list[Payment]:
    return list(db.session.scalars(select(Payment).where(Payment.method == PaymentMethod.ONLINE_CARD)))


def test_the_job_is_registered(app):
    assert "online_payments" in jobs_of(app)


def test_with_online_payment_off_the_job_asks_nobody(app):
    create_referral()
    assert run_job("online_payments", now=NOW)["checked"] == 0


def test_a_late_success_after_an_unfinished_return_is_applied_by_the_job(app, govuk_pay):
    referral = create_referral()
    _id, provider_id = start(referral, govuk_pay)
    govuk_pay.finish(provider_id, "submitted")
    first = run_job("online_payments", now=NOW + dt.timedelta(minutes=5))
    assert first == {"checked": 1, "succeeded": 0, "failed": 0, "abandoned": 0, "unfinished": 1,
                     "unreachable": 0, "refunds_checked": 0, "refunds_succeeded": 0,
                     "refunds_failed": 0, "refunds_unreachable": 0}

    govuk_pay.finish(provider_id, "success")
    second = run_job("online_payments", now=NOW + dt.timedelta(minutes=15))

    assert second["succeeded"] == 1
    (payment,) = online_payments_recorded()
    assert payment.amount_pence == 20000 and payment.reference == provider_id
    # Nothing left to ask about: a third run checks nothing and applies nothing.
    assert run_job("online_payments", now=NOW + dt.timedelta(minutes=25))["checked"] == 0
    assert len(online_payments_recorded()) == 1


def test_failures_are_marked_and_old_unfinished_attempts_abandoned(app, govuk_pay):
    failed, provider_id = start(create_referral(), govuk_pay)
    govuk_pay.finish(provider_id, "failed")
    left, _ = start(create_referral(), govuk_pay)
    recent, _ = start(create_referral(), govuk_pay, now=NOW + dt.timedelta(minutes=60))

    counts = run_job("online_payments", now=NOW + dt.timedelta(minutes=91))

    assert counts == {"checked": 3, "succeeded": 0, "failed": 1, "abandoned": 1, "unfinished": 1,
                      "unreachable": 0, "refunds_checked": 0, "refunds_succeeded": 0,
                      "refunds_failed": 0, "refunds_unreachable": 0}
    statuses = dict(db.session.execute(select(OnlinePayment.id, OnlinePayment.status)).all())
    assert statuses == {failed: OnlinePaymentStatus.FAILED, left: OnlinePaymentStatus.ABANDONED,
                        recent: OnlinePaymentStatus.CREATED}
    assert online_payments_recorded() == []


def test_attempts_older_than_the_window_are_not_asked_about(app, govuk_pay):
    start(create_referral(), govuk_pay)
    assert run_job("online_payments", now=NOW + dt.timedelta(days=4))["checked"] == 0


def test_the_provider_down_leaves_attempts_to_the_next_run(app, govuk_pay):
    _id, provider_id = start(create_referral(), govuk_pay)
    govuk_pay.finish(provider_id, "success")
    govuk_pay.down_with = 503
    assert run_job("online_payments", now=NOW + dt.timedelta(minutes=5))["unreachable"] == 1
    assert online_payments_recorded() == []
    govuk_pay.down_with = None
    assert run_job("online_payments", now=NOW + dt.timedelta(minutes=15))["succeeded"] == 1


def test_the_return_and_the_job_racing_apply_the_payment_once(app, govuk_pay):
    referral = create_referral()
    attempt_id, provider_id = start(referral, govuk_pay)
    govuk_pay.finish(provider_id, "success")
    attempt = db.session.get(OnlinePayment, attempt_id)
    assert attempt is not None
    answer = govuk_pay_answer(attempt)
    # Both read the attempt while it was unfinished; both then apply the provider's answer.
    services.apply_provider_answer(attempt=attempt, answer=answer, actor_label="person:x", now=NOW)
    services.apply_provider_answer(attempt=attempt, answer=answer, actor_label="system", now=NOW)
    db.session.commit()
    assert len(online_payments_recorded()) == 1


def test_the_database_refuses_a_second_payment_record_for_one_provider_payment(app):
    import pytest
    from sqlalchemy.exc import IntegrityError

    referral = create_referral()
    for _ in range(2):
        db.session.add(Payment(referral_id=referral.id, amount_pence=100,
                               method=PaymentMethod.ONLINE_CARD, reference="abc", recorded_at=NOW))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_an_attendee_whose_fee_was_outstanding_completes_when_his_online_payment_succeeds(
        app, govuk_pay):
    session, (referral,) = session_with_people(1)
    attendance_register.save_register(
        session=session, submit=True, actor=session.facilitators[0], now=DURING,
        marks=[attendance_register.MarkInput(reference=referral.reference, status=A.ATTENDED,
                                             id_checked=True)])
    assert referral.status is ReferralStatus.BOOKED
    referral_id = referral.id
    _id, provider_id = start(referral, govuk_pay, now=DURING)
    govuk_pay.finish(provider_id, "success")

    run_job("online_payments", now=DURING + dt.timedelta(minutes=10))

    assert db.session.get(Referral, referral_id).status is ReferralStatus.COMPLETED


def govuk_pay_answer(attempt: OnlinePayment) -> govukpay.ProviderPayment:
    client = govukpay.client_from_settings()
    assert client is not None
    return client.get_payment(attempt.provider_payment_id)
