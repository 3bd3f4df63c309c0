import datetime as dt

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.referrals import amending, creation, intake, matching, pins, reading
from diversion.referrals.creation import IneligibleReferral
from diversion.referrals.forms import ReferralForm
from diversion.referrals.intake import referral_input_from_row
from diversion.referrals.models import Person, Referral, ReferralStatus
from tests.builders import (
    NOW,
    create_force,
    create_programme,
    create_referral,
    create_user,
    referral_input,
)


@pytest.fixture
def programme(app):
    return create_programme()


@pytest.fixture
def force(app):
    return create_force("WYP", "West Yorkshire Police")


def create(data, actor=None, **kwargs):
    return creation.create_referral(data=data, actor=actor, now=NOW, **kwargs)


def audit_actions(object_type=None):
    query = select(AuditEvent.action, AuditEvent.category)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    return [(a, c) for a, c in db.session.execute(query.order_by(AuditEvent.id))]


def errors_of(data, actor=None):
    with pytest.raises(ValidationFailed) as caught:
        create(data, actor)
    return caught.value.errors


# Creating ------------------------------------------------------------------------------------

def test_an_eligible_referral_is_created_awaiting_booking_with_deadlines_pin_and_rules(
        programme, force):
    referral, pin, eligibility = create(referral_input(force_code="wyp", mobile="07911 123456",
                                                       postcode="ls1 4ap", pnc_id="19/0123456E"))
    assert referral.status is ReferralStatus.AWAITING_BOOKING
    assert len(referral.reference) == 8
    assert set(referral.reference) <= set(reading.REFERENCE_ALPHABET)
    assert pin.isdigit() and len(pin) == 6 and pin not in referral.pin_hash
    assert pins.verify_pin(referral, pin)
    assert referral.booking_deadline == dt.date(2026, 7, 8)  # 10 June + 28 days
    assert referral.completion_deadline == dt.date(2026, 10, 1)  # 1 June + 4 months
    assert [r.code for r in eligibility] == [r["code"] for r in referral.eligibility]
    assert all(r["passed"] for r in referral.eligibility)
    person = referral.person
    assert (person.mobile, person.postcode, person.pnc_id) == (
        "+447911123456", "LS1 4AP", "2019/0123456E")
    assert ("person.create", AuditCategory.COLLECTION) in audit_actions("person")
    assert ("referral.create", AuditCategory.COLLECTION) in audit_actions("referral")


def test_a_completion_deadline_from_the_caution_overrides_the_programme(programme, force):
    referral = create(referral_input(force_code="WYP",
                                     completion_deadline=dt.date(2026, 8, 31))).referral
    assert referral.completion_deadline == dt.date(2026, 8, 31)
    assert referral.is_completion_deadline_given


def test_the_officer_email_is_kept_as_given_and_linked_to_their_account(programme, force):
    officer = create_user("police", force=force, email="pc.jones@police.example")
    referral = create(referral_input(officer_email="PC.Jones@Police.Example"), officer).referral
    assert referral.officer_email == "PC.Jones@Police.Example"
    assert referral.officer_user_id == officer.id
    assert referral.force_id == force.id  # defaults to the officer's force
    assert referral.created_by_user_id == officer.id


def test_a_late_referral_is_created_with_its_warning_recorded(programme, force):
    referral, _, eligibility = create(referral_input(
        force_code="WYP", offence_date=dt.date(2026, 4, 1), referral_date=dt.date(2026, 6, 10)))
    timing = next(r for r in referral.eligibility if r["code"] == "timing")
    assert timing["passed"] is False and timing["blocking"] is False
    assert any(not r.passed for r in eligibility)


def test_an_ineligible_referral_is_refused_with_every_rule_and_nothing_is_written(programme, force):
    with pytest.raises(IneligibleReferral) as caught:
        create(referral_input(force_code="WYP", offence_code="TA1968-S1", admitted=False))
    failed = {r.code for r in caught.value.results if not r.passed}
    assert failed == {"offence_code", "admitted_consented"}
    assert len(caught.value.extra["eligibility"]) == 7
    assert caught.value.status == 422
    db.session.flush()
    assert db.session.scalar(select(db.func.count()).select_from(Person)) == 0
    assert db.session.scalar(select(db.func.count()).select_from(Referral)) == 0
    assert audit_actions("referral") == [] and audit_actions("person") == []


def test_a_second_referral_while_one_is_open_is_refused(programme, force):
    pnc = "2019/0123456E"
    first = create(referral_input(force_code="WYP", pnc_id=pnc)).referral
    with pytest.raises(IneligibleReferral) as caught:
        create(referral_input(force_code="WYP", pnc_id=pnc, family_name="Other"))
    open_rule = next(r for r in caught.value.results if r.code == "no_open_referral")
    assert not open_rule.passed and first.reference in open_rule.message


