"""The completion certificate: a one-page PDF that says who completed which course, and when.

It is discreet: it names the programme by a neutral title and never the offence, because the
person may have to show it to others.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from diversion.attendance.services import NoCertificate, certificate_facts
from diversion.core.extensions import db
from diversion.core.pdf import render_pdf
from diversion.outbox.channels import Attachment
from diversion.referrals.models import Referral


def render_certificate(referral: Referral, *, now: dt.datetime) -> bytes:
    """The certificate's PDF bytes; NoCertificate (404) unless the referral completed."""
    facts = certificate_facts(referral)
    return render_pdf("attendance/certificate.html", title="Certificate of completion",
                      facts=facts, generated_at=now)


def certificate_filename(referral: Referral) -> str:
    return f"certificate-{referral.reference}.pdf"


def certificate_attachment(spec: dict[str, Any], now: dt.datetime) -> Attachment | None:
    """The certificate a completion email names (`{"kind": "completion_certificate",
    "reference": …}`), made when the email is sent; None when the referral is gone or has no
    certificate (the email then tells the man how to ask for one)."""
    referral = db.session.scalar(select(Referral).where(Referral.reference == spec["reference"]))
    if referral is None:
        return None
    try:
        content = render_certificate(referral, now=now)
    except NoCertificate:
        return None
    return Attachment(certificate_filename(referral), "application/pdf", content)
