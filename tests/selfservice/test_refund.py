"""His own refund when the provider cancels his session: offered on his page beside booking a
new date, checked with him first, made once through GOV.UK Pay (the stand-in), shown plainly."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from diversion.audit.models import AuditEvent
from diversion.bookings import fees
from diversion.bookings import session_cancellation as cancellation
from diversion.bookings.models import Payment
from diversion.core.errors import Conflict
from diversion.core.extensions import db
from diversion.payments import govukpay
from diversion.payments import services as payments
from diversion.payments.models import OnlineRefund, OnlineRefundStatus
from diversion.referrals.models import Referral, ReferralStatus
from diversion.selfservice.services import actor_label
from tests.builders import NOW, create_booking, create_user, future_session, known_referral, pay_online
from tests.selfservice.helpers import sign_in

pytestmark = pytest.mark.usefixtures("clock")

OVERVIEW = "/book/your-course"
REFUND = "/book/refund"


def cancelled_after_paying(govuk_pay, *, rebook: bool = False, pay: bool = True):  # type: ignore[no-untyped-def]
    """He booked, paid online, and the provider cancelled his session (returned, or rebooked)."""
    known = known_referral()
    session = future_session(10)
    booking = create_booking(known.referral, session)
    future_session(12)  # another date he could book
    if pay:
        pay_online(known.referral, govuk_pay)
    choice = cancellation.AfterCancel.REBOOK if rebook else cancellation.AfterCancel.RETURN
    cancellation.cancel_session_with_bookings(session=session, reason="The venue flooded",
                                              choices={booking.id: choice},
                                              actor=create_user("manager"), now=NOW)
    db.session.commit()
    return known


def refund_rows() -> list[OnlineRefund]:
    return list(db.session.scalars(select(OnlineRefund)))


def test_his_page_offers_a_new_date_or_his_money_back(client, govuk_pay):
    known = cancelled_after_paying(govuk_pay)
    sign_in(client, known)
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "Your course date was cancelled" in page
    assert "counts towards it, so you do not pay again" in page
    assert f'href="{REFUND}"' in page and "Choose a course date" in page


def test_asking_for_his_money_back_checks_first_then_refunds_once(client, govuk_pay):
    known = cancelled_after_paying(govuk_pay)
    sign_in(client, known)
    check = client.get(REFUND)
    page = check.get_data(as_text=True)
    assert check.status_code == 200 and "Do you want your money back?" in page
    assert "£200" in page and "usually within 5 working days" in page.lower()
    assert "pay the £200 fee again" in page and "complete the course by" in page
    assert govuk_pay.refunds == []  # looking asks nothing of the provider

    done = client.post(REFUND)

    assert done.status_code == 302 and done.headers["Location"] == "/book/refund/requested"
    (sent,) = govuk_pay.refunds
    assert sent["amount"] == 20000
    (row,) = refund_rows()
    assert row.provider_refund_id == sent["refund_id"] and row.created_by_id is None
    assert row.fee_pence == 20000 and row.status is OnlineRefundStatus.SUCCESS
    db.session.expire_all()
    assert fees.fee_status(known.referral).balance_pence == 20000
    labels = set(db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_label)
        .where(AuditEvent.action.in_(("payment.online_refund", "fee.refund")))).all())
    assert labels == {("payment.online_refund", actor_label(known.referral)),
                      ("fee.refund", actor_label(known.referral))}
    outcome = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Your money is being paid back" in outcome and "£200" in outcome
    # No longer offered; a second POST (a double click, a resubmitted form) refunds nothing.
    assert f'href="{REFUND}"' not in client.get(OVERVIEW).get_data(as_text=True)
    again = client.post(REFUND)
    assert again.status_code == 302 and again.headers["Location"] == "/book/refund/requested"
    assert len(govuk_pay.refunds) == 1 and len(refund_rows()) == 1


def test_the_provider_down_records_nothing_and_says_so(client, govuk_pay):
    known = cancelled_after_paying(govuk_pay)
    sign_in(client, known)
    govuk_pay.down_with = 503
    response = client.post(REFUND)
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "govuk-error-summary" in page and "<title>Error: " in page
    assert "We could not pay your money back just now" in page
    assert refund_rows() == []
    assert db.session.scalar(select(Payment.refunded_pence)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "fee.refund")) == 0
    govuk_pay.down_with = None
    assert client.post(REFUND).status_code == 302 and len(refund_rows()) == 1


def test_a_refund_the_provider_answers_in_error_leaves_the_fee_paid(client, govuk_pay):
    known = cancelled_after_paying(govuk_pay)
    sign_in(client, known)
    govuk_pay.refund_status = "error"
    done = client.post(REFUND)
    assert done.status_code == 302
    (row,) = refund_rows()
    assert row.status is OnlineRefundStatus.ERROR and row.fee_pence == 0
    db.session.expire_all()
    assert fees.fee_status(known.referral).is_cleared
    assert "could not be paid back" in client.get(done.headers["Location"]).get_data(as_text=True)


def test_a_claim_made_meanwhile_stops_a_second_refund(app, govuk_pay):
    """Two requests at once: the second finds the fee already claimed, before any money moves."""
    known = cancelled_after_paying(govuk_pay)
    offer = payments.get_refund_offer(known.referral)
    assert offer is not None
    stale = offer.payment.refunded_pence
    fees.claim_refund_he_asked_for(payment=offer.payment, amount_pence=offer.amount_pence,
                                   actor_label="person:x", now=NOW)
    # What the other request read before the claim was made.
    set_committed_value(offer.payment, "refunded_pence", stale)
    with pytest.raises(Conflict):
        fees.claim_refund_he_asked_for(payment=offer.payment, amount_pence=offer.amount_pence,
                                       actor_label="person:x", now=NOW)
    with pytest.raises(Conflict):
        payments.refund_after_cancelled_session(
            referral=known.referral, client=govukpay.client_from_settings(),
            actor_label="person:x", now=NOW)
    assert govuk_pay.refunds == []


@pytest.mark.parametrize("case", ["rebooked", "not_cancelled", "not_paid_online", "paid_by_hand"])
def test_the_refund_is_not_offered(client, govuk_pay, case):
    if case == "rebooked":
        known = cancelled_after_paying(govuk_pay, rebook=True)
    elif case == "not_cancelled":
        known = known_referral()
        create_booking(known.referral, future_session(10))
        pay_online(known.referral, govuk_pay)
        from diversion.selfservice import services as selfservice
        selfservice.cancel_for_person(referral=known.referral, now=NOW)  # he cancelled, not us
        db.session.commit()
    elif case == "not_paid_online":
        known = cancelled_after_paying(govuk_pay, pay=False)
    else:
        known = cancelled_after_paying(govuk_pay, pay=False)
        from tests.builders import pay_fee
        pay_fee(known.referral)
        db.session.commit()
    sign_in(client, known)
    assert "Your course date was cancelled" not in client.get(OVERVIEW).get_data(as_text=True)
    response = client.post(REFUND)
    assert response.status_code == 302 and response.headers["Location"] == OVERVIEW
    assert govuk_pay.refunds == [] and refund_rows() == []


def test_a_completed_referral_is_refused(app, govuk_pay):
    known = cancelled_after_paying(govuk_pay)
    offer = payments.get_refund_offer(known.referral)
    assert offer is not None
    # Completed meanwhile (a race with the register): set straight in the database.
    db.session.execute(update(Referral).where(Referral.id == known.referral.id)
                       .values(_status=ReferralStatus.COMPLETED))
    db.session.expire(known.referral)
    with pytest.raises(Conflict):
        fees.claim_refund_he_asked_for(payment=offer.payment, amount_pence=offer.amount_pence,
                                       actor_label="person:x", now=NOW)
    assert payments.get_refund_offer(known.referral) is None
    db.session.rollback()


def test_signed_out_he_is_sent_to_sign_in(client, govuk_pay):
    cancelled_after_paying(govuk_pay)
    assert client.post(REFUND).headers["Location"] == "/book"
    assert client.get("/book/refund/requested").headers["Location"] == "/book"


def test_the_manager_sees_his_refund_with_its_reference(client, login_as, govuk_pay):
    known = cancelled_after_paying(govuk_pay)
    sign_in(client, known)
    client.post(REFUND)
    (sent,) = govuk_pay.refunds
    client.post("/book/sign-out")
    login_as("manager")
    page = client.get(f"/bookings/referral/{known.reference}").get_data(as_text=True)
    assert 'id="online-refunds"' in page and sent["refund_id"] in page
    assert "The person, after his session was cancelled" in page


def test_another_man_signed_in_cannot_take_his_refund(client, govuk_pay):
    cancelled_after_paying(govuk_pay)
    other = known_referral()
    sign_in(client, other)
    assert client.get(REFUND).headers["Location"] == OVERVIEW
    assert client.post(REFUND).headers["Location"] == OVERVIEW
    assert client.get("/book/refund/requested").headers["Location"] == OVERVIEW
    assert govuk_pay.refunds == [] and refund_rows() == []