def test_a_repeat_within_three_years_is_refused_even_after_the_first_ended(programme, force):
    from diversion.referrals import lifecycle

    first = create(referral_input(force_code="WYP", referral_date=dt.date(2024, 1, 10),
                                  offence_date=dt.date(2024, 1, 1))).referral
    lifecycle.transition(first, "deadline_passed", actor=None, now=NOW)
    with pytest.raises(IneligibleReferral) as caught:
        create(referral_input(force_code="WYP", family_name=first.person.family_name))
    assert {r.code for r in caught.value.results if not r.passed} == {"no_recent_diversion"}


def test_a_crime_reference_already_used_in_the_force_is_a_conflict(programme, force):
    create(referral_input(force_code="WYP", crime_reference="13/123/26"))
    with pytest.raises(Conflict) as caught:
        create(referral_input(force_code="WYP", crime_reference=" 13/123/26 "))
    assert caught.value.field == "crime_reference" and caught.value.status == 409


def test_the_same_crime_reference_in_another_force_is_fine(programme, force):
    create_force("NTH", "Northamptonshire Police")
    create(referral_input(force_code="WYP", crime_reference="13/123/26"))
    assert create(referral_input(force_code="NTH", crime_reference="13/123/26")).referral.id


def test_the_database_refuses_a_duplicate_crime_reference_in_a_force(programme, force):
    from sqlalchemy.exc import IntegrityError

    first = create(referral_input(force_code="WYP")).referral
    second = create(referral_input(force_code="WYP")).referral
    second.crime_reference = first.crime_reference
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


# Validation ----------------------------------------------------------------------------------

def test_missing_fields_are_each_named(programme, force):
    errors = errors_of(referral_input(force_code="WYP", crime_reference="", family_name="",
                                      given_names="", date_of_birth=None, offence_date=None,
                                      referral_date=None, offence_code="", officer_email="",
                                      admitted=None, consented=None,
                                      no_relevant_convictions=None))
    assert set(errors) >= {"crime_reference", "family_name", "given_names", "date_of_birth",
                           "offence_date", "referral_date", "offence_code", "officer_email",
                           "admitted", "consented", "no_relevant_convictions"}
    assert errors["date_of_birth"] == "Enter the date of birth"


def test_dates_in_the_future_are_refused(programme, force):
    errors = errors_of(referral_input(force_code="WYP", offence_date=dt.date(2026, 6, 16),
                                      referral_date=dt.date(2026, 6, 16)))
    assert errors["offence_date"] == "Offence date must be today or in the past"
    assert errors["referral_date"] == "Referral date must be today or in the past"


def test_someone_under_18_on_the_offence_date_is_refused(programme, force):
    errors = errors_of(referral_input(force_code="WYP", date_of_birth=dt.date(2008, 6, 2)))
    assert "18 or over on the offence date" in errors["date_of_birth"]


def test_a_referral_before_the_offence_is_refused(programme, force):
    errors = errors_of(referral_input(force_code="WYP", referral_date=dt.date(2026, 5, 31)))
    assert errors["referral_date"] == "Referral date must be on or after the offence date"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("pnc_id", "2019/0123456F", "check letter"),
    ("pnc_id", "12345", "format YYYY/NNNNNNNL"),
    ("postcode", "LS99 ZZZ", "real UK postcode"),
    ("email", "not-an-email", "correct format"),
    ("mobile", "12345", "mobile phone number"),
    ("mobile", "0113 496 0000", "mobile phone number"),  # a landline
    ("officer_email", "pc jones", "correct format"),
])
def test_malformed_details_are_refused_with_a_message_a_person_understands(
        programme, force, field, value, message):
    assert message in errors_of(referral_input(force_code="WYP", **{field: value}))[field]


def test_a_contact_channel_needs_its_details(programme, force):
    errors = errors_of(referral_input(force_code="WYP", email=None, preferred_contact="sms"))
    assert "mobile" in errors


def test_an_unknown_force_or_programme_code_is_refused(programme, force):
    errors = errors_of(referral_input(force_code="XXX", programme_code="NOPE"))
    assert errors["force_code"] == "There is no police force with the code XXX"
    assert errors["programme_code"] == "There is no programme with the code NOPE"


def test_the_programme_code_is_needed_only_when_there_is_more_than_one(programme, force):
    create_programme("OTHER", name="Another course")
    errors = errors_of(referral_input(force_code="WYP"))
    assert errors["programme_code"] == "Enter the programme's code"


