"""Referring someone through the pages: the form, the match choice, check your answers."""

import datetime as dt
import html
import re

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.core.timeutils import london_today, now_utc
from diversion.referrals import pins
from diversion.referrals.models import Person, Referral, ReferralStatus
from tests.builders import create_force, create_programme, create_referral

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def today() -> dt.date:
    return london_today(now_utc())


def form_data(**overrides: str) -> dict[str, str]:
    offence = today() - dt.timedelta(days=3)
    data = {
        "family_name": "Sampleton", "given_names": "Barry John",
        "date_of_birth-day": "2", "date_of_birth-month": "1", "date_of_birth-year": "1980",
        "pnc_id": "", "gender": "Male", "preferred_contact": "email",
        "email": "barry.sampleton@example.com", "mobile": "", "address_line_1": "1 Example Road",
        "address_line_2": "", "town": "Leeds", "postcode": "ls1 4ap", "access_needs": "",
        "language_needs": "", "offence_code": "SOA2003-S51A", "offence_code_other": "",
        "offence_date-day": str(offence.day), "offence_date-month": str(offence.month),
        "offence_date-year": str(offence.year), "offence_time": "21:30",
        "offence_location": "Water Lane, Leeds", "crime_reference": "13/1234/26",
        "disposal": "Conditional caution", "admitted": "yes", "consented": "yes",
        "no_relevant_convictions": "yes",
    }
    data.update(overrides)
    return data


@pytest.fixture
def programme(app):
    programme = create_programme()
    db.session.commit()
    return programme


@pytest.fixture
def officer(programme, login_as):
    return login_as("police", force=create_force("WYP", "West Yorkshire Police"))


def referrals() -> list[Referral]:
    return list(db.session.scalars(select(Referral)))


def test_an_officer_refers_an_eligible_man_and_sees_the_reference_and_pin_once(client, officer):
    response = client.post("/referrals/new", data=form_data())
    assert response.status_code == 302
    assert response.location.endswith("/referrals/new/check")
    assert "Sampleton" not in response.location  # the draft never goes in a URL

    check = client.get("/referrals/new/check")
    page = check.get_data(as_text=True)
    assert check.status_code == 200
    assert "The person is eligible for the course" in page
    assert page.count('data-rule="') == 7  # every rule's result, in words
    assert "Aged 46 on the offence date" in page or "on the offence date: 18 or over" in page
    assert "LS1 4AP" in page and "Change" in page
    assert referrals() == []  # nothing is written before the officer confirms

    made = client.post("/referrals/new/check")
    assert made.status_code == 302
    (referral,) = referrals()
    assert made.location.endswith(f"/referrals/{referral.reference}/issued")
    assert referral.status is ReferralStatus.AWAITING_BOOKING
    assert referral.officer_email == officer.email
    assert referral.offence_time == dt.time(21, 30)
    assert referral.person.postcode == "LS1 4AP"

    issued = client.get(made.location).get_data(as_text=True)
    pin = re.search(r"<strong data-pin>(\d{6})</strong>", issued)
    assert pin is not None and pins.verify_pin(referral, pin.group(1))
    assert referral.reference in issued and "Print the offer letter" in issued

    again = client.get(made.location).get_data(as_text=True)
    assert "data-pin" not in again and pin.group(1) not in again
    assert "The PIN was shown once" in again


def test_check_your_answers_shows_the_postcode_and_mobile_as_they_will_be_kept(client, officer):
    response = client.post("/referrals/new", data=form_data(
        family_name="O'Brien-Ñúñez", given_names="Zoë Seán", postcode="ls11aa",
        mobile="07700 900982", preferred_contact="sms"))
    assert response.status_code == 302
    page = html.unescape(client.get("/referrals/new/check").get_data(as_text=True))
    assert "1 Example Road, Leeds, LS1 1AA" in page and "LS11AA" not in page
    assert "+447700900982" in page and "07700 900982" not in page
    assert "O'Brien-Ñúñez" in page and "Zoë Seán" in page
    # A screen reader hears "Change PNC ID", not "Change pnc id".
    assert '<span class="govuk-visually-hidden"> PNC ID</span>' in page
    assert '<span class="govuk-visually-hidden"> date of birth</span>' in page
    client.post("/referrals/new/check")
    (referral,) = referrals()
    assert referral.person.postcode == "LS1 1AA" and referral.person.mobile == "+447700900982"
    assert referral.person.family_name == "O'Brien-Ñúñez"


