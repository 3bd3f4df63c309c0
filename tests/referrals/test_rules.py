import datetime as dt

from diversion.referrals import rules
from diversion.referrals.rules import EligibilityInput, PriorReferral, ProgrammeRules

TODAY = dt.date(2026, 6, 15)
PROGRAMME = ProgrammeRules(programme_id=1,
                           eligible_offence_codes=["SOA2003-S51A", "SOA1985-S1", "SOA1985-S2"])


def data(**overrides):
    values = dict(date_of_birth=dt.date(1980, 1, 2), offence_code="SOA2003-S51A",
                  offence_date=dt.date(2026, 6, 1), referral_date=dt.date(2026, 6, 10),
                  admitted=True, consented=True, no_relevant_convictions=True, prior_referrals=())
    values.update(overrides)
    return EligibilityInput(**values)


def by_code(results):
    return {r.code: r for r in results}


def test_an_eligible_referral_passes_all_seven_rules_in_order():
    results = rules.evaluate(data(), PROGRAMME, today=TODAY)
    assert [r.code for r in results] == ["adult", "offence_code", "admitted_consented",
                                         "no_recent_diversion", "no_open_referral",
                                         "no_relevant_convictions", "timing"]
    assert all(r.passed for r in results)
    assert rules.is_eligible(results)


def test_rule_1_someone_18_on_the_offence_date_passes():
    result = rules.rule_adult(data(date_of_birth=dt.date(2008, 6, 1)))
    assert result.passed


def test_rule_1_someone_a_day_short_of_18_fails_and_blocks():
    result = rules.rule_adult(data(date_of_birth=dt.date(2008, 6, 2)))
    assert not result.passed and result.blocking
    assert "18 or over" in result.message


def test_rule_2_an_offence_code_the_programme_accepts_passes_in_any_case():
    assert rules.rule_offence_code(data(offence_code="soa1985-s1"), PROGRAMME).passed


def test_rule_2_another_offence_code_fails_and_names_the_accepted_ones():
    result = rules.rule_offence_code(data(offence_code="TA1968-S1"), PROGRAMME)
    assert not result.passed and result.blocking
    assert "TA1968-S1" in result.message and "SOA2003-S51A" in result.message


def test_rule_3_passes_when_admitted_and_consented():
    assert rules.rule_admitted_and_consented(data()).passed


def test_rule_3_fails_without_admission():
    result = rules.rule_admitted_and_consented(data(admitted=False))
    assert not result.passed and result.blocking and "admit the offence" in result.message


def test_rule_3_fails_without_consent():
    result = rules.rule_admitted_and_consented(data(consented=False))
    assert not result.passed and "consent" in result.message


def prior(day, *, programme_id=1, is_open=False, is_withdrawn=False, reference="ACDEFHJK",
          force_id=None):
    return PriorReferral(reference=reference, programme_id=programme_id, referral_date=day,
                         is_open=is_open, is_withdrawn=is_withdrawn, force_id=force_id)


def test_rule_4_an_offer_more_than_three_years_before_the_offence_passes():
    result = rules.rule_no_recent_diversion(data(prior_referrals=[prior(dt.date(2023, 5, 31))]),
                                            PROGRAMME)
    assert result.passed


def test_rule_4_an_offer_three_years_to_the_day_before_the_offence_fails():
    result = rules.rule_no_recent_diversion(data(prior_referrals=[prior(dt.date(2023, 6, 1))]),
                                            PROGRAMME)
    assert not result.passed and result.blocking
    assert "1 June 2023" in result.message and "3 years" in result.message


def test_rule_4_ignores_other_programmes_and_withdrawn_offers():
    priors = [prior(dt.date(2025, 1, 1), programme_id=2),
              prior(dt.date(2025, 1, 1), is_withdrawn=True)]
    assert rules.rule_no_recent_diversion(data(prior_referrals=priors), PROGRAMME).passed


def test_rule_5_passes_when_earlier_referrals_have_all_ended():
    assert rules.rule_no_open_referral(data(prior_referrals=[prior(dt.date(2020, 1, 1))])).passed


def test_rule_5_fails_when_another_referral_is_open():
    result = rules.rule_no_open_referral(
        data(prior_referrals=[prior(dt.date(2026, 5, 1), is_open=True, reference="KMNPRTUV")]))
    assert not result.passed and result.blocking and "KMNPRTUV" in result.message


