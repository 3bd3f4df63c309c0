"""The outcomes report's figures counted by the database (outcomes_report.count_outcomes) equal
the pure definition (measures.summarise_outcomes over one record per referral) on the same
rows: month ends and a leap day, every status, every recorded reason and none, an even count
for the medians, a completion after its deadline and one with no date; and the report's queries
do not grow with its referrals."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import delete, select, update

from diversion.core.extensions import db
from diversion.referrals.models import (
    Referral,
    ReferralEvent,
    ReferralEventType,
    ReferralStatus,
)
from diversion.reports import kinds as reports_kinds
from diversion.reports import measures
from diversion.reports import outcomes_report as reports_outcomes_report
from tests.builders import create_force, referral_with_outcome
from tests.queries import count_queries

D = dt.date
NOW = dt.datetime(2026, 6, 15, 9, tzinfo=dt.UTC)


def _letters(n):
    """A different name for each number (names made of digits would match one person)."""
    return "".join("abcdefghij"[int(digit)] for digit in f"{n:03d}")


def _event(referral, event, to_status):
    db.session.add(ReferralEvent(referral_id=referral.id, event=event, from_status=None,
                                 to_status=to_status, at=NOW, actor_label="system"))


def _set(referral, **values):
    db.session.execute(update(Referral).where(Referral.id == referral.id).values(**values))


@pytest.fixture()
def varied(app):
    """Three forces, referrals either side of month ends and on a leap day, in every state."""
    west, south, north = create_force("WY"), create_force("SY"), create_force("NY")
    made = 0

    def referral(referral_date, outcome, force, *, offence_days=5, days=30):
        nonlocal made
        made += 1
        return referral_with_outcome(
            family_name=f"Person {_letters(made)}", referral_date=referral_date, outcome=outcome,
            force=force, days_to_outcome=days,
            offence_date=referral_date - dt.timedelta(days=offence_days))

    # West, January: two completions (even count: offence days 2 and 5, completion 10 and 41).
    referral(D(2024, 1, 31), "completed", west, offence_days=2, days=10)
    referral(D(2024, 1, 1), "completed", west, offence_days=5, days=41)
    # West, February (leap day): a completion after its deadline, one with no completion date.
    late = referral(D(2024, 2, 29), "completed", west, offence_days=9, days=200)
    _set(late, completion_deadline=D(2024, 6, 1))
    undated = referral(D(2024, 2, 1), "completed", west, offence_days=1)
    _set(undated, closed_on=None)
    # Not completed, with each reason, with none recorded, and with an event of another kind.
    for n, event in enumerate((ReferralEventType.DEADLINE_PASSED, ReferralEventType.GRACE_EXPIRED,
                               ReferralEventType.GRACE_EXPIRED, None, ReferralEventType.MISSED)):
        ended = referral(D(2024, 2 + n % 2, 10 + n), "not_completed", (south, north)[n % 2],
                         offence_days=3 + n)
        db.session.execute(delete(ReferralEvent).where(
            ReferralEvent.referral_id == ended.id,
            ReferralEvent.to_status == ReferralStatus.NOT_COMPLETED))
        if event is not None:
            _event(ended, event, ReferralStatus.NOT_COMPLETED)
    referral(D(2024, 3, 31), "not_completed", north)  # the import's own reason
    # Withdrawn: one after a booking, one never booked.
    booked_then_withdrawn = referral(D(2024, 3, 1), "withdrawn", south)
    _event(booked_then_withdrawn, ReferralEventType.BOOKED, ReferralStatus.BOOKED)
    referral(D(2024, 3, 2), "withdrawn", south, offence_days=0)
    # Open ones: awaiting, booked, missed; and some outside the period.
    referral(D(2024, 2, 14), None, north, offence_days=12)
    booked = referral(D(2024, 2, 15), None, north, offence_days=12)
    _set(booked, status=ReferralStatus.BOOKED)
    missed = referral(D(2024, 1, 16), None, south, offence_days=7)
    _set(missed, status=ReferralStatus.MISSED)
    referral(D(2023, 12, 31), "completed", west)
    referral(D(2024, 4, 1), "completed", west)
    # Many more, drawn at random, so each group has odd and even counts of many values.
    rng = random.Random(17)
    for _ in range(40):
        referral(D(2024, rng.randint(1, 3), rng.randint(1, 28)),
                 rng.choice(["completed", "completed", "not_completed", "withdrawn", None]),
                 rng.choice((west, south, north)), offence_days=rng.randint(0, 6),
                 days=rng.randint(1, 150))
    db.session.commit()


def _records(date_from, date_to):
    """Every referral of the period as the definition's record, read one by one."""
    records = []
    for referral in db.session.scalars(select(Referral).where(
            Referral.referral_date >= date_from, Referral.referral_date <= date_to)):
        events = sorted(referral.events, key=lambda event: event.id)
        reason = None
        if referral.status is ReferralStatus.NOT_COMPLETED:
            ended = [event.event for event in events
                     if event.to_status is ReferralStatus.NOT_COMPLETED]
            reason = ((reports_outcomes_report.NON_COMPLETION_REASONS.get(ended[-1])
                       if ended else None) or measures.UNKNOWN_REASON)
        records.append(measures.ReferralRecord(
            referral_id=referral.id, force=referral.force.code,
            offence_date=referral.offence_date, referral_date=referral.referral_date,
            status=referral.status.value, completion_deadline=referral.completion_deadline,
            was_booked=any(event.to_status is ReferralStatus.BOOKED for event in events),
            completed_on=(referral.closed_on if referral.status is ReferralStatus.COMPLETED
                          else None),
            non_completion_reason=reason))
    return records


