"""Attendance and outcome arithmetic against hand-computed fixtures."""

from __future__ import annotations

import datetime as dt

import pytest

from diversion.reports.measures import (
    ReferralRecord,
    SessionAttendance,
    attendance_by,
    attendance_rate,
    by_facilitator,
    by_force,
    by_programme,
    by_referral_month,
    by_session_month,
    completion_rate,
    fill_rate,
    median_days,
    outcomes_by,
    summarise_attendance,
    summarise_outcomes,
)

D = dt.date


def test_rates_divide_and_say_none_when_there_is_nothing_to_divide_by():
    assert fill_rate(booked=15, places=20) == 0.75
    assert fill_rate(booked=0, places=0) is None
    assert attendance_rate(attended=12, booked=15) == 0.8
    assert attendance_rate(attended=0, booked=0) is None


def test_completion_rate_ignores_open_and_withdrawn_referrals():
    assert completion_rate(completed=30, not_completed=10) == 0.75
    assert completion_rate(completed=0, not_completed=0) is None


def test_negative_counts_are_refused():
    with pytest.raises(ValueError, match="negative"):
        fill_rate(booked=-1, places=10)


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two():
    assert median_days([10, 2, 7]) == 7.0
    assert median_days([1, 2, 4, 9]) == 3.0
    assert median_days([]) is None


def session(session_id: str, **counts: object) -> SessionAttendance:
    defaults: dict[str, object] = {"session_date": D(2024, 3, 9), "programme": "CHANGE",
                                   "venue": "Leeds", "facilitators": ("ann@example.org",)}
    defaults.update(counts)
    return SessionAttendance(session_id=session_id, **defaults)  # type: ignore[arg-type]


def test_attendance_adds_up_sessions_and_computes_both_rates():
    summary = summarise_attendance([
        session("a", places=20, booked=18, attended=14, late_refused=1, left_early=1, absent=1, excused=1),
        session("b", places=10, booked=6, attended=6),
    ])
    assert summary.as_dict() == {
        "sessions": 2, "places": 30, "booked": 24, "attended": 20, "late_refused": 1,
        "left_early": 1, "removed": 0, "absent": 1, "excused": 1,
        "fill_rate": 0.8, "attendance_rate": 20 / 24,
    }


def test_a_session_with_two_facilitators_counts_for_each_of_them():
    rows = [session("a", places=10, booked=10, attended=9, facilitators=("ann", "bob")),
            session("b", places=10, booked=5, attended=5, facilitators=("bob",))]
    groups = attendance_by(rows, by_facilitator)
    assert list(groups) == ["ann", "bob"]
    assert (groups["ann"].sessions, groups["ann"].attended) == (1, 9)
    assert (groups["bob"].sessions, groups["bob"].attended, groups["bob"].fill_rate) == (2, 14, 0.75)


def test_attendance_groups_by_programme_and_month():
    rows = [session("a", places=10, booked=8, programme="CHANGE", session_date=D(2024, 1, 31)),
            session("b", places=10, booked=4, programme="ZERO", session_date=D(2024, 2, 1))]
    assert list(attendance_by(rows, by_programme)) == ["CHANGE", "ZERO"]
    assert {k: v.booked for k, v in attendance_by(rows, by_session_month).items()} == {
        "2024-01": 8, "2024-02": 4}


def referral(status: str, **overrides: object) -> ReferralRecord:
    values: dict[str, object] = {"referral_id": status, "force": "WY", "offence_date": D(2024, 1, 1),
                                 "referral_date": D(2024, 1, 11), "status": status,
                                 "completion_deadline": D(2024, 5, 1)}
    values.update(overrides)
    return ReferralRecord(**values)  # type: ignore[arg-type]


def test_the_outcome_funnel_counts_each_status_and_each_reason_for_not_completing():
    records = [
        referral("completed", was_booked=True, completed_on=D(2024, 2, 10)),  # 30 days, in time
        referral("completed", was_booked=True, completed_on=D(2024, 5, 2),  # 112 days, late
                 offence_date=D(2023, 12, 1)),
        referral("completed", was_booked=True, completed_on=D(2024, 3, 1)),  # 50 days
        referral("not_completed", was_booked=True, non_completion_reason="absent"),
        referral("not_completed", non_completion_reason="deadline passed"),
        referral("not_completed", was_booked=True, non_completion_reason="absent"),
        referral("not_completed"),
        referral("withdrawn"),
        referral("awaiting_booking"),
        referral("booked"),
        referral("missed"),
    ]
    summary = summarise_outcomes(records).as_dict()
    assert summary == {
        "received": 11, "booked": 7, "completed": 3, "not_completed": 4, "withdrawn": 1, "open": 3,
        "not_completed_by_reason": {"absent": 2, "deadline passed": 1, "not recorded": 1},
        "completed_within_deadline": 2,
        "median_days_offence_to_referral": 10.0,
        "median_days_referral_to_completion": 50.0,
        "completion_rate": 3 / 7,
        "completed_within_deadline_rate": 2 / 3,
    }


def test_an_empty_outcome_report_has_zero_counts_and_no_rates():
    summary = summarise_outcomes([])
    assert (summary.received, summary.completion_rate, summary.median_days_offence_to_referral,
            summary.completed_within_deadline_rate) == (0, None, None, None)


def test_outcomes_group_by_force_and_by_referral_month():
    records = [referral("completed", force="WY", referral_date=D(2024, 1, 31), completed_on=D(2024, 2, 1)),
               referral("not_completed", force="NH", referral_date=D(2024, 2, 1))]
    assert {k: v.completion_rate for k, v in outcomes_by(records, by_force).items()} == {
        "NH": 0.0, "WY": 1.0}
    assert list(outcomes_by(records, by_referral_month)) == ["2024-01", "2024-02"]


def test_an_unknown_referral_status_is_refused():
    with pytest.raises(ValueError, match="unknown referral status"):
        referral("lost")
