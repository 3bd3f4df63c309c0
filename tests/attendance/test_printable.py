"""The printable register sheet: a tagged A4 landscape PDF of who is booked, to tick by hand;
and entering a paper register afterwards through the register page."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from diversion.attendance import register as attendance_register
from diversion.attendance.models import RegisterState
from diversion.attendance.rules import AttendanceStatus
from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.referrals.models import ReferralStatus
from tests.attendance.helpers import submit_register
from tests.builders import (
    NOW,
    create_referral,
    create_session,
    create_user,
    in_days,
    live_session_with_people,
    session_with_people,
)

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

# A session on a winter day (GMT), its people referred and booked before it.
WINTER = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
A4_LANDSCAPE = (842, 595)  # points, rounded
STATUS_HEADINGS = [status.label for status in AttendanceStatus]


def pages_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def squeezed(text: str) -> str:
    """Text without whitespace, so a name wrapped in a narrow cell still matches."""
    return "".join(text.split())


def sheet_url(session) -> str:  # type: ignore[no-untyped-def]
    return f"/sessions/{session.id}/register/sheet.pdf"


def test_a_facilitator_prints_the_register_sheet_ahead_of_the_day(client, auth) -> None:
    facilitator = create_user("facilitator", name="Fran Facilitator")
    session, people = session_with_people(2, facilitator=facilitator,
                                          access_needs="Hearing loop, please",
                                          needs_step_free=True)
    db.session.commit()
    auth.login(facilitator.email)

    response = client.get(sheet_url(session))

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="register-2026-06-17-{session.id}.pdf"')
    assert response.headers["Cache-Control"] == "no-store"
    reader = PdfReader(io.BytesIO(response.data))
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == A4_LANDSCAPE
    text = squeezed("\n".join(pages_text(response.data)))
    for referral in people:
        assert squeezed(referral.person.full_name) in text
        assert referral.reference in text
    for words in ("Hearing loop, please", "Step-free access", *STATUS_HEADINGS, "ID checked",
                  "Arrival time", "Reason or notes", "OFFICIAL-SENSITIVE", "Page 1 of 1",
                  session.programme.name, session.venue.name, "Wednesday 17 June 2026",
                  "Fran Facilitator", "Facilitator's signature"):
        assert squeezed(words) in text, words
    # Starts 08:30 UTC in summer: 9:30am in London; the cut-off 15 minutes later.
    assert squeezed("9:30am to 4:30pm") in text
    assert squeezed("9:45am (15 minutes after the start)") in text
    assert squeezed("refused entry") in text


def test_the_sheet_shows_london_time_in_winter_too(client, auth) -> None:
    facilitator = create_user("facilitator")
    session, (referral,) = live_session_with_people(1, facilitator=facilitator, now=WINTER)
    auth.login(facilitator.email)

    text = squeezed("\n".join(pages_text(client.get(sheet_url(session)).data)))

    # Started 09:30 UTC, which is 9:30am in London in winter (GMT).
    assert squeezed("Tuesday 1 December 2026") in text
    assert squeezed("9:30am to 4:30pm") in text
    assert squeezed("9:45am (15 minutes after the start)") in text
    assert squeezed(referral.person.full_name) in text


def test_the_sheet_is_a_tagged_pdf_with_a_title_and_language(client, login_as) -> None:
    login_as("manager")
    session, _ = live_session_with_people(1)

    reader = PdfReader(io.BytesIO(client.get(sheet_url(session)).data))

    catalog = reader.trailer["/Root"]
    assert catalog["/MarkInfo"]["/Marked"].value is True
    assert "/StructTreeRoot" in catalog
    assert catalog["/Lang"] == "en-GB"
    assert catalog["/ViewerPreferences"]["/DisplayDocTitle"].value is True
    assert reader.metadata is not None
    assert reader.metadata.title == f"Register: {session.venue.name}, Monday 15 June 2026"


def test_a_full_session_runs_over_pages_with_the_header_on_each(client, login_as) -> None:
    login_as("manager")
    session, people = session_with_people(30, capacity=30)
    db.session.commit()

    pages = pages_text(client.get(sheet_url(session)).data)

    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        squeezed_page = squeezed(page)
        assert squeezed(f"Page {number} of {len(pages)}") in squeezed_page
        assert "OFFICIAL-SENSITIVE" in page
        assert all(squeezed(label) in squeezed_page for label in STATUS_HEADINGS), number
        assert squeezed("Reason or notes") in squeezed_page
    everything = squeezed("\n".join(pages))
    assert all(squeezed(referral.person.full_name) in everything for referral in people)
    # The roster's order: as on the register page.
    names = [line.name for line in attendance_register.register_sheet(
        session=session, actor=create_user("manager"), now=NOW).lines]
    positions = [everything.index(squeezed(name)) for name in names]
    assert positions == sorted(positions)
    assert squeezed("Manager: enter this sheet in Diversion at") in squeezed(pages[-1])


def test_the_sheet_shows_only_people_booked_and_nothing_else_of_their_record(client,
                                                                              login_as) -> None:
    facilitator = login_as("facilitator")
    session, (referral,) = live_session_with_people(1, facilitator=facilitator)
    _, (elsewhere,) = live_session_with_people(1)
    unbooked = create_referral()
    db.session.commit()

    text = squeezed("\n".join(pages_text(client.get(sheet_url(session)).data)))

    assert squeezed(referral.person.full_name) in text
    for absent in (elsewhere.person.full_name, unbooked.person.full_name):
        assert squeezed(absent) not in text
    person = referral.person
    for private in (referral.crime_reference, referral.offence_code, person.email,
                    person.date_of_birth.strftime("%-d %B %Y")):
        assert squeezed(private) not in text


def test_the_manager_is_told_where_and_by_when_to_enter_the_sheet(app, client, login_as,
                                                                   monkeypatch) -> None:
    monkeypatch.setitem(app.config, "DIVERSION_BASE_URL", "https://diversion.example.gov.uk")
    login_as("manager")
    session, _ = live_session_with_people(1)

    text = squeezed("\n".join(pages_text(client.get(sheet_url(session)).data)))

    # From DIVERSION_BASE_URL, not from the Host the request came to (the test client's).
    assert squeezed(f"https://diversion.example.gov.uk/sessions/{session.id}/register") in text
    assert "localhost" not in text
    assert squeezed("by the end of Tuesday 16 June 2026") in text


def test_an_empty_session_prints_a_sheet_saying_nobody_is_booked(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session = create_session(starts_at=in_days(3), facilitators=[facilitator])
    db.session.commit()

    response = client.get(sheet_url(session))

    assert response.status_code == 200
    text = squeezed("\n".join(pages_text(response.data)))
    assert squeezed("Nobody is booked on this session.") in text
    assert squeezed("Facilitator's signature") in text


def test_printing_the_sheet_is_audited_without_names(client, login_as) -> None:
    manager = login_as("manager")
    session, (referral, _) = live_session_with_people(2)

    client.get(sheet_url(session))

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "register.print"))
    assert event is not None
    assert event.category is AuditCategory.CONSULTATION
    assert (event.object_type, event.object_id) == ("session", str(session.id))
    assert event.details == {"people": 2}
    assert event.actor_user_id == manager.id
    assert referral.person.full_name not in str(event.details)


def test_a_cancelled_session_has_no_sheet_to_print(client, login_as) -> None:
    manager = login_as("manager")
    session, _ = session_with_people(1)
    courses_planning.cancel_session(session=session, reason="Venue flooded", actor=manager, now=NOW)
    db.session.commit()

    response = client.get(sheet_url(session))

    assert response.status_code == 409
    assert "This session was cancelled: it has no register to print" in response.text
    assert not db.session.scalar(select(AuditEvent).where(AuditEvent.action == "register.print"))


def test_only_the_sessions_facilitators_and_managers_may_print_it(client, auth) -> None:
    facilitator, other = create_user("facilitator"), create_user("facilitator")
    police = create_user("police")
    session, (referral,) = live_session_with_people(1, facilitator=facilitator)
    url = sheet_url(session)

    signed_out = client.get(url)
    assert signed_out.status_code == 302 and "/sign-in" in signed_out.headers["Location"]
    auth.login(other.email)
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login(police.email)
    refused = client.get(url)
    assert refused.status_code == 403
    assert referral.person.full_name not in refused.text
    auth.logout()
    auth.login(facilitator.email)
    assert client.get(url).status_code == 200


def test_the_registers_page_links_each_session_to_its_printable_sheet(client, login_as) -> None:
    facilitator = login_as("facilitator")
    today, _ = live_session_with_people(1, facilitator=facilitator)
    later = create_session(starts_at=in_days(3), facilitators=[facilitator])
    db.session.commit()

    page = client.get("/registers").text

    assert page.count("Print register (PDF)") == 2
    for session in (today, later):
        assert f'href="{sheet_url(session)}"' in page
        assert f"at {session.venue.name}</span>" in page


# Entering a paper register afterwards ---------------------------------------------------------

def _paper_marks(attended, absent) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f"{attended.reference}-status": "attended", f"{attended.reference}-id_checked": "yes",
            f"{attended.reference}-arrived_at": "9:35am",
            f"{absent.reference}-status": "absent", f"{absent.reference}-arrived_at": ""}


@pytest.mark.parametrize("role", ["manager", "facilitator"])
def test_a_paper_register_is_entered_the_day_after_the_session(client, auth, clock, role) -> None:
    facilitator = create_user("facilitator")
    user = facilitator if role == "facilitator" else create_user("manager")
    session, (attended, absent) = live_session_with_people(2, facilitator=facilitator)
    clock.set(NOW + dt.timedelta(days=1, hours=6))  # the next afternoon
    auth.login(user.email)

    assert client.get(f"/sessions/{session.id}/register").status_code == 200
    submit_register(client, session, _paper_marks(attended, absent))

    db.session.expire_all()
    register = attendance_register.get_register(session.id)
    assert register.state is RegisterState.SUBMITTED
    entry = next(e for e in register.entries if e.referral_id == attended.id)
    # 9:35am written on paper is London time on the session's day (BST).
    assert entry.arrived_at == dt.datetime(2026, 6, 15, 8, 35, tzinfo=dt.UTC)
    assert absent.status is ReferralStatus.MISSED


def test_a_manager_enters_an_overdue_paper_register(client, auth, clock) -> None:
    session, (attended, absent) = live_session_with_people(2)
    manager = create_user("manager")
    db.session.commit()
    clock.set(NOW + dt.timedelta(days=3))
    auth.login(manager.email)
    assert f"/sessions/{session.id}/register" in client.get("/registers/overdue").text

    submit_register(client, session, _paper_marks(attended, absent))

    db.session.expire_all()
    assert attendance_register.get_register(session.id).state is RegisterState.SUBMITTED
    assert f"/sessions/{session.id}/register" not in client.get("/registers/overdue").text
