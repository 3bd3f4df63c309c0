"""The completion certificate: a one-page PDF that says who completed which course, and when.

It is discreet: it names the programme by a neutral title and never the offence, because the
person may have to show it to others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from diversion.attendance.outcomes import attended_entry
from diversion.core.errors import DomainError
from diversion.core.extensions import db
from diversion.core.pdf import render_pdf
from diversion.core.timeutils import london_today
from diversion.outbox.channels import Attachment
from diversion.referrals.models import Referral, ReferralStatus

S = ReferralStatus


@dataclass(frozen=True)
class CertificateFacts:
    name: str
    reference: str
    course: str
    completed_on: dt.date


class NoCertificate(DomainError):
    status = 404
    title = "Not found"


def certificate_facts(referral: Referral) -> CertificateFacts:
    """What a completion certificate shows: nothing about the offence."""
    if referral.status is not S.COMPLETED:
        raise NoCertificate("There is a certificate only for a completed course")
    entry = attended_entry(referral)
    completed_on = (london_today(entry.register.session.starts_at) if entry is not None
                    else referral.closed_on or london_today(referral.created_at))
    return CertificateFacts(name=referral.person.full_name, reference=referral.reference,
                            course=f"Diversion course ({referral.programme.code})",
                            completed_on=completed_on)


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
