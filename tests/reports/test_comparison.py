"""The comparison group's arithmetic, checked against figures worked out by hand and published."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from diversion.reports import comparison
from diversion.reports.comparison import (
    Subject,
    caliper_width,
    compare_groups,
    match_nearest,
    newcombe_difference,
    standardised_mean_difference,
    summary_sentence,
)
from diversion.reports.reoffending import Reoffence

AS_OF = dt.date(2026, 6, 30)


# Newcombe (1998) Table II, method 10 (hybrid score), the six published examples.
@pytest.mark.parametrize(("x1", "n1", "x2", "n2", "low", "high"), [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
])
def test_newcombe_hybrid_score_interval_matches_the_published_examples(x1, n1, x2, n2, low, high):
    d, lower, upper = newcombe_difference(x1, n1, x2, n2)
    assert d == pytest.approx(x1 / n1 - x2 / n2)
    assert lower == pytest.approx(low, abs=5e-5)
    assert upper == pytest.approx(high, abs=5e-5)


def test_newcombe_first_example_difference_is_a_fifth():
    # 56/70 = 0.8 and 48/80 = 0.6: the difference is 0.2000 (not 0.1857).
    assert newcombe_difference(56, 70, 48, 80)[0] == pytest.approx(0.2)


def test_standardised_mean_difference_by_hand():
    # a = 1, 2, 3: mean 2, variance 1. b = 2, 4, 6: mean 4, variance 4.
    # (2 - 4) / sqrt((1 + 4) / 2) = -2 / 1.5811 = -1.2649
    assert standardised_mean_difference([1, 2, 3], [2, 4, 6]) == pytest.approx(-2 / math.sqrt(2.5))
    # A 0/1 covariate: a = 1, 1, 0, 0 (mean 0.5, var 1/3); b = 1, 0, 0, 0 (mean 0.25, var 0.25).
    # 0.25 / sqrt((1/3 + 1/4) / 2) = 0.25 / 0.5401 = 0.4629
    assert standardised_mean_difference([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(0.46291, abs=1e-5)
    assert standardised_mean_difference([5, 5], [5, 5]) == 0.0
    assert standardised_mean_difference([5, 5], [6, 6]) is None


def test_matching_is_nearest_within_the_caliper_without_replacement_and_stable():
    treated = [(2, 0.10), (1, 0.00), (3, 5.00)]
    controls = [(11, 0.05), (12, 0.12), (13, -0.05), (14, 0.30)]
    # 1 (0.00) first: 11 and 13 are both 0.05 away: the lower id, 11, wins.
    # 2 (0.10): 11 is taken; 12 is 0.02 away. 3 (5.00): nobody within 0.2.
    assert match_nearest(treated, controls, caliper=0.2) == [(1, 11), (2, 12)]
    # A narrower caliper leaves 2 unmatched once 11 is taken (12 is 0.02: still in).
    assert match_nearest(treated, controls, caliper=0.01) == []
    assert match_nearest(treated, controls, caliper=0.05) == [(1, 11), (2, 12)]


def test_caliper_is_a_fifth_of_the_pooled_standard_deviation_of_the_logit():
    # variances 1 (of 1, 2, 3) and 4 (of 2, 4, 6): pooled sd sqrt(2.5)
    assert caliper_width([1, 2, 3], [2, 4, 6]) == pytest.approx(0.2 * math.sqrt(2.5))


def _people(count: int, *, start_id: int, force: str, prior: int, index: dt.date,
            born: dt.date) -> list[Subject]:
    return [Subject(person_id=start_id + i, index_date=index + dt.timedelta(days=i % 60),
                    date_of_birth=born - dt.timedelta(days=37 * (i % 20)),
                    prior_offences=prior + i % 3, force=force) for i in range(count)]


def _proven(person_id: int, index: dt.date) -> Reoffence:
    return Reoffence(person_id=person_id, offence_date=index + dt.timedelta(days=90),
                     outcome="conviction", outcome_date=index + dt.timedelta(days=150),
                     offence_code="TH68001")


def test_no_comparison_below_sixty_on_either_side_says_so_in_words():
    programme = _people(59, start_id=1, force="WYP", prior=0, index=dt.date(2024, 1, 1),
                        born=dt.date(1990, 1, 1))
    others = _people(200, start_id=1000, force="WYP", prior=0, index=dt.date(2024, 1, 1),
                     born=dt.date(1990, 1, 1))
    result = compare_groups(programme, others, [], as_of=AS_OF)
    assert result["available"] is False
    assert result["unmatched"] is None and result["matched"] is None
    assert "at least 60" in result["reason"] and "59" in result["reason"]
    assert summary_sentence(result) is None
    result = compare_groups(programme + _people(1, start_id=500, force="WYP", prior=0,
                                                index=dt.date(2024, 1, 1),
                                                born=dt.date(1990, 1, 1)),
                            others[:59], [], as_of=AS_OF)
    assert result["available"] is False and result["comparison_people"] == 59


def test_comparison_people_must_be_reportable_and_not_on_the_programme():
    programme = _people(60, start_id=1, force="WYP", prior=0, index=dt.date(2024, 1, 1),
                        born=dt.date(1990, 1, 1))
    late = _people(100, start_id=1000, force="WYP", prior=0, index=dt.date(2025, 6, 1),
                   born=dt.date(1990, 1, 1))
    result = compare_groups(programme, late + programme[:5], [], as_of=AS_OF)
    assert result["comparison_people"] == 0 and result["available"] is False


def test_a_comparison_with_similar_people_measures_the_same_way():
    index = dt.date(2024, 1, 1)
    programme = _people(100, start_id=1, force="WYP", prior=0, index=index,
                        born=dt.date(1990, 1, 1))
    others = _people(150, start_id=1000, force="WYP", prior=0, index=index,
                     born=dt.date(1990, 1, 1))
    reoffences = [_proven(s.person_id, s.index_date) for s in programme[:10]]
    reoffences += [_proven(s.person_id, s.index_date) for s in others[:30]]
    # An arrest never counts, as in the report.
    reoffences.append(Reoffence(person_id=others[40].person_id, offence_date=dt.date(2024, 3, 1),
                                outcome="arrest", outcome_date=None, offence_code="TH68001"))
    result = compare_groups(programme, others, reoffences, as_of=AS_OF)
    assert result["available"] is True
    unmatched = result["unmatched"]
    assert unmatched["programme"]["reoffenders"] == 10 and unmatched["programme"]["people"] == 100
    assert unmatched["comparison"]["reoffenders"] == 30 and unmatched["comparison"]["people"] == 150
    d, low, high = newcombe_difference(10, 100, 30, 150)
    assert unmatched["difference"] == pytest.approx(d)
    assert unmatched["difference_ci95"] == pytest.approx([low, high])
    matched = result["matched"]
    assert matched is not None and matched["pairs"] >= 60
    assert matched["programme"]["people"] == matched["comparison"]["people"] == matched["pairs"]
    labels = {row["covariate"] for row in result["balance"]}
    assert {"age", "prior_offences", "force:WYP", "quarter:2024-Q1"} <= labels
    assert result["summary"].startswith("People who took the course were proven to reoffend at")


def test_a_badly_balanced_match_is_flagged():
    index = dt.date(2024, 1, 1)
    # The programme's people are young with no priors; the comparison's mostly older with many.
    programme = _people(80, start_id=1, force="WYP", prior=0, index=index, born=dt.date(2004, 1, 1))
    older = _people(200, start_id=1000, force="SYP", prior=6, index=index, born=dt.date(1960, 1, 1))
    similar = _people(70, start_id=5000, force="WYP", prior=1, index=index, born=dt.date(2000, 1, 1))
    result = compare_groups(programme, older + similar, [], as_of=AS_OF)
    before = {row["covariate"]: row["smd_before"] for row in result["balance"]}
    assert abs(before["age"]) > 0.1
    after = {row["covariate"]: row["smd_after"] for row in result["balance"]}
    assert after["force:SYP"] in (0.0, None) or abs(after["force:SYP"]) < abs(before["force:SYP"])
    if result["matched"] is not None:
        assert comparison.IMBALANCED in result["warnings"]
    else:
        assert any("No matched comparison" in w for w in result["warnings"])


def test_summary_sentence_words_the_difference_and_its_interval():
    result = {"available": True, "unmatched": None, "matched": {
        "programme": {"rate": 0.043}, "comparison": {"rate": 0.091},
        "difference": -0.048, "difference_ci95": [-0.084, -0.012]}}
    assert summary_sentence(result) == (
        "People who took the course were proven to reoffend at 4.3% against 9.1% for similar "
        "people dealt with otherwise: 4.8 points lower (95% confidence: 1.2 to 8.4 points lower).")
    result["matched"]["difference_ci95"] = [-0.084, 0.012]
    assert summary_sentence(result).endswith(
        "(95% confidence: from 8.4 points lower to 1.2 points higher).")
    assert summary_sentence(None) is None
