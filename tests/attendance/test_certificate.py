"""The completion certificate PDF: who, which course, when; discreet; OFFICIAL-SENSITIVE."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from tests.builders import completed_referral, create_force, create_user, live_session_with_people

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_a_manager_downloads_a_discreet_certificate(client, login_as) -> None:
    login_as("manager")
    session, referral = completed_referral()

    response = client.get(f"/referrals/{referral.reference}/certificate.pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    assert referral.person.full_name in text
    assert referral.reference in text
    assert session.starts_at.strftime("%-d %B %Y") in text or "2026" in text
    assert "OFFICIAL-SENSITIVE" in text
    assert "Diversion course" in text
    for indiscreet in ("kerb", "Kerb", "SOA2003", "soliciting", "sexual", referral.crime_reference):
        assert indiscreet not in text
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "certificate.download",
        AuditEvent.category == AuditCategory.DISCLOSURE))


def test_police_of_the_referring_force_only_can_download_it(client, auth) -> None:
    _, referral = completed_referral()
    own = create_user("police", force=referral.force)
    other = create_user("police", force=create_force())
    db.session.commit()

    auth.login(other.email)
    assert client.get(f"/referrals/{referral.reference}/certificate.pdf").status_code == 404
    auth.logout()
    auth.login(own.email)
    assert client.get(f"/referrals/{referral.reference}/certificate.pdf").status_code == 200


def test_there_is_no_certificate_before_completion(client, login_as) -> None:
    login_as("manager")
    _, (referral,) = live_session_with_people(1)

    assert client.get(f"/referrals/{referral.reference}/certificate.pdf").status_code == 404
