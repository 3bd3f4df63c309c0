"""The completion certificate PDF: who, which course, when; discreet; OFFICIAL-SENSITIVE."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update

from diversion.attendance import certificates
from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.referrals.models import Referral
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


# Provider, force and the verification code ----------------------------------------------------

def certificate_text(client, referral) -> str:  # type: ignore[no-untyped-def]
    response = client.get(f"/referrals/{referral.reference}/certificate.pdf")
    assert response.status_code == 200
    return pdf_text(response.data)


def code_of(referral) -> str:  # type: ignore[no-untyped-def]
    from diversion.attendance.models import CertificateCode

    found = db.session.get(CertificateCode, referral.id)
    assert found is not None
    return found.code


def test_the_certificate_names_the_provider_and_force_and_carries_a_verification_code(
        app, client, login_as, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "DIVERSION_PROVIDER_NAME", "Change Programmes Ltd")
    login_as("manager")
    _, referral = completed_referral()
    code = code_of(referral)  # made when the referral completed
    assert len(code) == 12 and set(code) <= set(certificates.CODE_ALPHABET)
    text = certificate_text(client, referral)
    assert "Change Programmes Ltd" in text
    assert referral.force.name in text and f"{referral.force.code}\n" not in text
    assert f"{code[:4]}-{code[4:8]}-{code[8:]}" in text
    assert "/certificates/verify" in text
    # Every copy carries the same code.
    assert f"{code[:4]}-{code[4:8]}-{code[8:]}" in certificate_text(client, referral)


def test_a_completed_referral_without_a_code_gets_one_with_its_first_certificate(
        client, login_as) -> None:
    from diversion.attendance.models import CertificateCode

    login_as("manager")
    _, referral = completed_referral()
    db.session.delete(db.session.get(CertificateCode, referral.id))
    db.session.commit()
    text = certificate_text(client, referral)
    code = code_of(referral)
    assert f"{code[:4]}-{code[4:8]}-{code[8:]}" in text


def test_codes_are_unique_and_unguessable() -> None:
    codes = {certificates._new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert not set("".join(codes)) & set("0O1IL2Z5S")


def verify(client, code: str):  # type: ignore[no-untyped-def]
    return client.post("/certificates/verify", data={"code": code})


def test_a_manager_checks_a_genuine_code_and_the_check_is_audited(client, login_as) -> None:
    manager = login_as("manager")
    session, referral = completed_referral()
    code = code_of(referral)
    form = client.get("/certificates/verify")
    assert form.status_code == 200 and "Verification code" in form.get_data(as_text=True)
    page = verify(client, f"{code[:4]}-{code[4:8]} {code[8:]}".lower()).get_data(as_text=True)
    assert "This certificate is genuine" in page
    assert referral.person.full_name in page
    assert referral.person.date_of_birth.strftime("%-d %B %Y") in page
    assert "Completed" in page and referral.force.name in page
    assert session.starts_at.strftime("%-d %B %Y") in page
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "certificate.verify"))
    assert event is not None and event.category is AuditCategory.CONSULTATION
    assert event.actor_user_id == manager.id and event.object_id == str(referral.id)


def test_police_verify_their_own_forces_certificates_only_and_learn_nothing_of_others(
        client, auth) -> None:
    _, referral = completed_referral()
    code = code_of(referral)
    own = create_user("police", force=referral.force)
    other = create_user("police", force=create_force())
    db.session.commit()
    auth.login(other.email)
    refused = verify(client, code)
    wrong = verify(client, "AAAA-BBBB-CCCC")
    refused_page, wrong_page = refused.get_data(as_text=True), wrong.get_data(as_text=True)
    assert refused.status_code == wrong.status_code == 200
    assert "No certificate matches that code" in refused_page
    assert referral.person.full_name not in refused_page
    assert refused_page.replace(code, "").count("No certificate matches") == \
        wrong_page.count("No certificate matches")
    auth.logout()
    auth.login(own.email)
    assert "This certificate is genuine" in verify(client, code).get_data(as_text=True)


def test_a_wrong_code_is_refused_with_an_error_summary_and_audited(client, login_as) -> None:
    login_as("manager")
    page = verify(client, "7KQ4-MX9P-T3WD").get_data(as_text=True)
    assert "There is a problem" in page and 'href="#code"' in page
    assert "No certificate matches that code" in page
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "certificate.verify_failed"))
    empty = verify(client, "").get_data(as_text=True)
    assert "Enter the verification code from the certificate" in empty


def test_a_referral_no_longer_completed_is_not_verified(client, login_as) -> None:
    from diversion.referrals.models import ReferralStatus

    login_as("manager")
    _, referral = completed_referral()
    code = code_of(referral)
    # A completion later corrected away (an amended register) leaves the code unverifiable.
    db.session.execute(update(Referral).where(Referral.id == referral.id)
                       .values(status=ReferralStatus.MISSED))
    db.session.commit()
    assert "No certificate matches that code" in verify(client, code).get_data(as_text=True)


def test_guessing_codes_is_throttled(client, login_as) -> None:
    login_as("manager")
    _, referral = completed_referral()
    for _ in range(certificates.VERIFY_LIMIT.max_per_key):
        assert verify(client, "AAAA-BBBB-CCCC").status_code == 200
    throttled = verify(client, code_of(referral))
    assert throttled.status_code == 429
    page = throttled.get_data(as_text=True)
    assert "too many codes" in page and "This certificate is genuine" not in page


def test_signed_out_and_facilitators_cannot_verify(client, login_as) -> None:
    assert client.get("/certificates/verify").status_code in (302, 401)
    login_as("facilitator")
    assert client.get("/certificates/verify").status_code == 403
    assert verify(client, "AAAA-BBBB-CCCC").status_code == 403