def test_police_can_only_refer_for_their_own_force(programme, force):
    other = create_force("NTH")
    officer = create_user("police", force=other)
    errors = errors_of(referral_input(force_code="WYP"), officer)
    assert errors["force_code"] == "You can only make referrals for your own force (NTH)"


def test_facilitators_cannot_make_referrals(programme, force):
    with pytest.raises(Forbidden):
        create(referral_input(force_code="WYP"), create_user("facilitator"))


# People --------------------------------------------------------------------------------------

def test_an_exact_match_is_linked_and_missing_details_added(programme, force):
    from diversion.referrals import lifecycle

    first = create(referral_input(force_code="WYP", family_name="Smith", given_names="John",
                                  email=None, mobile="07911123456",
                                  preferred_contact="sms")).referral
    lifecycle.transition(first, "withdrawn", actor=None, now=NOW, reason="Entered in error")
    second = create(referral_input(force_code="WYP", family_name="SMITH", given_names="john paul",
                                   email="john@example.com")).referral
    assert second.person_id == first.person_id
    assert second.person.email == "john@example.com"
    assert second.person.mobile == "+447911123456"
    assert ("person.update", AuditCategory.ALTERATION) in audit_actions("person")


def test_a_possible_match_is_never_merged(programme, force):
    first = create(referral_input(force_code="WYP", family_name="Smith", given_names="John")).referral
    second = create(referral_input(force_code="WYP", family_name="Smyth", given_names="Jon")).referral
    assert second.person_id != first.person_id


def test_the_officer_may_choose_a_new_person_beside_an_exact_name_match(programme, force):
    from diversion.referrals import lifecycle

    first = create(referral_input(force_code="WYP", family_name="Smith", given_names="John")).referral
    lifecycle.transition(first, "withdrawn", actor=None, now=NOW, reason="Entered in error")
    second = create(referral_input(force_code="WYP", family_name="Smith", given_names="John"),
                    new_person=True).referral
    assert second.person_id != first.person_id


def test_the_officer_may_link_a_chosen_person(programme, force):
    from diversion.referrals import lifecycle

    first = create(referral_input(force_code="WYP", family_name="Smith", given_names="John")).referral
    lifecycle.transition(first, "withdrawn", actor=None, now=NOW, reason="Entered in error")
    second = create(referral_input(force_code="WYP", family_name="Smyth", given_names="Jon"),
                    person_id=first.person_id).referral
    assert second.person_id == first.person_id


def test_find_matches_is_offered_by_the_services(programme, force):
    first = create(referral_input(force_code="WYP", family_name="Smith", given_names="John")).referral
    matches = matching.find_matches(family_name="Smyth", given_names="John",
                                    date_of_birth=first.person.date_of_birth)
    assert [(m.person.id, m.kind) for m in matches] == [(first.person_id, "possible")]


# Historical records --------------------------------------------------------------------------

def test_a_historical_record_skips_eligibility_and_is_closed_without_a_notice(programme, force):
    from diversion.outbox.models import OutboxMessage

    referral, pin, _ = create(referral_input(
        force_code="WYP", offence_code="TA1968-S1", no_relevant_convictions=None,
        referral_date=dt.date(2022, 3, 1), offence_date=dt.date(2022, 2, 20),
        outcome="not_completed", outcome_date=dt.date(2022, 7, 1)))
    assert pin == "" and not pins.verify_pin(referral, "")
    assert referral.status is ReferralStatus.NOT_COMPLETED
    assert referral.closed_on == dt.date(2022, 7, 1)
    assert referral.is_historical and referral.eligibility == []
    assert [e.event.value for e in referral.events] == ["created", "imported_not_completed"]
    assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 0


def test_a_historical_record_needs_a_known_outcome_and_its_date(programme, force):
    errors = errors_of(referral_input(force_code="WYP", outcome="finished"))
    assert errors["outcome"] == "Outcome must be completed, not_completed or withdrawn"
    assert errors["outcome_date"] == "Enter the date of the outcome"


# Rows of text --------------------------------------------------------------------------------

def test_a_csv_row_is_parsed_with_either_date_format_and_yes_no():
    data = referral_input_from_row({
        "crime_reference": "13/1/26", "referral_date": "10/06/2026", "family_name": "Smith",
        "given_names": "John", "date_of_birth": "1980-01-02", "offence_code": "SOA2003-S51A",
        "offence_date": "2026-06-01", "officer_email": "pc@police.example", "admitted": "Yes",
        "consented": "no", "no_relevant_convictions": "", "postcode": " "})
    assert data.referral_date == dt.date(2026, 6, 10)
    assert (data.admitted, data.consented, data.no_relevant_convictions) == (True, False, None)
    assert data.postcode is None