def _parameters(**overrides):
    values = {"date_from": D(2024, 1, 1), "date_to": D(2024, 3, 31), "as_of": D(2026, 6, 15),
              **overrides}
    return reports_kinds.ReportParameters(**values)


@pytest.mark.parametrize("filters", [{}, {"forces": ("NY", "SY")}])
def test_the_database_counts_give_the_definitions_figures(varied, filters):
    data = reports_outcomes_report.build_outcomes(_parameters(**filters)).data
    records = [record for record in _records(D(2024, 1, 1), D(2024, 3, 31))
               if not filters or record.force in filters["forces"]]
    assert data["total"] == measures.summarise_outcomes(records).as_dict()
    assert data["by_force"] == measures.summaries_as_dict(
        measures.outcomes_by(records, measures.by_force))
    assert data["by_month"] == measures.summaries_as_dict(
        measures.outcomes_by(records, measures.by_referral_month))
    assert list(data["by_month"]) == ["2024-01", "2024-02", "2024-03"]
    assert data["total"]["received"] == len(records) > 30


def test_a_period_across_a_year_end_from_the_middle_of_a_month_keeps_its_months(varied):
    # Each referral's month is counted as a number (SQLite: one integer with the force and
    # status; PostgreSQL: which of the months' first days it follows): the months come back
    # as their keys across the year end, from a period that starts on the 15th.
    data = reports_outcomes_report.build_outcomes(_parameters(
        date_from=D(2023, 12, 15), date_to=D(2024, 2, 10))).data
    records = _records(D(2023, 12, 15), D(2024, 2, 10))
    assert list(data["by_month"]) == ["2023-12", "2024-01", "2024-02"]
    assert data["by_month"] == measures.summaries_as_dict(
        measures.outcomes_by(records, measures.by_referral_month))
    assert data["by_force"] == measures.summaries_as_dict(
        measures.outcomes_by(records, measures.by_force))
    assert data["by_month"]["2023-12"]["received"] == 1


