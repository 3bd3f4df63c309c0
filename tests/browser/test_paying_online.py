"""The referred man pays his fee on a phone: his page, the (stand-in) GOV.UK Pay page, and back."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll
from tests.builders import known_referral
from tests.payments.servers import API_KEY, GovukPayStandIn, running_govuk_pay_stand_in

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-pay")


@pytest.fixture
def paying_on(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[GovukPayStandIn]:
    """The live server takes payments through the stand-in and sends the man back to itself."""
    with running_govuk_pay_stand_in() as stand_in:
        config = live_server.app.config
        monkeypatch.setitem(config, "SETTINGS", dataclasses.replace(
            config["SETTINGS"], payment_backend="govuk_pay", govuk_pay_api_key=API_KEY,
            govuk_pay_base_url=stand_in.base_url))
        monkeypatch.setitem(config, "DIVERSION_BASE_URL", live_server.url)
        yield stand_in


def sign_in_person(page: Page, live_server: LiveServer) -> str:
    with live_server.app.app_context():
        known = known_referral(now=now_utc())
        reference, pin, dob = known.reference, known.pin, known.date_of_birth
        db.session.remove()
    page.goto(live_server("/book"))
    page.get_by_label("Reference").fill(reference)
    page.get_by_label("PIN").fill(pin)
    page.get_by_label("Day").fill(str(dob.day))
    page.get_by_label("Month").fill(str(dob.month))
    page.get_by_label("Year").fill(str(dob.year))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(live_server("/book/your-course"))
    return reference


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for width in (375, 768, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    if size:
        page.set_viewport_size(size)


def test_he_pays_his_fee_on_a_phone_and_sees_it_received(
        phone: Page, live_server: LiveServer, paying_on: GovukPayStandIn) -> None:
    sign_in_person(phone, live_server)
    pay = phone.get_by_role("button", name="Pay the course fee (£200)")
    expect(pay).to_be_visible()
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    shoot(phone, "1-overview")

    pay.click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Enter card details")
    assert paying_on.created[0]["amount"] == 20000
    shoot(phone, "2-provider")
    phone.get_by_role("button", name="Confirm payment").click()

    expect(phone.locator(".govuk-panel__title")).to_have_text("Payment received: £200")
    expect(phone.get_by_text("You do not owe anything for the course")).to_be_visible()
    assert phone.url.startswith(live_server("/book/payments/"))
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    shoot(phone, "3-received")

    phone.get_by_role("link", name="Back to your course").click()
    expect(phone.get_by_role("button", name="Pay the course fee (£200)")).to_have_count(0)


def test_he_cancels_on_the_provider_page_and_can_try_again(
        phone: Page, live_server: LiveServer, paying_on: GovukPayStandIn) -> None:
    sign_in_person(phone, live_server)
    phone.get_by_role("button", name="Pay the course fee (£200)").click()
    phone.get_by_role("button", name="Cancel payment").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Your payment was not made")
    expect(phone.get_by_text("Nothing has been taken from your account")).to_be_visible()
    assert_accessible(phone)
    shoot(phone, "4-not-made")
    phone.get_by_role("button", name="Pay the course fee (£200)").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Enter card details")


def test_the_provider_down_says_so_plainly(
        phone: Page, live_server: LiveServer, paying_on: GovukPayStandIn) -> None:
    sign_in_person(phone, live_server)
    paying_on.down_with = 503
    phone.get_by_role("button", name="Pay the course fee (£200)").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text(
        "The payment service is not available at the moment")
    assert_accessible(phone)
    shoot(phone, "5-unavailable")