def test_a_csv_row_with_an_impossible_date_or_bad_yes_no_names_the_columns():
    with pytest.raises(ValidationFailed) as caught:
        referral_input_from_row({"date_of_birth": "31/02/1980", "admitted": "maybe"})
    assert caught.value.errors == {
        "date_of_birth": "Date of birth must be a real date, like 2026-03-27 or 27/03/2026",
        "admitted": "Admitted must be yes or no"}


# Scope, withdrawing, PINs --------------------------------------------------------------------

def test_police_see_their_own_forces_referrals_and_a_view_is_audited(programme, force):
    officer = create_user("police", force=force)
    referral = create_referral(force=force)
    found = reading.read_referral_audited(reference=referral.reference.lower(), actor=officer, now=NOW)
    assert found.id == referral.id
    assert ("referral.view", AuditCategory.CONSULTATION) in audit_actions("referral")


def test_police_of_another_force_and_facilitators_get_not_found(programme, force):
    referral = create_referral(force=force)
    for actor in (create_user("police", force=create_force("NTH")), create_user("facilitator")):
        with pytest.raises(NotFound):
            reading.read_referral_audited(reference=referral.reference, actor=actor, now=NOW)


def test_managers_and_admins_see_every_force(programme, force):
    referral = create_referral(force=force)
    for role in ("manager", "admin"):
        assert reading.read_referral_audited(reference=referral.reference, actor=create_user(role),
                                         now=NOW).id == referral.id


def test_withdrawing_needs_a_reason_and_records_it(programme, force):
    officer = create_user("police", force=force)
    referral = create_referral(force=force)
    with pytest.raises(ValidationFailed):
        amending.withdraw_referral(reference=referral.reference, reason=" ", actor=officer, now=NOW)
    amending.withdraw_referral(reference=referral.reference, reason="Charged instead",
                               actor=officer, now=NOW)
    assert referral.status is ReferralStatus.WITHDRAWN
    assert referral.events[-1].reason == "Charged instead"


def test_withdrawing_an_ended_referral_is_an_invalid_transition(programme, force):
    manager = create_user("manager")
    referral = create_referral(force=force)
    amending.withdraw_referral(reference=referral.reference, reason="x", actor=manager, now=NOW)
    with pytest.raises(InvalidTransition):
        amending.withdraw_referral(reference=referral.reference, reason="x", actor=manager, now=NOW)


def test_police_cannot_withdraw_another_forces_referral(programme, force):
    referral = create_referral(force=force)
    with pytest.raises(NotFound):
        amending.withdraw_referral(reference=referral.reference, reason="x",
                                   actor=create_user("police", force=create_force("NTH")), now=NOW)
    assert referral.status is ReferralStatus.AWAITING_BOOKING


def test_reissuing_the_pin_invalidates_the_old_one(programme, force):
    referral, old_pin, _ = create(referral_input(force_code="WYP"))
    _, new_pin = amending.reissue_pin(reference=referral.reference, actor=create_user("manager"),
                                      now=NOW)
    assert pins.verify_pin(referral, new_pin)
    assert old_pin == new_pin or not pins.verify_pin(referral, old_pin)
    assert ("referral.pin_reissue", AuditCategory.ALTERATION) in audit_actions("referral")


def test_counts_for_stats(programme, force):
    create_referral(force=force)
    assert reading.count_people() == 1
    assert reading.count_referrals_by_status()["awaiting_booking"] == 1
    assert reading.count_referrals_by_status()["completed"] == 0


@pytest.mark.parametrize("typed", [
    ReferralForm.mobile.kwargs["description"].removeprefix("For example, "),  # the form's hint
    "07700 900 000", "+44 7700 900999",
])
def test_the_example_numbers_ofcom_keeps_for_drama_are_accepted_as_mobiles(typed):
    # The hint's own example must not be refused; libphonenumber calls the 07700 900xxx range
    # invalid because Ofcom keeps it for drama and examples.
    assert intake.normalise_mobile(typed) == "+447700" + typed.replace(" ", "")[-6:]


def test_only_the_drama_range_is_let_through_not_its_neighbours():
    with pytest.raises(ValueError):
        intake.normalise_mobile("07700 901 000")


def test_references_are_eight_characters_of_the_alphabet_every_character_alike(app):
    references = creation.new_references(23_000)
    assert len(set(references)) == 23_000
    assert {len(reference) for reference in references} == {reading.REFERENCE_LENGTH}
    for position in range(reading.REFERENCE_LENGTH):
        counts = {c: 0 for c in reading.REFERENCE_ALPHABET}
        for reference in references:
            counts[reference[position]] += 1  # a character outside the alphabet: KeyError
        # 1,000 expected of each (a standard deviation of 31): no character missing or favoured.
        assert 800 < min(counts.values()) <= max(counts.values()) < 1200, counts