def test_rule_4_names_no_reference_or_date_of_another_forces_offer():
    """The message is shown to the referring officer and kept with his force's referral; a
    police user never sees another force's referrals."""
    result = rules.rule_no_recent_diversion(
        data(force_id=1, prior_referrals=[prior(dt.date(2025, 6, 1), force_id=2)]), PROGRAMME)
    assert not result.passed and result.blocking
    assert "ACDEFHJK" not in result.message and "2025" not in result.message
    assert "another police force" in result.message and "3 years" in result.message
    own = rules.rule_no_recent_diversion(
        data(force_id=1, prior_referrals=[prior(dt.date(2025, 6, 1), force_id=1)]), PROGRAMME)
    assert "ACDEFHJK" in own.message and "1 June 2025" in own.message


def test_rule_5_names_only_the_forces_own_open_referrals():
    others = [prior(dt.date(2026, 5, 1), is_open=True, reference="KMNPRTUV", force_id=2)]
    result = rules.rule_no_open_referral(data(force_id=1, prior_referrals=others))
    assert not result.passed and result.blocking and "KMNPRTUV" not in result.message
    assert "open referral with another police force" in result.message
    both = others + [prior(dt.date(2026, 5, 2), is_open=True, reference="ACDEFHJK", force_id=1)]
    result = rules.rule_no_open_referral(data(force_id=1, prior_referrals=both))
    assert "(ACDEFHJK) and one with another police force" in result.message
    assert "KMNPRTUV" not in result.message


def test_rule_6_passes_when_the_officer_confirms_no_relevant_convictions():
    assert rules.rule_no_relevant_convictions(data()).passed


def test_rule_6_fails_when_there_are_relevant_convictions():
    result = rules.rule_no_relevant_convictions(data(no_relevant_convictions=False))
    assert not result.passed and result.blocking


def test_rule_6_fails_when_the_officer_has_not_said():
    result = rules.rule_no_relevant_convictions(data(no_relevant_convictions=None))
    assert not result.passed and "not confirmed" in result.message


def test_rule_7_passes_for_a_referral_within_28_days():
    result = rules.rule_timing(data(referral_date=dt.date(2026, 6, 29)), PROGRAMME, today=TODAY)
    assert result.passed


def test_rule_7_a_referral_after_28_days_is_a_warning_that_does_not_block():
    results = rules.evaluate(data(referral_date=dt.date(2026, 6, 30)), PROGRAMME,
                             today=dt.date(2026, 7, 1))
    timing = by_code(results)["timing"]
    assert not timing.passed and not timing.blocking and "29 days" in timing.message
    assert rules.is_eligible(results)


def test_rule_7_an_offence_in_the_future_fails_and_blocks():
    result = rules.rule_timing(data(offence_date=dt.date(2026, 6, 16),
                                    referral_date=dt.date(2026, 6, 16)), PROGRAMME, today=TODAY)
    assert not result.passed and result.blocking


def test_one_blocking_failure_makes_the_referral_ineligible():
    assert not rules.is_eligible(rules.evaluate(data(admitted=False), PROGRAMME, today=TODAY))


def test_months_are_added_on_the_calendar_and_clamped_to_month_end():
    assert rules.add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert rules.add_months(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert rules.add_months(dt.date(2026, 10, 31), 4) == dt.date(2027, 2, 28)
    assert rules.add_months(dt.date(2026, 3, 15), -36) == dt.date(2023, 3, 15)


def test_deadlines_follow_the_programme_unless_a_completion_date_is_given():
    assert rules.booking_deadline(dt.date(2026, 6, 10), 28) == dt.date(2026, 7, 8)
    assert rules.completion_deadline(dt.date(2026, 6, 1), 4) == dt.date(2026, 10, 1)
    assert rules.completion_deadline(dt.date(2026, 6, 1), 4,
                                     given=dt.date(2026, 9, 1)) == dt.date(2026, 9, 1)


def test_age_counts_whole_years_and_leap_day_birthdays_turn_on_1_march():
    assert rules.age_on(dt.date(2008, 2, 29), dt.date(2026, 2, 28)) == 17
    assert rules.age_on(dt.date(2008, 2, 29), dt.date(2026, 3, 1)) == 18


def test_refusals_by_field_judge_only_the_rules_whose_answers_are_known() -> None:
    programme = rules.ProgrammeRules(programme_id=1, eligible_offence_codes=["SOA2003-S51A"])
    today = dt.date(2026, 6, 15)

    refusals = rules.refusals_by_field(
        {"date_of_birth": dt.date(2010, 1, 1), "offence_date": dt.date(2026, 6, 1),
         "referral_date": today, "consented": False, "offence_code": "TH68",
         "no_relevant_convictions": False}, programme, today=today)

    assert set(refusals) == {"date_of_birth", "consented", "offence_code",
                             "no_relevant_convictions"}
    assert "only for people aged 18 or over" in refusals["date_of_birth"]
    assert "admit" not in refusals["consented"]  # admitted was not answered: not judged
    assert rules.refusals_by_field({"referral_date": today}, programme, today=today) == {}
