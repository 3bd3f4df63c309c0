"""Proven reoffending against hand-computed fixtures (DESIGN.md "Reoffending measure")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from diversion.core.errors import ValidationFailed
from diversion.reports.reoffending import (
    JDL_WARNING,
    CohortReferral,
    Reoffence,
    add_months,
    is_proven_reoffence,
    is_reportable,
    proven_reoffending,
    quarters_between,
    wilson_interval,
)

D = dt.date
INDEX = D(2024, 3, 15)
CONTRACT_KEYS = {"measure", "scope", "as_of", "from", "to", "follow_up_months", "waiting_months",
                 "cohorts", "excluded"}
COHORT_KEYS = {"period", "group", "people", "reoffenders", "reoffences", "rate", "ci95",
               "per_offender", "per_reoffender", "suppressed"}


def conviction(person: object, offence: dt.date, proven: dt.date | None = None, *,
               outcome: str = "conviction", code: str = "TH68001") -> Reoffence:
    return Reoffence(person_id=person, offence_date=offence, outcome=outcome,
                     outcome_date=proven if proven is not None else offence + dt.timedelta(days=30),
                     offence_code=code)


def people(count: int, day: dt.date, outcome: str = "completed", prefix: str = "p") -> list[CohortReferral]:
    return [CohortReferral(referral_id=f"{prefix}{i}-r", person_id=f"{prefix}{i}", referral_date=day,
                           outcome=outcome) for i in range(count)]


def report(referrals: list[CohortReferral], reoffences: list[Reoffence] = (), **kwargs: Any
           ) -> dict[str, Any]:
    params: dict[str, Any] = {"date_from": D(2024, 1, 1), "date_to": D(2024, 12, 31),
                              "as_of": D(2026, 6, 30)}
    params.update(kwargs)
    return proven_reoffending(referrals, list(reoffences), **params)


def row(result: dict[str, Any], period: str, group: str) -> dict[str, Any]:
    [found] = [c for c in result["cohorts"] if c["period"] == period and c["group"] == group]
    return found


# --- Month arithmetic and the window ---------------------------------------------------------

@pytest.mark.parametrize(("start", "months", "expected"), [
    (D(2024, 2, 29), 12, D(2025, 2, 28)),
    (D(2024, 2, 29), 18, D(2025, 8, 29)),
    (D(2024, 8, 31), 18, D(2026, 2, 28)),
    (D(2023, 1, 31), 1, D(2023, 2, 28)),
    (D(2024, 1, 31), 1, D(2024, 2, 29)),
    (D(2024, 12, 31), 18, D(2026, 6, 30)),
    (D(2024, 3, 15), 12, D(2025, 3, 15)),
])
def test_months_are_added_on_the_calendar_and_clamped_to_the_month_end(start, months, expected):
    assert add_months(start, months) == expected


def test_an_offence_on_the_index_date_is_not_a_reoffence():
    assert not is_proven_reoffence(INDEX, conviction("a", INDEX))


def test_an_offence_the_day_after_the_index_date_is_a_reoffence():
    assert is_proven_reoffence(INDEX, conviction("a", D(2024, 3, 16)))


def test_an_offence_on_index_plus_twelve_months_counts():
    assert is_proven_reoffence(INDEX, conviction("a", D(2025, 3, 15), D(2025, 4, 1)))


def test_an_offence_one_day_after_index_plus_twelve_months_does_not_count():
    assert not is_proven_reoffence(INDEX, conviction("a", D(2025, 3, 16), D(2025, 4, 1)))


def test_a_conviction_proven_on_index_plus_eighteen_months_counts():
    assert is_proven_reoffence(INDEX, conviction("a", D(2025, 1, 1), D(2025, 9, 15)))


def test_a_conviction_proven_one_day_after_index_plus_eighteen_months_does_not_count():
    assert not is_proven_reoffence(INDEX, conviction("a", D(2025, 1, 1), D(2025, 9, 16)))


def test_a_caution_counts_as_a_proven_reoffence():
    assert is_proven_reoffence(INDEX, conviction("a", D(2024, 6, 1), outcome="caution"))


@pytest.mark.parametrize("outcome", ["arrest", "no_further_action"])
def test_arrests_and_no_further_action_never_count(outcome):
    assert not is_proven_reoffence(INDEX, conviction("a", D(2024, 6, 1), D(2024, 6, 2), outcome=outcome))


def test_a_conviction_without_an_outcome_date_is_not_proven():
    offence = Reoffence(person_id="a", offence_date=D(2024, 6, 1), outcome="conviction",
                        outcome_date=None, offence_code="X")
    assert not is_proven_reoffence(INDEX, offence)


def test_a_leap_day_index_date_ends_its_window_on_the_last_day_of_february():
    leap = D(2024, 2, 29)
    assert is_proven_reoffence(leap, conviction("a", D(2025, 2, 28), D(2025, 8, 29)))
    assert not is_proven_reoffence(leap, conviction("a", D(2025, 3, 1), D(2025, 3, 2)))
    assert not is_proven_reoffence(leap, conviction("a", D(2025, 2, 28), D(2025, 8, 30)))


def test_the_programme_scope_counts_only_the_programme_offence_codes():
    offence = conviction("a", D(2024, 6, 1), code="TH68001")
    assert is_proven_reoffence(INDEX, offence, offence_codes=None)
    assert not is_proven_reoffence(INDEX, offence, offence_codes={"SOA2003-S51A"})


def test_a_referral_is_reportable_from_index_plus_eighteen_months():
    assert is_reportable(D(2024, 12, 31), D(2026, 6, 30))
    assert not is_reportable(D(2024, 12, 31), D(2026, 6, 29))


def test_quarters_cover_the_whole_range():
    assert quarters_between(D(2023, 11, 5), D(2024, 4, 1)) == ["2023-Q4", "2024-Q1", "2024-Q2"]


# --- Wilson score interval --------------------------------------------------------------------

@pytest.mark.parametrize(("successes", "trials", "low", "high"), [
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score).
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
    # The DESIGN.md example; 5/40 gives 0.261121..., so 0.2611 to four places (see the report).
    (5, 40, 0.0546, 0.2611),
])
def test_wilson_intervals_match_published_values(successes, trials, low, high):
    interval = wilson_interval(successes, trials)
    assert (round(interval[0], 4), round(interval[1], 4)) == (low, high)


def test_a_wilson_interval_for_no_trials_is_refused():
    with pytest.raises(ValueError, match="at least one trial"):
        wilson_interval(0, 0)


# --- The report -------------------------------------------------------------------------------

def test_the_design_example_is_reproduced_key_for_key():
    cohort = people(40, D(2023, 2, 10))
    reoffences = [conviction("p0", D(2023, 5, 1)), conviction("p0", D(2023, 9, 1)),
                  conviction("p1", D(2023, 3, 1), outcome="caution"), conviction("p1", D(2024, 1, 1)),
                  conviction("p2", D(2023, 4, 4)), conviction("p3", D(2023, 12, 1)),
                  conviction("p4", D(2024, 2, 10), D(2024, 3, 1))]
    others = (people(3, D(2023, 6, 1), "withdrawn", "w") + people(2, D(2024, 11, 1), "open", "o")
              + people(11, D(2024, 12, 31), "not_completed", "late"))
    # One day earlier than the design's as-of date: with 2026-06-30 even a referral on
    # 2024-12-31 would be reportable, and nothing could be follow_up_incomplete.
    result = report(cohort + others, reoffences, date_from=D(2023, 1, 1), date_to=D(2024, 12, 31),
                    as_of=D(2026, 6, 29))

    assert set(result) == CONTRACT_KEYS
    assert {k: v for k, v in result.items() if k != "cohorts"} == {
        "measure": "proven_reoffending", "scope": "any", "as_of": "2026-06-29",
        "from": "2023-01-01", "to": "2024-12-31", "follow_up_months": 12, "waiting_months": 6,
        "excluded": {"withdrawn": 3, "open": 2, "follow_up_incomplete": 11},
    }
    first = row(result, "2023-Q1", "completed")
    assert set(first) == COHORT_KEYS | {"warning"}
    low, high = first.pop("ci95")
    assert (round(low, 4), round(high, 4)) == (0.0546, 0.2611)
    assert first == {"period": "2023-Q1", "group": "completed", "people": 40, "reoffenders": 5,
                     "reoffences": 7, "rate": 0.125, "per_offender": 0.175, "per_reoffender": 1.4,
                     "suppressed": False, "warning": JDL_WARNING}


def test_cohorts_list_every_quarter_and_group_then_the_whole_period():
    result = report([])
    assert [(c["period"], c["group"]) for c in result["cohorts"]] == [
        (period, group)
        for period in ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "all"]
        for group in ["completed", "not_completed", "all"]
    ]


def test_an_empty_range_gives_an_honest_empty_report():
    result = report([])
    assert all(c["people"] == 0 and c["suppressed"] and c["rate"] is None for c in result["cohorts"])
    assert result["excluded"] == {"withdrawn": 0, "open": 0, "follow_up_incomplete": 0}


def test_a_group_of_nine_is_suppressed_and_a_group_of_ten_is_not():
    referrals = (people(9, D(2024, 2, 1), "completed", "c")
                 + people(10, D(2024, 2, 1), "not_completed", "n"))
    reoffences = [conviction("c0", D(2024, 5, 1)), conviction("n0", D(2024, 5, 1))]
    result = report(referrals, reoffences)

    nine = row(result, "2024-Q1", "completed")
    assert nine["suppressed"] is True
    assert (nine["people"], nine["rate"], nine["ci95"], nine["per_offender"], nine["per_reoffender"]) == (
        9, None, None, None, None)
    ten = row(result, "2024-Q1", "not_completed")
    assert ten["suppressed"] is False
    assert (ten["people"], ten["reoffenders"], ten["rate"], ten["per_offender"], ten["per_reoffender"]) == (
        10, 1, 0.1, 0.1, 1.0)
    assert row(result, "2024-Q1", "all")["rate"] == 2 / 19


def test_frequency_per_reoffender_is_null_when_nobody_reoffended():
    result = report(people(12, D(2024, 4, 2)))
    group = row(result, "2024-Q2", "completed")
    assert (group["rate"], group["per_offender"], group["per_reoffender"]) == (0.0, 0.0, None)
    assert group["ci95"][0] == 0.0


def test_a_person_referred_twice_in_a_quarter_is_counted_once_at_the_earliest_referral():
    twice = [CohortReferral("r1", "twice", D(2024, 1, 10), "completed"),
             CohortReferral("r2", "twice", D(2024, 3, 1), "not_completed")]
    result = report(twice + people(10, D(2024, 2, 1), "completed"),
                    [conviction("twice", D(2024, 2, 1), D(2024, 2, 20))])

    completed = row(result, "2024-Q1", "completed")
    assert (completed["people"], completed["reoffenders"], completed["reoffences"]) == (11, 1, 1)
    assert row(result, "2024-Q1", "not_completed")["people"] == 0
    assert row(result, "2024-Q1", "all")["people"] == 11
    assert result["excluded"]["follow_up_incomplete"] == 0


def test_a_person_referred_in_two_quarters_appears_in_each_and_once_in_the_whole_period():
    referrals = [CohortReferral("r1", "x", D(2024, 1, 10), "completed"),
                 CohortReferral("r2", "x", D(2024, 7, 10), "completed")]
    result = report(referrals)
    assert row(result, "2024-Q1", "all")["people"] == 1
    assert row(result, "2024-Q3", "all")["people"] == 1
    assert row(result, "all", "all")["people"] == 1


def test_reoffences_are_measured_from_the_earliest_index_date_in_the_whole_period():
    referrals = [CohortReferral("r1", "x", D(2024, 1, 10), "completed"),
                 CohortReferral("r2", "x", D(2024, 7, 10), "completed")] + people(10, D(2024, 1, 10))
    # After the second referral but more than 12 months after the first.
    late = conviction("x", D(2025, 2, 1), D(2025, 3, 1))
    result = report(referrals, [late])
    assert row(result, "2024-Q3", "all")["reoffenders"] == 1
    assert row(result, "all", "all")["reoffenders"] == 0


def test_a_cohort_whose_follow_up_is_not_over_is_excluded_not_reported():
    referrals = people(10, D(2024, 12, 29), "completed", "a") + people(4, D(2024, 12, 31), "completed", "b")
    result = report(referrals, as_of=D(2026, 6, 30))
    assert result["excluded"]["follow_up_incomplete"] == 0
    assert row(result, "2024-Q4", "completed")["people"] == 14

    earlier = report(referrals, as_of=D(2026, 6, 29))
    assert earlier["excluded"]["follow_up_incomplete"] == 4
    assert row(earlier, "2024-Q4", "completed")["people"] == 10
    assert row(earlier, "all", "completed")["people"] == 10


def test_withdrawn_and_open_referrals_are_counted_as_excluded_and_not_in_any_group():
    referrals = (people(10, D(2024, 5, 1), "completed") + people(2, D(2024, 5, 1), "withdrawn", "w")
                 + people(3, D(2024, 5, 1), "open", "o"))
    result = report(referrals)
    assert result["excluded"] == {"withdrawn": 2, "open": 3, "follow_up_incomplete": 0}
    assert row(result, "2024-Q2", "all")["people"] == 10


def test_referrals_outside_the_range_and_other_peoples_offences_are_ignored():
    referrals = people(10, D(2024, 5, 1)) + people(5, D(2023, 12, 31), "completed", "before")
    result = report(referrals, [conviction("stranger", D(2024, 6, 1))])
    assert row(result, "all", "all")["people"] == 10
    assert row(result, "all", "all")["reoffenders"] == 0


def test_the_programme_scope_changes_the_count():
    referrals = people(10, D(2024, 5, 1))
    offences = [conviction("p0", D(2024, 6, 1), code="SOA2003-S51A"), conviction("p1", D(2024, 6, 1))]
    any_scope = report(referrals, offences)
    programme = report(referrals, offences, scope="programme",
                       programme_offence_codes={"SOA2003-S51A", "SOA1985-S1"})
    assert row(any_scope, "all", "all")["reoffenders"] == 2
    assert row(programme, "all", "all")["reoffenders"] == 1
    assert programme["scope"] == "programme"


def test_a_group_under_sixty_people_carries_the_justice_data_lab_warning():
    result = report(people(59, D(2024, 5, 1), "completed", "c")
                    + people(60, D(2024, 5, 1), "not_completed", "n"))
    assert row(result, "2024-Q2", "completed")["warning"] == "too few for a Justice Data Lab comparison"
    assert row(result, "2024-Q2", "not_completed")["warning"] is None


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"date_from": D(2024, 12, 31), "date_to": D(2024, 1, 1)}, "to"),
    ({"as_of": D(2023, 12, 31)}, "as_of"),
    ({"scope": "everything"}, "scope"),
    ({"scope": "programme"}, "scope"),
])
def test_bad_parameters_are_refused_with_a_message_for_the_field(kwargs, field):
    with pytest.raises(ValidationFailed) as refused:
        report([], **kwargs)
    assert field in refused.value.errors


def test_an_unknown_referral_outcome_is_refused():
    with pytest.raises(ValueError, match="unknown referral outcome"):
        CohortReferral("r", "p", D(2024, 1, 1), "booked")