def test_errors_are_listed_and_shown_beside_their_fields_and_nothing_typed_is_lost(client, officer):
    response = client.post("/referrals/new", data=form_data(
        family_name="", postcode="nowhere", pnc_id="2019/0123456Q", **{"date_of_birth-day": "31",
                                                                      "date_of_birth-month": "2"}))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in page
    assert "Date of birth must be a real date" in page
    assert 'href="#date_of_birth-day"' in page
    assert 'value="Barry John"' in page and 'value="Water Lane, Leeds"' in page
    # The services' own checks, attached to their fields, once the shape is right.
    response = client.post("/referrals/new", data=form_data(postcode="nowhere",
                                                            pnc_id="2019/0123456Q"))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter a real UK postcode, like LS1 4AP" in page
    assert "check letter does not match" in page
    assert 'href="#postcode"' in page and 'href="#pnc_id"' in page
    assert referrals() == []


def test_a_blocking_failure_stops_the_referral_on_the_form_and_says_why(client, officer):
    response = client.post("/referrals/new", data=form_data(admitted="no"))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The person did not admit the offence" in page
    assert 'href="#admitted"' in page
    assert client.get("/referrals/new/check").status_code == 302  # no draft to check
    assert referrals() == []


NO_REFERRAL_WORDS = ("If these answers are right, the person cannot be referred to the course "
                     "and no referral is made: deal with the offence another way")


def test_a_refusal_on_the_form_tells_the_officer_what_it_means_and_what_to_do_next(
        client, officer):
    page = client.post("/referrals/new", data=form_data(consented="no")).get_data(as_text=True)
    assert NO_REFERRAL_WORDS in html.unescape(_summary(page))


def test_a_form_with_only_mistakes_to_correct_does_not_speak_of_a_refusal(client, officer):
    page = client.post("/referrals/new", data=form_data(postcode="nowhere", family_name="")
                       ).get_data(as_text=True)
    assert "Enter the family name" in page
    assert NO_REFERRAL_WORDS not in html.unescape(page)


def _summary(page: str) -> str:
    start = page.index("govuk-error-summary")
    return page[start:page.index("</ul>", start)]


def test_a_bad_date_does_not_hide_missing_fields_or_refusals(client, officer):
    response = client.post("/referrals/new", data=form_data(**{
        "date_of_birth-day": "31", "date_of_birth-month": "2", "family_name": "",
        "crime_reference": "", "consented": "no", "no_relevant_convictions": "no"}))

    assert response.status_code == 400
    summary = _summary(response.get_data(as_text=True))
    for message, anchor in (
            ("Date of birth must be a real date", "#date_of_birth-day"),
            ("Enter the family name", "#family_name"),
            ("Enter the crime reference", "#crime_reference"),
            ("The person did not consent to the diversion", "#consented"),
            ("The person has relevant previous convictions", "#no_relevant_convictions")):
        assert message in summary, message
        assert f'href="{anchor}"' in summary, anchor
    assert referrals() == []


def test_with_no_way_to_contact_chosen_only_the_choice_is_asked_for(client, officer):
    response = client.post("/referrals/new", data=form_data(
        preferred_contact="", email="", address_line_1="", postcode=""))

    summary = _summary(response.get_data(as_text=True))
    assert "Choose how we should contact the person" in summary
    assert "or choose another way to contact the person" not in summary


