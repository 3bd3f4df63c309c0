"""The register pages: today's sessions, taking and submitting, amendments, excuses, scope."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from diversion.attendance import register as attendance_register
from diversion.attendance.models import RegisterState
from diversion.core.extensions import db
from diversion.core.timeutils import london_to_utc, to_london
from diversion.referrals.models import ReferralStatus
from tests.attendance.helpers import submit_register
from tests.builders import NOW, live_session_with_people
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def test_a_facilitator_sees_todays_sessions_and_takes_the_register(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (first, second) = live_session_with_people(2, facilitator=facilitator)

    page = client.get("/registers")
    assert page.status_code == 200
    assert f"/sessions/{session.id}/register" in page.text

    page = client.get(f"/sessions/{session.id}/register")
    assert page.status_code == 200
    assert first.person.full_name in page.text and "Set everyone not yet marked to" in page.text
    assert "0 attended" not in page.text and "2 not yet marked" in page.text

    assert client.post(f"/sessions/{session.id}/register/mark-all").status_code == 302
    check = client.post(f"/sessions/{session.id}/register", data={
        "action": "submit",
        f"{first.reference}-status": "attended", f"{first.reference}-id_checked": "yes",
        f"{first.reference}-arrived_at": "",
        f"{second.reference}-status": "absent",
    })
    # Submitting first shows what each person's outcome will be; nothing is locked yet.
    assert check.status_code == 200
    assert "Check the register before you submit it" in check.text
    assert "Attended, fee outstanding: 1" in check.text and "Missed: 1" in check.text
    db.session.expire_all()
    assert attendance_register.get_register(session.id).state is RegisterState.DRAFT
    assert second.status is ReferralStatus.BOOKED

    fingerprint = attendance_register.preview_submission(session).fingerprint
    response = client.post(f"/sessions/{session.id}/register",
                           data={"action": "confirm", "fingerprint": fingerprint})
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


@pytest.mark.parametrize(("started_minutes_ago", "says"), [
    (-30, "A manager can book them onto this session until it starts at 10:30am"),
    (30, "The session has started, so they cannot be booked onto it"),
])
def test_the_register_tells_the_facilitator_what_to_do_for_someone_not_on_the_list(
        client, login_as, started_minutes_ago, says) -> None:
    # NOW is 09:00 UTC, 10:00 in London: 30 minutes ahead starts at 10:30am.
    facilitator = login_as("facilitator")
    session, _ = live_session_with_people(1, facilitator=facilitator,
                                          started_minutes_ago=started_minutes_ago)

    page = client.get(f"/sessions/{session.id}/register").text

    assert "Someone is here who is not on this list" in page
    assert says in page


@pytest.mark.parametrize("role", ["facilitator", "manager"])
def test_a_submitted_register_tells_the_facilitator_who_can_correct_it(
        client, login_as, role) -> None:
    user = login_as(role)
    session, (referral,) = live_session_with_people(
        1, facilitator=user if role == "facilitator" else None)
    submit_register(client, session, {f"{referral.reference}-status": "absent"})

    page = client.get(f"/sessions/{session.id}/register").text

    hint = "Made a mistake? A submitted register can only be changed by a programme manager"
    if role == "facilitator":
        assert hint in page and "Reopen register" not in page
    else:  # the manager corrects it himself
        assert hint not in page and "Reopen register" in page


def test_a_refused_submission_keeps_everything_that_can_be_kept(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (excused, attended) = live_session_with_people(2, facilitator=facilitator)

    response = client.post(f"/sessions/{session.id}/register", data={
        "action": "submit", f"{excused.reference}-status": "excused",
        f"{excused.reference}-reason": "In hospital",
        f"{excused.reference}-arrived_at": "25:99",
        f"{attended.reference}-status": "attended",  # ID not ticked: cannot be submitted yet
        f"{attended.reference}-participation_note": "Quiet"})

    assert response.status_code == 422
    assert "There is a problem" in response.text and "arrival time" in response.text
    assert "Check their ID" in response.text  # every problem in one round
    assert 'value="25:99"' in response.text  # shown as typed, to correct
    db.session.expire_all()
    register = attendance_register.get_register(session.id)
    assert register.state is RegisterState.DRAFT
    kept = {e.referral_id: e for e in register.entries}
    assert kept[excused.id].status.value == "excused" and kept[excused.id].reason == "In hospital"
    assert kept[attended.id].status.value == "attended"
    assert kept[attended.id].participation_note == "Quiet"
    assert excused.status is ReferralStatus.BOOKED and attended.status is ReferralStatus.BOOKED

    # Corrected and submitted: the check names the missing ID check; the draft stays as entered.
    response = client.post(f"/sessions/{session.id}/register", data={
        "action": "submit", f"{excused.reference}-status": "excused",
        f"{excused.reference}-reason": "In hospital", f"{excused.reference}-arrived_at": "",
        f"{attended.reference}-status": "attended"})
    assert response.status_code == 422 and "Check their ID" in response.text
    db.session.expire_all()
    assert attendance_register.get_register(session.id).state is RegisterState.DRAFT


def test_the_check_refuses_a_register_changed_since_it_was_shown(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (first,) = live_session_with_people(1, facilitator=facilitator)
    client.post(f"/sessions/{session.id}/register", data={
        f"{first.reference}-status": "attended", f"{first.reference}-id_checked": "yes"})
    fingerprint = attendance_register.preview_submission(session).fingerprint
    # Another device marks him absent before this one confirms.
    client.post(f"/sessions/{session.id}/register", data={f"{first.reference}-status": "absent"})

    response = client.post(f"/sessions/{session.id}/register",
                           data={"action": "confirm", "fingerprint": fingerprint})

    assert response.status_code == 409
    assert "changed after you checked it" in response.text and "Missed: 1" in response.text
    db.session.expire_all()
    assert attendance_register.get_register(session.id).state is RegisterState.DRAFT
    assert first.status is ReferralStatus.BOOKED


def test_set_all_keeps_marks_already_made_and_ticks_id_only_for_people_who_came(
        client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (absent, *others) = live_session_with_people(3, facilitator=facilitator)

    response = client.post(f"/sessions/{session.id}/register", data={
        "set_all": "attended", f"{absent.reference}-status": "absent"})
    assert response.status_code == 302
    client.post(f"/sessions/{session.id}/register", data={"set_all": "id_checked"})

    db.session.expire_all()
    entries = {e.referral_id: e for e in attendance_register.get_register(session.id).entries}
    assert entries[absent.id].status.value == "absent" and not entries[absent.id].id_checked
    for other in others:
        assert entries[other.id].status.value == "attended" and entries[other.id].id_checked
    page = client.get(f"/sessions/{session.id}/register").text
    assert "2 attended · 1 absent · everyone marked" in page


def test_the_unmarked_filter_shows_and_posts_only_the_people_not_yet_marked(
        client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (marked, unmarked) = live_session_with_people(2, facilitator=facilitator)
    client.post(f"/sessions/{session.id}/register", data={
        f"{marked.reference}-status": "attended", f"{marked.reference}-id_checked": "yes",
        f"{marked.reference}-participation_note": "Engaged"})

    page = client.get(f"/sessions/{session.id}/register?show=unmarked").text
    assert re.search(rf'id="person-{marked.reference}"[^>]*\bhidden>', page)
    assert not re.search(rf'id="person-{unmarked.reference}"[^>]*\bhidden>', page)
    assert "Show everyone" in page

    # A form carrying only some rows (as a script or an older page may) leaves the others be.
    client.post(f"/sessions/{session.id}/register", data={
        f"{unmarked.reference}-present": "1", f"{unmarked.reference}-status": "absent"})
    db.session.expire_all()
    entries = {e.referral_id: e for e in attendance_register.get_register(session.id).entries}
    assert entries[marked.id].id_checked and entries[marked.id].participation_note == "Engaged"
    assert entries[unmarked.id].status.value == "absent"


def test_the_autosave_keeps_each_line_it_can_and_names_the_others(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (first, second, third) = live_session_with_people(3, facilitator=facilitator)
    url = f"/sessions/{session.id}/register/draft"

    response = client.post(url, json={"lines": [
        {"reference": first.reference, "status": "attended", "id_checked": True,
         "arrived_at": "9:05", "reason": "", "participation_note": ""},
        {"reference": second.reference, "status": "excused", "id_checked": False,
         "arrived_at": "", "reason": "", "participation_note": ""},
        {"reference": third.reference, "status": "absent", "id_checked": False,
         "arrived_at": "half nine", "reason": "", "participation_note": ""},
        {"reference": "NOTBOOKED", "status": "absent"},
    ]})

    assert response.status_code == 200
    body = response.get_json()
    # An excused mark may wait for its reason in a draft; a time that cannot be read may not.
    assert sorted(body["saved"]) == sorted([first.reference, second.reference])
    assert set(body["problems"]) == {third.reference, "NOTBOOKED"}
    assert "arrival time" in body["problems"][third.reference]["arrived_at"]
    db.session.expire_all()
    entries = {e.referral_id: e for e in attendance_register.get_register(session.id).entries}
    assert entries[first.id].status.value == "attended" and entries[first.id].id_checked
    assert entries[second.id].status.value == "excused"
    assert entries[third.id].status.value == "absent"  # kept; only the time was refused
    assert entries[third.id].arrived_at is None


@pytest.mark.parametrize("body", [None, [], {"lines": "x"}, {"lines": [{"status": "absent"}]},
                                  {"lines": [{"reference": "A", "id_checked": "yes"}]},
                                  {"lines": [{"reference": "A", "status": 3}]}])
def test_the_autosave_refuses_a_body_it_cannot_read_with_problem_json(
        client, login_as, body) -> None:
    facilitator = login_as("facilitator")
    session, _ = live_session_with_people(1, facilitator=facilitator)

    response = client.post(f"/sessions/{session.id}/register/draft", json=body)

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("raw", ["[" * 100_000 + "]" * 100_000, '{"lines": ' * 50_000])
def test_the_autosave_refuses_deeply_nested_json_before_parsing_it(client, login_as, raw) -> None:
    """Parsed as it stood, the parser recursed until it failed: a 500."""
    facilitator = login_as("facilitator")
    session, _ = live_session_with_people(1, facilitator=facilitator)

    response = client.post(f"/sessions/{session.id}/register/draft", data=raw,
                           content_type="application/json")

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(("field", "value"), [("reason", "Ill\ud800"),
                                              ("participation_note", "Quiet\udfff"),
                                              ("reason", "Ill\x00")])
def test_the_autosave_names_a_lone_surrogate_or_nul_in_a_text_field(client, login_as, field,
                                                                    value) -> None:
    """A JSON body can carry "\\ud800", which UTF-8 (and so every database) refuses: it was
    stored as it came, and the write failed with a 500."""
    facilitator = login_as("facilitator")
    session, (first,) = live_session_with_people(1, facilitator=facilitator)

    response = client.post(f"/sessions/{session.id}/register/draft", json={"lines": [
        {"reference": first.reference, "status": "excused", "id_checked": False, field: value}]})

    assert response.status_code == 200
    body = response.get_json()
    assert "special characters" in body["problems"][first.reference][field]
    assert body["saved"] == []
    db.session.expire_all()
    [entry] = attendance_register.get_register(session.id).entries
    assert entry.status.value == "excused"  # the rest of the line is kept
    assert not entry.reason and not entry.participation_note


def test_the_autosave_answers_409_once_the_register_is_submitted(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (first,) = live_session_with_people(1, facilitator=facilitator)
    submit_register(client, session, {f"{first.reference}-status": "absent"})

    response = client.post(f"/sessions/{session.id}/register/draft", json={"lines": [
        {"reference": first.reference, "status": "attended", "id_checked": True}]})

    assert response.status_code == 409
    assert response.get_json()["title"] == "Register already submitted"


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
    submit_register(client, session, {f"{referral.reference}-status": "absent"})
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
    submit_register(client, session, {f"{referral.reference}-status": "absent"})

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



def _queries_for_a_marked_register(client, people: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    session, referrals = live_session_with_people(people, capacity=people)
    client.post(f"/sessions/{session.id}/register", data={"set_all": "attended"})
    client.post(f"/sessions/{session.id}/register", data={"set_all": "id_checked"})
    client.post(f"/sessions/{session.id}/register", data={
        f"{referrals[0].reference}-status": "excused", f"{referrals[0].reference}-reason": "Ill"})
    db.session.expire_all()
    with count_queries() as page:
        assert client.get(f"/sessions/{session.id}/register").status_code == 200
    with count_queries() as check:
        assert client.post(f"/sessions/{session.id}/register",
                           data={"action": "submit"}).status_code == 200
    return len(page), len(check)


def test_the_register_and_its_check_cost_the_same_queries_for_3_or_20_people(
        client, login_as) -> None:
    login_as("manager")
    few = _queries_for_a_marked_register(client, 3)
    many = _queries_for_a_marked_register(client, 20)
    assert many == few, (few, many)
    assert few[0] > 5  # the counter sees the page's queries


def test_an_arrival_time_without_am_or_pm_is_read_as_the_one_nearest_the_session(
        client, login_as, clock) -> None:
    # An afternoon session: 2:30pm London (BST). "2:50" written at the door is ten to three in
    # the afternoon, not ten to three in the night (which would pass the late cut-off).
    clock.set(NOW + dt.timedelta(hours=5))
    facilitator = login_as("facilitator")
    session, (late, attended) = live_session_with_people(2, facilitator=facilitator,
                                                         now=clock.now)

    response = client.post(f"/sessions/{session.id}/register", data={
        f"{late.reference}-status": "late_refused", f"{late.reference}-arrived_at": "2:50",
        f"{attended.reference}-status": "attended", f"{attended.reference}-id_checked": "yes",
        f"{attended.reference}-arrived_at": "2.50"})

    # After the cut-off: an attended line arriving then is refused, naming the cut-off.
    assert response.status_code == 422 and "late cut-off" in response.text
    db.session.expire_all()
    entries = {e.referral_id: e for e in attendance_register.get_register(session.id).entries}
    assert entries[late.id].arrived_at == london_to_utc(dt.datetime(2026, 6, 15, 14, 50))

    # Said with am or pm, or on the 24-hour clock past noon, a time is read as it is written.
    for typed, hour in (("2:50am", 2), ("14:50", 14), ("11:55", 11), ("9.30", 9)):
        client.post(f"/sessions/{session.id}/register", data={
            f"{late.reference}-status": "late_refused", f"{late.reference}-arrived_at": typed})
        db.session.expire_all()
        entry = attendance_register.get_register(session.id).entries
        arrived = next(e for e in entry if e.referral_id == late.id).arrived_at
        assert to_london(arrived).hour == hour, typed


def test_a_register_line_too_long_names_the_box_at_fault(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (first,) = live_session_with_people(1, facilitator=facilitator)

    response = client.post(f"/sessions/{session.id}/register", data={
        f"{first.reference}-status": "excused", f"{first.reference}-reason": "x" * 5000,
        f"{first.reference}-participation_note": "y" * 5000})

    assert response.status_code == 422
    summary = response.text.split('govuk-error-summary__list')[1].split("</ul>")[0]
    assert "The reason must be 1,000 characters or fewer" in summary
    assert "The note on how they took part must be 1,000 characters or fewer" in summary
    assert f'href="#{first.reference}-reason"' in summary
    assert f'href="#{first.reference}-participation_note"' in summary


def test_every_register_error_reads_as_one_sentence_after_the_name(client, login_as) -> None:
    facilitator = login_as("facilitator")
    session, (first, second) = live_session_with_people(2, facilitator=facilitator)

    response = client.post(f"/sessions/{session.id}/register", data={
        "action": "submit",
        f"{first.reference}-status": "gone", f"{first.reference}-arrived_at": "25:99",
        f"{first.reference}-reason": "line\x01one", f"{first.reference}-participation_note": "\x02",
        f"{second.reference}-status": "attended", f"{second.reference}-arrived_at": "half nine"})

    assert response.status_code == 422
    summary = response.text.split('govuk-error-summary__list')[1].split("</ul>")[0]
    messages = re.findall(r'<a href="#[^"]+">([^<]+)</a>', summary)
    assert len(messages) >= 5, messages
    for message in messages:
        name, _, sentence = message.partition(": ")
        assert name in (first.person.full_name, second.person.full_name), message
        assert sentence[:1].isupper(), message  # "Enter the arrival time …", as the rules say
    assert f"{first.person.full_name}: Select whether they attended" in messages


def test_the_reason_box_says_what_to_write_for_each_mark_that_asks_for_it(
        client, login_as) -> None:
    # "Left early" and "Removed" open the reason box too: its hint speaks to them as well.
    facilitator = login_as("facilitator")
    session, _ = live_session_with_people(1, facilitator=facilitator)

    page = client.get(f"/sessions/{session.id}/register").text

    hint = page.split('-reason-hint" class="govuk-hint">')[1].split("</div>")[0]
    assert "excused" in hint and "left early" in hint and "removed" in hint
