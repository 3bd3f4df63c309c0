"""The register's pure rules: outcomes, marks, when a register opens, grace and deadlines."""

from __future__ import annotations

import datetime as dt

import pytest

from diversion.attendance.rules import (
    AttendanceStatus,
    Mark,
    Outcome,
    close_out_due_at,
    grace_closes_at,
    is_deadline_passed,
    is_register_open,
    is_within_grace,
    mark_problems,
    outcome_for,
)

A = AttendanceStatus
START = dt.datetime(2026, 6, 17, 8, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(("status", "cleared", "outcome"), [
    (A.ATTENDED, True, Outcome.COMPLETED),
    (A.ATTENDED, False, Outcome.FEE_OUTSTANDING),
    (A.LATE_REFUSED, True, Outcome.MISSED),
    (A.LEFT_EARLY, True, Outcome.MISSED),
    (A.REMOVED, True, Outcome.MISSED),
    (A.ABSENT, False, Outcome.MISSED),
    (A.EXCUSED, False, Outcome.EXCUSED),
])
def test_each_status_leads_to_its_outcome(status: AttendanceStatus, cleared: bool,
                                          outcome: Outcome) -> None:
    assert outcome_for(Mark(status, id_checked=True), is_fee_cleared=cleared) is outcome


def test_an_unmarked_line_has_no_outcome() -> None:
    with pytest.raises(ValueError):
        outcome_for(Mark(None), is_fee_cleared=True)


def test_submitting_needs_every_line_marked_but_a_draft_does_not() -> None:
    assert mark_problems(Mark(None), starts_at=START, late_cutoff_minutes=15, submitting=False) == {}
    assert "status" in mark_problems(Mark(None), starts_at=START, late_cutoff_minutes=15,
                                     submitting=True)


def test_attended_without_an_id_check_cannot_be_submitted() -> None:
    problems = mark_problems(Mark(A.ATTENDED, id_checked=False), starts_at=START,
                             late_cutoff_minutes=15, submitting=True)
    assert "id_checked" in problems


def test_excused_needs_a_reason_when_submitted_but_a_draft_may_wait_for_it() -> None:
    problems = mark_problems(Mark(A.EXCUSED, reason="  "), starts_at=START,
                             late_cutoff_minutes=15, submitting=True)
    assert problems == {"reason": "Enter the reason they are excused"}
    assert mark_problems(Mark(A.EXCUSED, reason="  "), starts_at=START,
                         late_cutoff_minutes=15, submitting=False) == {}


def test_arriving_after_the_late_cut_off_cannot_be_marked_attended() -> None:
    on_time = Mark(A.ATTENDED, id_checked=True, arrived_at=START + dt.timedelta(minutes=15))
    late = Mark(A.ATTENDED, id_checked=True, arrived_at=START + dt.timedelta(minutes=16))
    assert mark_problems(on_time, starts_at=START, late_cutoff_minutes=15, submitting=True) == {}
    assert "status" in mark_problems(late, starts_at=START, late_cutoff_minutes=15,
                                     submitting=True)


def test_an_absent_person_has_no_arrival_time() -> None:
    problems = mark_problems(Mark(A.ABSENT, arrived_at=START), starts_at=START,
                             late_cutoff_minutes=15, submitting=True)
    assert "arrived_at" in problems


def test_the_register_opens_an_hour_before_the_start() -> None:
    assert not is_register_open(START, now=START - dt.timedelta(minutes=61))
    assert is_register_open(START, now=START - dt.timedelta(minutes=60))


def test_a_register_is_overdue_after_the_end_of_the_next_london_day() -> None:
    # 17 June 09:30 London: due by midnight London at the end of 18 June (23:00 UTC).
    assert close_out_due_at(START) == dt.datetime(2026, 6, 18, 23, 0, tzinfo=dt.UTC)


def test_the_grace_window_ends_at_the_end_of_the_last_london_day() -> None:
    missed = dt.datetime(2026, 6, 17, 15, 0, tzinfo=dt.UTC)
    closes = grace_closes_at(missed, 3)
    assert closes == dt.datetime(2026, 6, 20, 23, 0, tzinfo=dt.UTC)
    assert is_within_grace(missed, 3, now=closes - dt.timedelta(seconds=1))
    assert not is_within_grace(missed, 3, now=closes)


def test_the_grace_window_spans_the_autumn_clock_change() -> None:
    missed = dt.datetime(2026, 10, 23, 12, 0, tzinfo=dt.UTC)  # Friday; clocks go back Sunday
    assert grace_closes_at(missed, 3) == dt.datetime(2026, 10, 27, 0, 0, tzinfo=dt.UTC)


def test_the_completion_deadline_passes_after_its_london_day() -> None:
    deadline = dt.date(2026, 10, 1)
    assert not is_deadline_passed(deadline, now=dt.datetime(2026, 10, 1, 22, 59, tzinfo=dt.UTC))
    assert is_deadline_passed(deadline, now=dt.datetime(2026, 10, 1, 23, 0, tzinfo=dt.UTC))