def test_the_hand_counted_cases_come_out_as_written(varied):
    reasons = reports_outcomes_report.build_outcomes(
        _parameters()).data["total"]["not_completed_by_reason"]
    assert reasons["not recorded"] == 2  # no event, and an event of another kind
    assert reasons["Completion deadline passed"] == 1
    assert reasons["Missed the session, no excuse accepted"] == 2
    assert reasons["Historical record (reason not recorded)"] >= 1
    # West on 31 January: one completion, 2 days after its offence and 10 before completion.
    only = reports_outcomes_report.build_outcomes(_parameters(
        date_from=D(2024, 1, 31), date_to=D(2024, 1, 31), forces=("WY",))).data["total"]
    assert (only["received"], only["median_days_offence_to_referral"],
            only["median_days_referral_to_completion"]) == (1, 2.0, 10.0)
    # The leap day's completion came after its deadline; the undated one counts neither way.
    february = reports_outcomes_report.count_outcomes(
        D(2024, 2, 29), D(2024, 2, 29), forces=("WY",)).total
    assert (february.completed, february.completed_within_deadline,
            february.median_days_referral_to_completion) == (1, 0, 200.0)
    undated = reports_outcomes_report.count_outcomes(
        D(2024, 2, 1), D(2024, 2, 1), forces=("WY",)).total
    assert (undated.completed, undated.median_days_referral_to_completion) == (1, None)


def test_an_even_count_takes_the_mean_of_the_middle_two(app):
    west = create_force("WY")
    for n, (offence_days, days) in enumerate(((2, 10), (5, 41))):
        referral_with_outcome(family_name=f"Even {'ab'[n]}", referral_date=D(2024, 1, 1 + n),
                              outcome="completed", force=west, days_to_outcome=days,
                              offence_date=D(2024, 1, 1 + n) - dt.timedelta(days=offence_days))
    db.session.commit()
    total = reports_outcomes_report.build_outcomes(_parameters()).data["total"]
    assert total["median_days_offence_to_referral"] == 3.5
    assert total["median_days_referral_to_completion"] == 25.5


def test_a_not_completed_referral_with_no_reason_recorded_counts_as_not_recorded(app):
    ended = referral_with_outcome(family_name="Silent", referral_date=D(2024, 2, 1),
                                  outcome="not_completed")
    db.session.execute(delete(ReferralEvent).where(ReferralEvent.referral_id == ended.id))
    db.session.commit()
    total = reports_outcomes_report.build_outcomes(_parameters()).data["total"]
    assert total["not_completed_by_reason"] == {"not recorded": 1}
    assert total["booked"] == 0


def test_the_median_of_counts_is_the_median_of_the_list_they_stand_for():
    rng = random.Random(5)
    assert measures.median_of_counts({}) is None
    assert measures.median_of_counts({4: 0}) is None
    for _ in range(500):
        counts = {rng.randint(-3, 40): rng.randint(1, 4) for _ in range(rng.randint(1, 6))}
        values = [value for value, count in counts.items() for _ in range(count)]
        rng.shuffle(values)
        assert measures.median_of_counts(counts) == measures.median_days(values), counts


def test_the_reports_queries_do_not_grow_with_its_referrals(app):
    forces = [create_force(code) for code in ("WY", "SY", "NY")]
    referral_with_outcome(family_name="First", referral_date=D(2024, 1, 10), outcome="completed",
                          force=forces[0])
    db.session.commit()
    with count_queries() as few:
        reports_outcomes_report.build_outcomes(_parameters(), with_chart=True)
    for n in range(30):
        referral_with_outcome(family_name=f"More {_letters(n)}", referral_date=D(2024, 1 + n % 3, 1 + n),
                              outcome=("completed", "not_completed", "withdrawn", None)[n % 4],
                              force=forces[n % 3])
    db.session.commit()
    with count_queries() as many:
        data = reports_outcomes_report.build_outcomes(_parameters(), with_chart=True).data
    assert data["total"]["received"] == 31
    assert len(many) == len(few)
    queries = [statement for statement in many if not statement.startswith(("BEGIN", "SET"))]
    assert len(queries) == 3  # the forces' codes, the counts, the forces' names
