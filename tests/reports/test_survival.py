"""Kaplan–Meier time to first proven reoffence, against hand-computed values."""

from __future__ import annotations

import datetime as dt

import pytest

from diversion.reports.reoffending import (
    CohortReferral,
    Observation,
    Reoffence,
    kaplan_meier,
    time_to_first_reoffence,
)

D = dt.date


def test_the_estimate_starts_at_one_on_day_zero():
    [start] = kaplan_meier([])
    assert (start.day, start.at_risk, start.survival) == (0, 0, 1.0)


def test_censored_people_leave_the_risk_set_without_lowering_survival():
    # 4 people: event at 10, censored at 20, event at 30, censored at 40.
    # S(10) = 3/4; S(30) = 3/4 * (1 - 1/2) = 3/8.
    steps = kaplan_meier([Observation(10, True), Observation(20, False),
                          Observation(30, True), Observation(40, False)])
    assert [(s.day, s.at_risk, s.events, s.censored) for s in steps] == [
        (0, 4, 0, 0), (10, 4, 1, 0), (20, 3, 0, 1), (30, 2, 1, 0), (40, 1, 0, 1)]
    assert [s.survival for s in steps] == pytest.approx([1, 0.75, 0.75, 0.375, 0.375])
    assert steps[-1].reoffended == pytest.approx(0.625)


def test_tied_events_on_one_day_are_taken_together():
    steps = kaplan_meier([Observation(5, True), Observation(5, True), Observation(9, False),
                          Observation(9, False), Observation(9, True)])
    assert [s.survival for s in steps] == pytest.approx([1, 0.6, 0.6 * (2 / 3)])


def test_completers_and_non_completers_get_separate_curves_censored_at_twelve_months():
    referrals = [CohortReferral("r1", "a", D(2024, 1, 1), "completed"),
                 CohortReferral("r2", "b", D(2024, 1, 1), "completed"),
                 CohortReferral("r3", "c", D(2024, 1, 1), "not_completed"),
                 CohortReferral("r4", "d", D(2024, 1, 1), "withdrawn")]
    reoffences = [
        Reoffence("a", D(2024, 4, 10), "conviction", D(2024, 5, 1), "X"),  # day 100
        Reoffence("a", D(2024, 6, 1), "conviction", D(2024, 7, 1), "X"),  # a later one
        Reoffence("c", D(2024, 2, 1), "arrest", None, "X"),  # never counts
    ]
    curves = time_to_first_reoffence(referrals, reoffences, date_from=D(2024, 1, 1),
                                     date_to=D(2024, 12, 31), as_of=D(2026, 1, 1))
    assert set(curves) == {"completed", "not_completed", "all"}
    completed = curves["completed"]
    assert [(s.day, s.events, s.censored, s.survival) for s in completed] == [
        (0, 0, 0, 1.0), (100, 1, 0, 0.5), (366, 0, 1, 0.5)]  # 2024 is a leap year
    assert [s.survival for s in curves["not_completed"]] == [1.0, 1.0]
    assert curves["all"][0].at_risk == 3


def test_people_whose_follow_up_is_not_over_are_left_out_of_the_curves():
    referrals = [CohortReferral("r1", "a", D(2024, 12, 31), "completed")]
    curves = time_to_first_reoffence(referrals, [], date_from=D(2024, 1, 1),
                                     date_to=D(2024, 12, 31), as_of=D(2026, 6, 29))
    assert curves["completed"][0].at_risk == 0
