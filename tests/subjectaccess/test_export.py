"""The subject access export: everything held about a person, as JSON and a tagged PDF."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from diversion.attendance import register as attendance_register
from diversion.attendance.certificates import ensure_certificate_code
from diversion.attendance.models import CertificateCode, RegisterChange, RegisterEntry
from diversion.attendance.rules import AttendanceStatus
from diversion.audit.models import AuditCategory, AuditEvent
from diversion.bookings.models import Booking, Payment
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.outbox.channels import LogChannel
from diversion.outbox.dispatcher import dispatch_due
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.referrals.models import Person, Referral, ReferralEvent
from diversion.reoffences.models import Reoffence
from diversion.retention.services import run_retention
from tests.builders import (
    DEFAULT_PASSWORD,
    NOW,
    create_message,
    create_reoffence,
    create_user,
    live_session_with_people,
    pay_fee,
)
from tests.pdf_structure import assert_accessible
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")

TITLE = "Subject access export"


def seeded_referral() -> Referral:
    """A person with one of each kind of record: a referral with history, a booking, a
    register entry (attended: completed), a payment, a certificate, messages and a reoffence."""
    session, (referral,) = live_session_with_people(1, given_names="Quentin Barnaby",
                                                    mobile="07700 900123")
    pay_fee(referral, create_user("manager", name="Fee Taker"))
    attendance_register.save_register(
        session=session, submit=True, actor=None, now=NOW + dt.timedelta(minutes=30),
        marks=[attendance_register.MarkInput(reference=referral.reference,
                                             status=AttendanceStatus.ATTENDED, id_checked=True)])
    ensure_certificate_code(referral, now=NOW)
    create_message(subject_type="referral", subject_id=referral.id, status=MessageStatus.SENT,
                   context={"note": "your course is on Wednesday"})
    create_reoffence(person_id=referral.person_id, offence_date=dt.date(2026, 5, 1),
                     outcome="arrest", outcome_date=None, reference="REO-SAR-1")
    db.session.commit()
    return referral


def download(client: FlaskClient, referral: Referral, fmt: str) -> Any:
    return client.post(f"/subject-access/{referral.reference}", data={"format": fmt})


def test_the_json_holds_each_kind_of_record(app: Flask, client: FlaskClient, login_as: Any) -> None:
    referral = seeded_referral()
    manager = login_as("manager", name="Mary Manager")
    assert client.get(f"/referrals/{referral.reference}").status_code == 200  # audited read

    response = download(client, referral, "json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["person"]["given_names"] == "Quentin Barnaby"
    assert data["person"]["mobile"] == referral.person.mobile
    (exported,) = data["referrals"]
    assert exported["reference"] == referral.reference
    assert exported["status"] == "completed"
    assert [e["event"] for e in exported["events"]] == ["created", "booked", "attended_completed"]
    assert [b["status"] for b in data["bookings"]] != []
    assert data["attendance"][0]["status"] == "attended"
    assert data["payments"][0]["amount_pence"] == referral.programme.fee_pence
    assert data["certificates"][0]["code"]
    assert data["reoffences"][0]["source_reference"] == "REO-SAR-1"
    sent = [m for m in data["messages"] if m["template"] == "test_message"]
    assert sent and sent[0]["status"] == "sent" and sent[0]["channel"] == "email"
    assert "your course is on Wednesday" in sent[0]["content"]
    assert any(m["template"] == "booking_confirmation" for m in data["messages"])
    views = [a for a in data["audit"] if a["action"] == "referral.view"]
    assert views and views[0]["by"] == manager.name
    assert any(a["by"] == "Fee Taker" for a in data["audit"])


def test_the_export_is_recorded_and_shown_on_the_referral_page(
        app: Flask, client: FlaskClient, login_as: Any) -> None:
    referral = seeded_referral()
    manager = login_as("manager", name="Mary Manager")
    assert b"No subject access export has been made" in client.get(
        f"/referrals/{referral.reference}").data

    assert download(client, referral, "pdf").status_code == 200

    (event,) = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "person.subject_access_export")).all()
    assert (event.category, event.actor_user_id, event.object_type, event.object_id,
            event.details) == (AuditCategory.DISCLOSURE, manager.id, "person",
                               str(referral.person_id), {"format": "pdf"})
    page = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    assert "Last subject access export:" in page and "by Mary Manager" in page
    check = client.get(f"/subject-access/{referral.reference}").get_data(as_text=True)
    assert "by Mary Manager (PDF)" in check
    assert "recorded in the audit log" in check


def test_the_pdf_is_tagged_and_reads_back(app: Flask, client: FlaskClient, login_as: Any) -> None:
    referral = seeded_referral()
    login_as("admin")

    response = download(client, referral, "pdf")

    assert response.status_code == 200 and response.mimetype == "application/pdf"
    tagged = assert_accessible(response.data, title=TITLE)
    text = " ".join(" ".join(page.extract_text() for page in
                             PdfReader(io.BytesIO(response.data)).pages).split())
    for expected in ("Quentin Barnaby", referral.reference, "REO-SAR-1", "Bookings",
                     "Attendance", "Payments", "Messages sent", "your course is on Wednesday",
                     "Certificates", "Who looked at or changed these records"):
        assert expected in text, expected
    assert "Quentin Barnaby" in tagged.reading_text


def test_the_check_page_exports_nothing_and_a_bad_format_is_an_error(
        app: Flask, client: FlaskClient, login_as: Any) -> None:
    referral = seeded_referral()
    login_as("manager")

    page = client.get(f"/subject-access/{referral.reference}")
    refused = download(client, referral, "xml")

    assert page.status_code == 200
    assert refused.status_code == 400
    assert b"govuk-error-summary" in refused.data
    assert b"Select the format to download" in refused.data
    assert db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "person.subject_access_export")) is None
    # Seeing the check page, which names him, is a consultation like any other read.
    (viewed,) = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "person.subject_access_check")).all()
    assert viewed.category == AuditCategory.CONSULTATION
    assert viewed.details["shown"] == [referral.id]


@pytest.mark.parametrize("role", ["police", "facilitator"])
def test_police_and_facilitators_cannot_export(app: Flask, client: FlaskClient, login_as: Any,
                                               role: str) -> None:
    referral = seeded_referral()
    login_as(role, force=referral.force) if role == "police" else login_as(role)

    assert client.get(f"/subject-access/{referral.reference}").status_code == 403
    assert download(client, referral, "json").status_code == 403
    page = client.get(f"/referrals/{referral.reference}")
    assert b"Subject access export" not in page.data


def test_an_unknown_reference_is_not_found(app: Flask, client: FlaskClient, login_as: Any) -> None:
    login_as("manager")
    assert client.get("/subject-access/AAAAAAAA").status_code == 404


def test_the_post_needs_the_csrf_token(app: Flask, client: FlaskClient, login_as: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    referral = seeded_referral()
    login_as("manager")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    response = download(client, referral, "json")

    assert response.status_code in (400, 403)
    assert response.mimetype != "application/json"
    assert db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "person.subject_access_export")) is None


def test_the_queries_do_not_grow_with_the_records(app: Flask, client: FlaskClient,
                                                  login_as: Any) -> None:
    referral = seeded_referral()
    login_as("manager")
    with count_queries() as few:
        assert download(client, referral, "json").status_code == 200
    for n in range(3):
        create_message(subject_type="referral", subject_id=referral.id,
                       status=MessageStatus.SENT, context={"note": f"more {n}"})
        create_reoffence(person_id=referral.person_id, offence_date=dt.date(2026, 4, n + 1),
                         outcome="arrest", outcome_date=None, reference=f"REO-MORE-{n}")
        client.get(f"/referrals/{referral.reference}")
    db.session.commit()
    with count_queries() as more:
        assert download(client, referral, "json").status_code == 200
    assert len(more) == len(few)


# Erasure -------------------------------------------------------------------------------------

def _rows(model: Any, *where: Any) -> list[dict[str, Any]]:
    """Every column of the rows, as text: what a search for the person would read."""
    table = model.__table__
    return [dict(row._mapping) for row in db.session.execute(select(table).where(*where))]


def test_after_the_retention_job_nothing_identifying_remains_and_no_export(
        app: Flask, client: FlaskClient, login_as: Any, clock: Any) -> None:
    referral = seeded_referral()
    person = referral.person
    identifying = [person.family_name, "Quentin", "Barnaby", person.email, "07700 900123",
                   "+447700900123", person.date_of_birth.isoformat()]
    person_id, referral_id = person.id, referral.id
    login_as("manager")
    assert download(client, referral, "json").status_code == 200
    # The messages go out that day, as the dispatcher sends them (pending ones are kept).
    summary = dispatch_due(now=NOW + dt.timedelta(hours=1),
                           channels={Channel.EMAIL: LogChannel(), Channel.SMS: LogChannel()})
    db.session.commit()
    assert summary.claimed >= 2
    clock.set(NOW + dt.timedelta(days=366 * 6 + 31))  # past the 72-month period

    result = run_retention(now=now_utc())
    db.session.commit()
    # The earlier sign-in timed out years ago: a fresh browser, a manager made today.
    client = app.test_client()
    manager = create_user("manager", now=now_utc())
    db.session.commit()
    assert client.post("/sign-in", data={"email": manager.email, "password": DEFAULT_PASSWORD}
                       ).status_code == 302

    assert result.people == 1
    gone = client.get(f"/subject-access/{referral.reference}")
    assert gone.status_code == 404, gone.headers.get("Location")
    assert download(client, referral, "json").status_code == 404
    booking_ids = [str(b) for b in db.session.scalars(
        select(Booking.id).where(Booking.referral_id == referral_id))]
    held = {
        "people": _rows(Person, Person.id == person_id),
        "referrals": _rows(Referral, Referral.id == referral_id),
        "events": _rows(ReferralEvent, ReferralEvent.referral_id == referral_id),
        "bookings": _rows(Booking, Booking.referral_id == referral_id),
        "register entries": _rows(RegisterEntry, RegisterEntry.referral_id == referral_id),
        "register changes": _rows(RegisterChange),
        "payments": _rows(Payment, Payment.referral_id == referral_id),
        "certificates": _rows(CertificateCode, CertificateCode.referral_id == referral_id),
        "messages": _rows(OutboxMessage, OutboxMessage.subject_id.in_(
            [str(referral_id), *booking_ids])),
        "reoffences": _rows(Reoffence, Reoffence.person_id == person_id),
        "audit": _rows(AuditEvent),
    }
    assert held["people"] and held["messages"] and held["audit"]
    for table, rows in held.items():
        text = json.dumps(rows, default=str)
        for value in identifying:
            assert value not in text, f"{value!r} is still in {table}: {text}"
