"""The man pays his fee online from his own pages, against the GOV.UK Pay stand-in."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.bookings import fees
from diversion.bookings.models import Payment, PaymentMethod
from diversion.core.extensions import db
from diversion.payments import govukpay
from diversion.payments.models import OnlinePayment, OnlinePaymentStatus
from tests.builders import DEFAULT_PASSWORD, create_user, known_referral, pay_fee
from tests.outbox.servers import free_port
from tests.selfservice.helpers import details, sign_in

pytestmark = pytest.mark.usefixtures("clock")

OVERVIEW = "/book/your-course"
OFFENCE_WORDS = ("kerb", "crawl", "solicit", "sex", "offence", "prostitut", "s51a", "caution")


@pytest.fixture
def signed_in(client):  # type: ignore[no-untyped-def]
    known = known_referral()
    assert sign_in(client, known).status_code == 302
    return known


def start_paying(client):  # type: ignore[no-untyped-def]
    response = client.post("/book/pay")
    assert response.status_code == 303
    return response.headers["Location"]


def return_address(stand_in) -> str:  # type: ignore[no-untyped-def]
    url = stand_in.payments[stand_in.only_payment_id()]["return_url"]
    return url.removeprefix("http://127.0.0.1:5000")


def payments_recorded() -> list[Payment]:
    return list(db.session.scalars(select(Payment)))


def test_the_overview_offers_to_pay_the_balance_when_online_payment_is_on(client, signed_in, govuk_pay):
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "Pay the course fee (£200)" in page
    assert 'action="/book/pay"' in page and "data-pay-by-phone" not in page


def test_with_the_setting_none_there_is_no_pay_button_and_paying_goes_nowhere(client, signed_in):
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "Still to pay" in page and "Pay the course fee" not in page
    # He is told how to pay instead: by phoning the team with his reference.
    assert "data-pay-by-phone" in page and "To pay the £200 you owe" in page
    assert "0113 496 0000" in page.split("data-pay-by-phone")[1].split("</p>")[0]
    response = client.post("/book/pay")
    assert response.status_code == 302 and response.headers["Location"] == OVERVIEW
    assert db.session.scalar(select(func.count()).select_from(OnlinePayment)) == 0


def test_nothing_owed_means_no_pay_button(client, signed_in, govuk_pay):
    pay_fee(signed_in.referral)
    db.session.commit()
    assert "Pay the course fee" not in client.get(OVERVIEW).get_data(as_text=True)
    assert client.post("/book/pay").status_code == 302
    assert govuk_pay.created == []


def test_paying_sends_the_balance_his_reference_and_a_discreet_description(client, signed_in, govuk_pay):
    next_url = start_paying(client)
    payment_id = govuk_pay.only_payment_id()
    assert next_url == f"{govuk_pay.base_url}/secure/{payment_id}"
    (sent,) = govuk_pay.created
    attempt = db.session.scalar(select(OnlinePayment))
    assert sent == {"amount": 20000, "reference": signed_in.reference, "description": "Course fee",
                    "return_url": f"http://127.0.0.1:5000/book/payments/{attempt.token}/return",
                    "language": "en"}
    assert not any(word in sent["description"].lower() for word in OFFENCE_WORDS)
    assert attempt.provider_payment_id == payment_id and attempt.amount_pence == 20000
    assert attempt.status is OnlinePaymentStatus.CREATED
    assert payments_recorded() == []


def test_the_return_address_comes_from_the_base_url_not_the_request_host(client, govuk_pay):
    known = known_referral()
    assert client.post("/book", data=details(known), headers={"Host": "evil.example"}).status_code == 302
    assert client.post("/book/pay", headers={"Host": "evil.example"}).status_code == 303
    assert govuk_pay.created[0]["return_url"].startswith("http://127.0.0.1:5000/book/payments/")


def test_a_successful_payment_is_recorded_once_as_an_online_card_payment(client, signed_in, govuk_pay):
    start_paying(client)
    govuk_pay.finish(govuk_pay.only_payment_id(), "success")

    page = client.get(return_address(govuk_pay)).get_data(as_text=True)

    assert "Payment received: £200" in page and "You do not owe anything for the course" in page
    (payment,) = payments_recorded()
    assert payment.method is PaymentMethod.ONLINE_CARD
    assert payment.reference == govuk_pay.only_payment_id() and payment.amount_pence == 20000
    assert payment.recorded_by_id is None
    db.session.expire_all()
    assert fees.fee_status(signed_in.referral).is_cleared
    attempt = db.session.scalar(select(OnlinePayment))
    assert attempt.status is OnlinePaymentStatus.SUCCESS and attempt.applied_payment_id == payment.id
    actions = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.actor_label == f"person:{signed_in.reference}").order_by(AuditEvent.id)))
    assert actions[-4:] == ["payment.online_start", "fee.payment", "payment.online_success",
                            "selfservice.view_payment"]
    # The same return again (a reload, a second tab) applies nothing more.
    again = client.get(return_address(govuk_pay)).get_data(as_text=True)
    assert "Payment received: £200" in again
    assert len(payments_recorded()) == 1
    assert "Pay the course fee" not in client.get(OVERVIEW).get_data(as_text=True)


@pytest.mark.parametrize("status, words", [
    ("failed", "The payment did not go through."),
    ("cancelled", "The payment was cancelled."),
    ("error", "The payment did not go through."),
])
def test_a_payment_that_did_not_go_through_takes_nothing_and_offers_to_try_again(
        client, signed_in, govuk_pay, status, words):
    start_paying(client)
    govuk_pay.finish(govuk_pay.only_payment_id(), status)

    page = client.get(return_address(govuk_pay)).get_data(as_text=True)

    assert "Your payment was not made" in page and words in page
    assert "Nothing has been taken from your account" in page
    assert "Pay the course fee (£200)" in page
    assert payments_recorded() == []
    assert db.session.scalar(select(OnlinePayment.status)) is OnlinePaymentStatus(status)
    # Trying again starts a second payment.
    start_paying(client)
    assert len(govuk_pay.created) == 2


def test_a_return_before_the_provider_has_finished_says_it_is_being_processed(client, signed_in, govuk_pay):
    start_paying(client)
    govuk_pay.finish(govuk_pay.only_payment_id(), "submitted")

    page = client.get(return_address(govuk_pay)).get_data(as_text=True)

    assert "Your payment is being processed" in page and "Do not pay again yet" in page
    assert payments_recorded() == []
    assert db.session.scalar(select(OnlinePayment.status)) is OnlinePaymentStatus.SUBMITTED


def test_nothing_in_the_return_request_can_make_a_payment_succeed(client, signed_in, govuk_pay):
    start_paying(client)
    page = client.get(return_address(govuk_pay) + "?status=success&state=success").get_data(as_text=True)
    assert "Payment received" not in page and payments_recorded() == []


def test_the_provider_down_gives_a_clear_message_and_records_nothing(client, signed_in, govuk_pay):
    govuk_pay.down_with = 503
    response = client.post("/book/pay")
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "The payment service is not available at the moment" in page
    assert "Nothing has been taken from your account" in page and "0113 496 0000" in page
    assert db.session.scalar(select(func.count()).select_from(OnlinePayment)) == 0
    assert payments_recorded() == []


def test_the_provider_unreachable_gives_the_same_message(client, signed_in, govuk_pay, app, monkeypatch):
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], govuk_pay_base_url=f"http://127.0.0.1:{free_port()}"))
    response = client.post("/book/pay")
    assert response.status_code == 503
    assert db.session.scalar(select(func.count()).select_from(OnlinePayment)) == 0


def test_the_provider_down_on_return_says_it_is_being_processed_and_changes_nothing(
        client, signed_in, govuk_pay):
    start_paying(client)
    govuk_pay.finish(govuk_pay.only_payment_id(), "success")
    govuk_pay.down_with = 500
    page = client.get(return_address(govuk_pay)).get_data(as_text=True)
    assert "Your payment is being processed" in page
    assert payments_recorded() == []


def test_the_return_address_is_refused_to_another_man_and_to_nobody(client, app, signed_in, govuk_pay):
    start_paying(client)
    govuk_pay.finish(govuk_pay.only_payment_id(), "success")
    address = return_address(govuk_pay)

    other_client = app.test_client()
    other = known_referral(family_name="Jones", given_names="Peter", crime_reference="13/9999/26")
    assert sign_in(other_client, other).status_code == 302
    assert other_client.get(address).status_code == 404

    signed_out = app.test_client()
    response = signed_out.get(address)
    assert response.status_code == 302 and response.headers["Location"] == "/book"
    assert payments_recorded() == []


def test_a_payment_arriving_after_the_fee_was_paid_by_hand_is_flagged_for_a_manager(
        client, signed_in, govuk_pay):
    start_paying(client)
    pay_fee(signed_in.referral)  # a manager takes cash meanwhile
    db.session.commit()
    govuk_pay.finish(govuk_pay.only_payment_id(), "success")

    page = client.get(return_address(govuk_pay)).get_data(as_text=True)

    assert "Payment received: £200" in page and "£200 of it was not needed" in page
    assert [p.method for p in payments_recorded()] == [PaymentMethod.CARD]
    attempt = db.session.scalar(select(OnlinePayment))
    assert attempt.status is OnlinePaymentStatus.SUCCESS
    assert attempt.applied_payment_id is None and attempt.excess_pence == 20000
    assert attempt.flagged_at is not None


def test_managers_see_and_settle_flagged_payments(client, app, signed_in, govuk_pay):
    start_paying(client)
    pay_fee(signed_in.referral)
    db.session.commit()
    govuk_pay.finish(govuk_pay.only_payment_id(), "success")
    client.get(return_address(govuk_pay))

    manager_client = app.test_client()
    manager = create_user("manager", email="boss@diversion.example")
    db.session.commit()
    manager_client.post("/sign-in", data={"email": manager.email, "password": DEFAULT_PASSWORD})
    home = manager_client.get("/dashboard").get_data(as_text=True)
    assert "Paid more than was owed" in home
    page = manager_client.get("/payments/flagged").get_data(as_text=True)
    assert signed_in.reference in page and "£200" in page
    attempt = db.session.scalar(select(OnlinePayment))
    fee_page = manager_client.get(f"/bookings/referral/{signed_in.reference}").get_data(as_text=True)
    assert "Online payments (GOV.UK Pay)" in fee_page and attempt.provider_payment_id in fee_page
    assert "Success: £200 more than was owed" in fee_page
    # "Mark as settled" asks first; asking changes nothing.
    assert f'href="/payments/online/{attempt.id}/settled">Mark as settled' in page
    check = manager_client.get(f"/payments/online/{attempt.id}/settled").get_data(as_text=True)
    assert "Mark this payment as settled?" in check and signed_in.reference in check
    assert "£200" in check and "it cannot be put back" in check
    db.session.expire_all()
    assert db.session.scalar(select(OnlinePayment.flagged_at)) is not None
    response = manager_client.post(f"/payments/online/{attempt.id}/settled")
    assert response.status_code == 302
    # Once settled, there is nothing left to ask about.
    assert manager_client.get(f"/payments/online/{attempt.id}/settled").status_code == 404
    db.session.expire_all()
    assert db.session.scalar(select(OnlinePayment.flagged_at)) is None
    assert "Nothing to settle" in manager_client.get("/payments/flagged").get_data(as_text=True)


def test_the_pages_let_the_pay_form_lead_only_to_the_provider(client, signed_in, govuk_pay):
    policy = client.get(OVERVIEW).headers["Content-Security-Policy"]
    assert f"form-action 'self' https://card.payments.service.gov.uk {govuk_pay.base_url};" in policy


def test_without_online_payment_the_pages_keep_the_usual_policy(client, signed_in):
    assert "form-action 'self';" in client.get(OVERVIEW).headers["Content-Security-Policy"]


def test_a_paying_page_somewhere_else_is_refused_and_nothing_recorded(client, signed_in, govuk_pay,
                                                                      monkeypatch):
    monkeypatch.setattr(govukpay, "CARD_PAGES_ORIGIN", "https://card.example")
    monkeypatch.setattr(govukpay.GovukPayClient, "paying_page_origins", ("https://card.example",))
    response = client.post("/book/pay")
    assert response.status_code == 503
    assert db.session.scalar(select(func.count()).select_from(OnlinePayment)) == 0


def test_when_paying_fails_or_the_provider_is_down_the_number_to_call_is_a_phone_link(
        client, signed_in, govuk_pay):
    start_paying(client)
    govuk_pay.finish(govuk_pay.only_payment_id(), "failed")
    not_made = client.get(return_address(govuk_pay)).get_data(as_text=True)
    govuk_pay.down_with = 503
    down = client.post("/book/pay").get_data(as_text=True)
    for page in (not_made, down):
        assert 'call the programme team on <a class="govuk-link" href="tel:01134960000">' \
               '0113 496 0000</a>' in page