def test_an_under_18_is_refused_together_with_every_other_problem(client, officer):
    offence = today() - dt.timedelta(days=3)
    response = client.post("/referrals/new", data=form_data(**{
        "date_of_birth-year": str(offence.year - 16), "given_names": "", "admitted": "no",
        "offence_code": "other", "offence_code_other": "TH68"}))

    assert response.status_code == 400
    summary = _summary(response.get_data(as_text=True))
    assert "18 or over" in summary and 'href="#date_of_birth-day"' in summary
    assert "Enter the given names" in summary and 'href="#given_names"' in summary
    assert "The person did not admit the offence" in summary and 'href="#admitted"' in summary
    assert "TH68 is not one the programme accepts" in summary
    assert 'href="#offence_code_other"' in summary
    assert referrals() == []
    assert db.session.scalar(select(func.count()).select_from(Person)) == 0


def test_a_late_referral_is_shown_as_a_warning_and_recorded_with_the_referral(client, officer):
    late = today() - dt.timedelta(days=40)
    client.post("/referrals/new", data=form_data(**{
        "offence_date-day": str(late.day), "offence_date-month": str(late.month),
        "offence_date-year": str(late.year)}))
    page = client.get("/referrals/new/check").get_data(as_text=True)
    assert "The person is eligible for the course" in page
    assert "40 days after the offence" in page and "Warning" in page
    assert client.post("/referrals/new/check").status_code == 302
    (referral,) = referrals()
    timing = next(r for r in referral.eligibility if r["code"] == "timing")
    assert timing["passed"] is False and timing["blocking"] is False


def test_a_near_match_is_offered_and_choosing_a_different_person_creates_a_new_record(
        client, officer):
    existing = create_referral(force=officer.force, family_name="Smyth", given_names="Barry",
                               date_of_birth=dt.date(1980, 1, 2))
    db.session.commit()
    response = client.post("/referrals/new", data=form_data(family_name="Smith"))
    assert response.location.endswith("/referrals/new/person")
    page = client.get("/referrals/new/person").get_data(as_text=True)
    assert "Barry Smyth" in page and "Possible match" in page and "Similar family name" in page
    assert "Same person: <strong>Barry Smyth</strong>" in page and "&lt;strong&gt;" not in page
    assert client.post("/referrals/new/person", data={}).status_code == 400  # a choice is needed
    client.post("/referrals/new/person", data={"person": "new"})
    check = client.get("/referrals/new/check").get_data(as_text=True)
    assert "A new person record" in check and "The person is eligible" in check
    client.post("/referrals/new/check")
    assert db.session.scalar(select(func.count()).select_from(Person)) == 2
    assert existing.person.family_name == "Smyth"  # nobody merged


def test_the_people_on_record_shown_as_possible_matches_are_audited(client, officer):
    """The match page shows people on record (name, date of birth, PNC ID, town), whichever
    force referred them: a consultation of their personal data, as a list or a search is."""
    other_force = create_force("NYP", "North Yorkshire Police")
    existing = create_referral(force=other_force, family_name="Smyth", given_names="Barry",
                               date_of_birth=dt.date(1980, 1, 2))
    db.session.commit()
    client.post("/referrals/new", data=form_data(family_name="Smith"))

    page = client.get("/referrals/new/person")

    assert "Barry Smyth" in page.get_data(as_text=True)
    [event] = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "person.matches_view")).all()
    assert event.category is AuditCategory.CONSULTATION and event.actor_user_id == officer.id
    assert event.details["people"] == [existing.person_id] and event.details["count"] == 1
    assert "Smyth" not in str(event.details)


