"""The offer letter: a PDF the officer prints at the station and hands to the person.

It names who runs the course (DIVERSION_PROVIDER_NAME) and the referring force (by name). It
is discreet (its title names no offence), carries OFFICIAL-SENSITIVE on every page (from
reports/pdf_base.html) and shows the PIN only when given one: right after the PIN was issued.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app

from diversion.core.links import external_url
from diversion.core.pdf import render_pdf
from diversion.core.web import service_contact
from diversion.referrals.models import Referral

LETTER_TITLE = "Your offer of a course"
DEFAULT_BOOKING_PHONE = "0113 496 0000"


def booking_phone() -> str:
    return str(current_app.config.get("DIVERSION_BOOKING_PHONE") or DEFAULT_BOOKING_PHONE)


def booking_url() -> str:
    """Where the person books: the self-service page, /book on this site."""
    return external_url("selfservice.start")


def render_offer_letter(referral: Referral, *, pin: str | None, now: dt.datetime) -> bytes:
    """The offer letter's PDF bytes. `pin` is None for a reprint, which cannot show it."""
    return render_pdf(
        "referrals/offer_letter_pdf.html",
        title=LETTER_TITLE,
        referral=referral,
        person=referral.person,
        programme=referral.programme,
        pin=pin,
        booking_url=booking_url(),
        booking_phone=booking_phone(),
        provider=service_contact()["provider"],
        booking_hours=service_contact()["hours"],
        force_name=referral.force.name,
        privacy_url=external_url("home.privacy"),
        pays_online=current_app.config["SETTINGS"].payment_backend == "govuk_pay",
        generated_at=now,
    )
