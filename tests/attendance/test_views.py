"""The register pages: today's sessions, taking and submitting, amendments, excuses, scope."""

from __future__ import annotations

import pytest

from diversion.attendance import register as attendance_register
from diversion.attendance.models import RegisterState
from diversion.core.extensions import db
from diversion.referrals.models import ReferralStatus
from tests.builders import live_session_with_people

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def test_a_facilitator_sees_todays_sessions_and_takes_the_register(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (first, second) = live_session_with_people(2, facilitator=facilitator)

    page = client.get("/registers")
    assert page.status_code == 200
    assert f"/sessions/{session.id}/register" in page.text

    page = client.get(f"/sessions/{session.id}/register")
    assert page.status_code == 200
    assert first.person.full_name in page.text and "Mark everyone attended" in page.text

    assert client.post(f"/sessions/{session.id}/register/mark-all").status_code == 302
    response = client.post(f"/sessions/{session.id}/register", data={
        "action": "submit",
        f"{first.reference}-status": "attended", f"{first.reference}-id_checked": "yes",
        f"{first.reference}-arrived_at": "",
        f"{second.reference}-status": "absent",
    })
    assert response.status_code == 302
    db.session.expire_all()
    assert attendance_register.get_register(session.id).state is RegisterState.SUBMITTED
    assert first.status is ReferralStatus.BOOKED  # attended, fee outstanding
    assert second.status is ReferralStatus.MISSED


def test_the_register_page_shows_nothing_else_of_a_persons_record(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (referral,) = live_session_with_people(1, facilitator=facilitator)

    page = client.get(f"/sessions/{session.id}/register").text

    person = referral.person
    for private in (referral.crime_reference, referral.offence_code, person.email,
                    person.date_of_birth.strftime("%-d %B %Y"), person.postcode or "~"):
        assert private not in page


def test_a_submission_with_problems_comes_back_with_errors_and_changes_nothing(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (referral,) = live_session_with_people(1, facilitator=facilitator)

    response = client.post(f"/sessions/{session.id}/register", data={
        "action": "submit", f"{referral.reference}-status": "excused",
        f"{referral.reference}-arrived_at": "25:99"})

    assert response.status_code == 422
    assert "There is a problem" in response.text and "arrival time" in response.text
    db.session.expire_all()
    assert attendance_register.get_register(session.id) is None
    assert referral.status is ReferralStatus.BOOKED


def test_a_facilitator_gets_404_for_a_session_they_do_not_run(client, login_as) -> None:
    session, _ = live_session_with_people(1)
    login_as("facilitator")

    assert client.get(f"/sessions/{session.id}/register").status_code == 404
    assert client.post(f"/sessions/{session.id}/register", data={"action": "submit"}).status_code == 404


def test_a_facilitator_cannot_reach_referrals_certificates_or_amendments(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (referral,) = live_session_with_people(1, facilitator=facilitator)

    for path in (f"/referrals/{referral.reference}", f"/referrals/{referral.reference}/certificate.pdf",
                 f"/referrals/{referral.reference}/excuse", f"/sessions/{session.id}/register/reopen"):
        assert client.get(path).status_code in (403, 404), path


def test_a_manager_reopens_and_amends_with_a_reason(client, login_as) -> None:
    manager = login_as("manager")
    session, (referral,) = live_session_with_people(1)
    client.post(f"/sessions/{session.id}/register", data={
        "action": "submit", f"{referral.reference}-status": "absent"})
    db.session.expire_all()
    entry = attendance_register.get_register(session.id).entries[0]

    page = client.get(f"/sessions/{session.id}/register/entries/{entry.id}")
    assert page.status_code == 200
    refused = client.post(f"/sessions/{session.id}/register/entries/{entry.id}",
                          data={"status": "excused", "excuse": "Ill", "reason": ""})
    assert refused.status_code == 200 and "Enter the reason for the amendment" in refused.text
    done = client.post(f"/sessions/{session.id}/register/entries/{entry.id}",
                       data={"status": "excused", "excuse": "Ill", "reason": "GP letter seen"})
    assert done.status_code == 302
    db.session.expire_all()
    assert referral.status is ReferralStatus.AWAITING_BOOKING

    assert client.post(f"/sessions/{session.id}/register/reopen",
                       data={"reason": "Check the whole list"}).status_code == 302
    db.session.expire_all()
    assert attendance_register.get_register(session.id).state is RegisterState.DRAFT
    history = client.get(f"/sessions/{session.id}/register").text
    assert "GP letter seen" in history and "Check the whole list" in history
    assert manager is not None


def test_a_manager_accepts_an_excuse_from_the_referral(client, login_as) -> None:
    login_as("manager")
    session, (referral,) = live_session_with_people(1)
    client.post(f"/sessions/{session.id}/register", data={
        "action": "submit", f"{referral.reference}-status": "absent"})

    assert client.get(f"/referrals/{referral.reference}/excuse").status_code == 200
    response = client.post(f"/referrals/{referral.reference}/excuse",
                           data={"reason": "Hospital admission"})

    assert response.status_code == 302
    db.session.expire_all()
    assert referral.status is ReferralStatus.AWAITING_BOOKING


def test_the_manager_dashboard_counts_overdue_registers(client, login_as) -> None:
    login_as("manager")
    live_session_with_people(1, started_minutes_ago=60 * 24 * 3)

    page = client.get("/dashboard").text

    assert "Registers overdue" in page
    overdue = client.get("/registers/overdue")
    assert overdue.status_code == 200 and "/register" in overdue.text