def test_choosing_the_same_person_links_the_record_and_checks_their_history(client, officer):
    existing = create_referral(force=officer.force, family_name="Smyth", given_names="Barry",
                               date_of_birth=dt.date(1980, 1, 2))
    db.session.commit()
    client.post("/referrals/new", data=form_data(family_name="Smith"))
    client.post("/referrals/new/person", data={"person": str(existing.person_id)})
    page = client.get("/referrals/new/check").get_data(as_text=True)
    assert "Linked to Barry Smyth" in page
    assert f"already has an open referral ({existing.reference})" in page
    assert client.post("/referrals/new/check").status_code == 422
    assert len(referrals()) == 1


def test_a_person_who_cannot_be_referred_is_shown_what_to_do_next_and_how_to_clear_the_form(
        client, officer):
    existing = create_referral(force=officer.force, family_name="Smyth", given_names="Barry",
                               date_of_birth=dt.date(1980, 1, 2))
    db.session.commit()
    client.post("/referrals/new", data=form_data(family_name="Smith"))
    client.post("/referrals/new/person", data={"person": str(existing.person_id)})
    page = html.unescape(client.get("/referrals/new/check").get_data(as_text=True))
    assert ("If the answers are right, the person cannot be referred to the course and no "
            "referral is made: deal with the offence another way") in page
    assert 'href="/referrals/new/discard">Clear the form</a>' in page
    assert "Make the referral</button>" not in page


def test_a_crime_reference_already_used_by_the_force_is_shown_on_its_field(client, officer):
    create_referral(force=officer.force, crime_reference="13/1234/26")
    db.session.commit()
    response = client.post("/referrals/new", data=form_data())
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Crime reference 13/1234/26 has already been referred" in page
    assert 'href="#crime_reference"' in page


def test_another_offence_code_can_be_typed_and_is_checked_against_the_programme(client, officer):
    refused = client.post("/referrals/new", data=form_data(offence_code="other",
                                                           offence_code_other="ABC-123"))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "Offence ABC-123 is not one the programme accepts" in page
    assert 'href="#offence_code_other"' in page
    missing = client.post("/referrals/new", data=form_data(offence_code="other"))
    assert missing.status_code == 400 and "Enter the offence code" in missing.get_data(as_text=True)


def test_the_form_comes_back_filled_in_from_the_draft_when_changing_an_answer(client, officer):
    client.post("/referrals/new", data=form_data())
    page = client.get("/referrals/new").get_data(as_text=True)
    assert 'value="Sampleton"' in page and "There is a problem" not in page
    assert 'href="/referrals/new/discard"' in page  # a check page, not a one-click clear
    check = client.get("/referrals/new/discard")
    assert check.status_code == 200 and "Clear the form and start again?" in check.text
    assert 'value="Sampleton"' in client.get("/referrals/new").get_data(as_text=True)
    client.post("/referrals/new/discard")
    assert 'value="Sampleton"' not in client.get("/referrals/new").get_data(as_text=True)


def test_a_manager_chooses_the_force_and_names_the_officer(client, programme, login_as):
    force = create_force("NPT", "Northamptonshire Police")
    db.session.commit()
    manager = login_as("manager")
    missing = client.post("/referrals/new", data=form_data())
    assert missing.status_code == 400
    assert "Enter the police force" in missing.get_data(as_text=True)
    client.post("/referrals/new", data=form_data(force_code="NPT",
                                                 officer_email="pc.jones@npt.example"))
    assert "Northamptonshire Police" in client.get("/referrals/new/check").get_data(as_text=True)
    client.post("/referrals/new/check")
    (referral,) = referrals()
    assert referral.force_id == force.id and referral.officer_email == "pc.jones@npt.example"
    created = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "referral.create"))
    assert created.category is AuditCategory.COLLECTION and created.actor_user_id == manager.id


def test_check_your_answers_without_a_draft_goes_back_to_the_form(client, officer):
    response = client.get("/referrals/new/check")
    assert response.status_code == 302 and response.location.endswith("/referrals/new")


def test_facilitators_cannot_refer(client, programme, login_as):
    login_as("facilitator")
    assert client.get("/referrals/new").status_code == 403
    assert client.get("/referrals").status_code == 403
