"""The completion certificate: a one-page PDF that says who completed which course, and when.

It is discreet: it names the programme by a neutral title and never the offence, because the
person may have to show it to others.
"""

from __future__ import annotations

import datetime as dt

from diversion.attendance.services import certificate_facts
from diversion.referrals.models import Referral
from diversion.reports.pdf import render_pdf


def render_certificate(referral: Referral, *, now: dt.datetime) -> bytes:
    """The certificate's PDF bytes; NoCertificate (404) unless the referral completed."""
    facts = certificate_facts(referral)
    return render_pdf("attendance/certificate.html", title="Certificate of completion",
                      facts=facts, generated_at=now)


def certificate_filename(referral: Referral) -> str:
    return f"certificate-{referral.reference}.pdf"
