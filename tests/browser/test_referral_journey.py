"""An officer refers a man in a real browser, sees him eligible, gets the reference and PIN, and
opens the offer letter. Every page visited passes axe (WCAG 2.2 AA)."""

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from diversion.core.timeutils import london_today, now_utc
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser


def _fill_date(page: Page, group: str, day: dt.date) -> None:
    """Type a date into the GOV.UK date boxes of the group with this name."""
    boxes = page.get_by_role("group", name=group)
    for label, value in (("Day", day.day), ("Month", day.month), ("Year", day.year)):
        boxes.get_by_label(label).fill(str(value))


def test_an_officer_refers_a_man_sees_him_eligible_and_opens_the_offer_letter(
        page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, "officer@wyp.police.example")
    page.get_by_role("link", name="Refer someone").first.click()
    expect(page.get_by_role("heading", name="Refer someone to the course")).to_be_visible()
    assert_accessible(page)

    offence = london_today(now_utc()) - dt.timedelta(days=2)
    page.get_by_label("Family name").fill("Journeyman")
    page.get_by_label("Given names").fill("Oliver")
    _fill_date(page, "Date of birth", dt.date(1979, 3, 14))
    page.get_by_label("Email", exact=True).check()
    page.get_by_label("Email address (optional)").fill("oliver.journeyman@example.com")
    page.get_by_label("They need step-free access to the venue").check()
    page.get_by_label("Soliciting (Sexual Offences Act 2003, section 51A)").check()
    _fill_date(page, "Date of the offence", offence)
    page.get_by_label("Time of the offence (optional)").fill("22:15")
    page.get_by_label("Crime reference").fill("13/7777/26")
    page.get_by_label("Conditional caution").check()
    page.get_by_role("group", name="Did the person admit the offence?").get_by_label("Yes").check()
    page.get_by_role("group", name="Did the person consent to the diversion?").get_by_label(
        "Yes").check()
    page.get_by_label("I have checked: no relevant previous convictions").check()
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Check your answers before making the referral")) \
        .to_be_visible()
    expect(page.get_by_text("The person is eligible for the course")).to_be_visible()
    expect(page.locator("[data-rule]")).to_have_count(7)
    assert "Journeyman" not in page.url
    assert_accessible(page)

    page.get_by_role("button", name="Make the referral").click()
    expect(page.get_by_role("heading", name="Referral made")).to_be_visible()
    reference = page.locator("[data-reference]").inner_text()
    pin = page.locator("[data-pin]").inner_text()
    assert re.fullmatch(r"[ACDEFHJKMNPRTUVWXY34679]{8}", reference)
    assert re.fullmatch(r"\d{6}", pin)
    assert_accessible(page)

    letter = page.get_by_role("link", name="Print the offer letter (PDF)")
    response = page.request.get(live_server(letter.get_attribute("href") or ""))
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")

    page.get_by_role("link", name="View the referral").click()
    expect(page.get_by_role("heading", name=f"Referral {reference}")).to_be_visible()
    expect(page.get_by_text("Referral received")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Referrals", exact=True).click()
    row = page.locator("[data-referrals] tbody tr").filter(has_text=reference)
    expect(row.get_by_role("link", name="JOURNEYMAN, Oliver")).to_be_visible()
    assert_accessible(page)


def test_on_his_phone_an_officer_starts_from_the_dashboard_and_is_told_what_a_refusal_means(
        phone: Page, live_server: LiveServer) -> None:
    sign_in(phone, live_server, "officer@wyp.police.example")
    phone.locator("main").get_by_role("button", name="Refer someone").click()
    expect(phone.get_by_role("heading", name="Refer someone to the course")).to_be_visible()
    offence = london_today(now_utc()) - dt.timedelta(days=1)
    phone.get_by_label("Family name").fill("Declinerson")
    phone.get_by_label("Given names").fill("Paul")
    _fill_date(phone, "Date of birth", dt.date(1984, 5, 2))
    _fill_date(phone, "Date of the offence", offence)
    phone.get_by_role("group", name="Did the person consent to the diversion?").get_by_label(
        "No").check()
    phone.get_by_role("button", name="Continue").click()

    summary = phone.locator(".govuk-error-summary")
    expect(summary).to_contain_text("the person cannot be referred to the course and no "
                                    "referral is made: deal with the offence another way")
    expect(summary.get_by_role("link", name=re.compile("did not consent"))).to_be_visible()
    expect(phone.get_by_label("Family name")).to_have_value("Declinerson")
    assert not has_horizontal_scroll(phone)
    assert_accessible(phone)
