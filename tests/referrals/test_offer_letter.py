"""The offer letter PDF, read back as text."""

import dataclasses
import datetime as dt
import io
import re

import pytest
from pypdf import PdfReader

from diversion.core.extensions import db
from tests.builders import create_force, create_programme, create_referral


@pytest.fixture
def officer(app, login_as):
    create_programme(fee_pence=11000)
    return login_as("police", force=create_force("WYP", "West Yorkshire Police"))


def pdf_pages(response) -> tuple[PdfReader, list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    return reader, [" ".join((page.extract_text() or "").split()) for page in reader.pages]


def test_the_letter_printed_after_issue_carries_the_pin_deadlines_fee_and_marking(
        client, officer):
    referral = create_referral(actor=officer)
    db.session.commit()
    issued = client.post(f"/referrals/{referral.reference}/pin")  # a PIN, just issued
    shown = client.get(issued.location).get_data(as_text=True)
    pin = re.search(r"<strong data-pin>(\d{6})</strong>", shown).group(1)

    reader, pages = pdf_pages(client.get(f"/referrals/{referral.reference}/letter.pdf"))
    text = " ".join(pages)
    assert referral.reference in text
    assert pin in text
    assert f"Book your place by {referral.booking_deadline:%-d %B %Y}" in text
    assert f"Complete the course by {referral.completion_deadline:%-d %B %Y}" in text
    assert "£110" in text
    assert "/book" in text
    assert "If you do not complete the course" in text
    # The police are told when the course is not completed by its deadline (the deadlines job),
    # not when the booking date passes: the letter must not promise what the service does not do.
    assert "do not book by" not in " ".join(text.split())
    assert (f"If you do not complete the course by {referral.completion_deadline:%-d %B %Y}, "
            "the police will be told") in " ".join(text.split())
    assert all(page.count("OFFICIAL-SENSITIVE") >= 2 for page in pages)  # header and footer
    # Discreet: neither the title nor the letter names the offence or the programme.
    assert reader.metadata.title == "Your offer of a course"
    assert not re.search(r"kerb|solicit|sexual|prostitut", text, re.IGNORECASE)


def test_a_reprint_leaves_the_pin_out_and_says_how_to_get_one(client, officer):
    referral = create_referral(actor=officer)
    db.session.commit()
    issued = client.post(f"/referrals/{referral.reference}/pin")
    pin = re.search(r"<strong data-pin>(\d{6})</strong>",
                    client.get(issued.location).get_data(as_text=True)).group(1)
    first = " ".join(pdf_pages(client.get(f"/referrals/{referral.reference}/letter.pdf"))[1])
    assert pin in first
    _, pages = pdf_pages(client.get(f"/referrals/{referral.reference}/letter.pdf"))
    reprint = " ".join(pages)
    assert pin not in reprint
    assert "Use the PIN you were given, or ask for a new one" in reprint
    assert referral.reference in reprint


def test_the_letter_names_the_provider_the_referring_force_the_phone_hours_and_privacy(
        app, client, officer, monkeypatch):
    monkeypatch.setitem(app.config, "DIVERSION_PROVIDER_NAME", "Change Programmes Ltd")
    monkeypatch.setitem(app.config, "DIVERSION_BOOKING_HOURS", "Monday to Saturday, 8am to 6pm")
    referral = create_referral(actor=officer)
    db.session.commit()
    _, pages = pdf_pages(client.get(f"/referrals/{referral.reference}/letter.pdf"))
    text = " ".join(pages)
    assert "West Yorkshire Police has offered you a place" in text
    assert "run by Change Programmes Ltd on behalf of West Yorkshire Police" in text
    assert "Referred by West Yorkshire Police" in text and "WYP" not in text.replace(
        referral.reference, "")
    assert "(Monday to Saturday, 8am to 6pm)" in text
    assert "/privacy" in text


def test_the_letter_says_how_to_pay_online_when_online_payment_is_on(app, client, officer,
                                                                      monkeypatch):
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], payment_backend="govuk_pay"))
    referral = create_referral(actor=officer)
    db.session.commit()
    text = " ".join(pdf_pages(client.get(f"/referrals/{referral.reference}/letter.pdf"))[1])
    assert "Pay online by debit or credit card when you book" in text
    assert "You will be told how to pay" not in text
    assert "the course only counts once the fee is paid" in text


def test_the_letter_gives_the_phone_number_to_pay_when_online_payment_is_off(app, client, officer,
                                                                             monkeypatch):
    monkeypatch.setitem(app.config, "DIVERSION_BOOKING_PHONE", "0300 123 4567")
    referral = create_referral(actor=officer)
    db.session.commit()
    text = " ".join(pdf_pages(client.get(f"/referrals/{referral.reference}/letter.pdf"))[1])
    assert "To pay by debit or credit card, phone 0300 123 4567" in text
    assert "Pay online" not in text and "You will be told how to pay" not in text



def test_the_longest_letter_still_fits_one_sheet_of_a4(app, client, login_as, monkeypatch):
    # It is handed over at the station, where a second sheet gets lost. The longest likely
    # letter: a long name and force, four long address lines, the PIN just issued, and online
    # payment on (its sentence is the longer).
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], payment_backend="govuk_pay"))
    create_programme(fee_pence=11000)
    officer = login_as("police", force=create_force(
        "MPS", "Metropolitan Police Service and City of London Police"))
    referral = create_referral(
        actor=officer, family_name="Montgomery-Fitzwilliam-Ashworth",
        given_names="Alexander Christopher Benedict", preferred_contact="post", email="",
        address_line_1="Flat 14, Kensington Court Mansions, 123 Longbridge Road",
        address_line_2="Upper Norwood and Crystal Palace Neighbourhood",
        town="Newcastle-under-Lyme, Staffordshire", postcode="ST5 1AB")
    db.session.commit()
    issued = client.post(f"/referrals/{referral.reference}/pin")
    pin = re.search(r"<strong data-pin>(\d{6})</strong>",
                    client.get(issued.location).get_data(as_text=True)).group(1)
    reader, pages = pdf_pages(client.get(f"/referrals/{referral.reference}/letter.pdf"))
    assert pin in pages[0] and "Upper Norwood and Crystal Palace" in pages[0]
    assert "Pay online by debit or credit card" in pages[0]
    assert len(reader.pages) == 1, pages[1:]


def test_the_letter_never_asks_him_to_book_after_his_completion_date(client, officer):
    # The caution's conditions give a completion date before referral date + 28 days.
    referral = create_referral(actor=officer)
    referral.completion_deadline = referral.booking_deadline - dt.timedelta(days=7)
    db.session.commit()
    client.post(f"/referrals/{referral.reference}/pin")
    _, pages = pdf_pages(client.get(f"/referrals/{referral.reference}/letter.pdf"))
    text = " ".join(pages)
    sooner = f"{referral.completion_deadline:%-d %B %Y}"
    assert f"Book your place by {sooner}" in text
    assert f"{referral.booking_deadline:%-d %B %Y}" not in text


def test_an_ended_referral_has_no_offer_letter_to_print_and_says_so(client, officer):
    referral = create_referral(actor=officer)
    db.session.commit()
    client.post(f"/referrals/{referral.reference}/withdraw", data={"reason": "Charged instead"})
    response = client.get(f"/referrals/{referral.reference}/letter.pdf")
    assert response.status_code == 302
    assert response.location.endswith(f"/referrals/{referral.reference}")
    page = client.get(response.location).get_data(as_text=True)
    assert "This referral has ended, so there is no offer letter to print" in page
