"""Attendance and referral-outcome arithmetic (DESIGN.md "Reports"), as pure functions.

Callers turn sessions and referrals into the plain records below (or, for the outcomes
report, into counts of alike referrals: `OutcomeTally`, held equal to `summarise_outcomes`);
nothing here touches the database or the clock. Rates are unrounded floats, or None when
their denominator is zero (an honest "no data" rather than a fake 0%).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

OPEN_STATUSES = frozenset({"awaiting_booking", "booked", "missed"})
REFERRAL_STATUSES = OPEN_STATUSES | {"completed", "not_completed", "withdrawn"}


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None when the denominator is 0."""
    if denominator < 0 or numerator < 0:
        raise ValueError("counts cannot be negative")
    return numerator / denominator if denominator else None


def fill_rate(*, booked: int, places: int) -> float | None:
    """Share of places taken: booked / places."""
    return ratio(booked, places)


def attendance_rate(*, attended: int, booked: int) -> float | None:
    """Share of booked people who attended in full: attended / booked."""
    return ratio(attended, booked)


def completion_rate(*, completed: int, not_completed: int) -> float | None:
    """completed / (completed + not_completed): open and withdrawn referrals do not count."""
    return ratio(completed, completed + not_completed)


def median_days(values: Iterable[int]) -> float | None:
    """The median of a list of day counts (the mean of the middle two for an even count)."""
    values = list(values)
    return float(statistics.median(values)) if values else None


def median_of_counts(counts: Mapping[int, int]) -> float | None:
    """`median_days` of the day counts that `counts` ({days: how many}) stands for, without
    making that list: the middle value, or the mean of the middle two for an even count."""
    total = sum(counts.values())
    if total <= 0:
        return None
    lower, upper = (total - 1) // 2, total // 2  # the middle one or two, counted from 0
    seen, low = 0, None
    for value in sorted(counts):
        seen += counts[value]
        if low is None and seen > lower:
            low = value
        if low is not None and seen > upper:
            return (low + value) / 2
    raise AssertionError("unreachable: the counts add up to more than the middle")


# --- Attendance -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionAttendance:
    """One held session's register, counted. `booked` is everyone booked when it started."""

    session_id: Hashable
    session_date: dt.date
    programme: str
    venue: str
    facilitators: tuple[str, ...]
    places: int
    booked: int
    attended: int = 0
    late_refused: int = 0
    left_early: int = 0
    removed: int = 0
    absent: int = 0
    excused: int = 0


COUNT_FIELDS = ("places", "booked", "attended", "late_refused", "left_early", "removed", "absent",
                "excused")


@dataclass
class AttendanceSummary:
    """Counts added up over sessions, with the two rates."""

    sessions: int = 0
    places: int = 0
    booked: int = 0
    attended: int = 0
    late_refused: int = 0
    left_early: int = 0
    removed: int = 0
    absent: int = 0
    excused: int = 0

    @property
    def fill_rate(self) -> float | None:
        return fill_rate(booked=self.booked, places=self.places)

    @property
    def attendance_rate(self) -> float | None:
        return attendance_rate(attended=self.attended, booked=self.booked)

    def as_dict(self) -> dict[str, Any]:
        """Counts and rates, for JSON and CSV."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["fill_rate"] = self.fill_rate
        data["attendance_rate"] = self.attendance_rate
        return data


def summarise_attendance(rows: Iterable[SessionAttendance]) -> AttendanceSummary:
    """Add up sessions' registers."""
    summary = AttendanceSummary()
    for row in rows:
        summary.sessions += 1
        for name in COUNT_FIELDS:
            setattr(summary, name, getattr(summary, name) + getattr(row, name))
    return summary


def attendance_by(
    rows: Iterable[SessionAttendance], key: Callable[[SessionAttendance], Iterable[str]]
) -> dict[str, AttendanceSummary]:
    """Summaries per group, sorted by group. `key` gives each session's groups (one or more:
    a session run by two facilitators counts once for each of them)."""
    groups: dict[str, list[SessionAttendance]] = defaultdict(list)
    for row in rows:
        for group in key(row):
            groups[group].append(row)
    return {group: summarise_attendance(groups[group]) for group in sorted(groups)}


def by_programme(row: SessionAttendance) -> tuple[str]:
    return (row.programme,)


def by_venue(row: SessionAttendance) -> tuple[str]:
    return (row.venue,)


def by_facilitator(row: SessionAttendance) -> tuple[str, ...]:
    return row.facilitators


def by_session_month(row: SessionAttendance) -> tuple[str]:
    return (row.session_date.strftime("%Y-%m"),)


def months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` ("2026-01" keys), in order: a chart's axis, where a
    month with nothing in it is a gap rather than left out."""
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while (key := f"{year:04d}-{month:02d}") <= last:
        months.append(key)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# --- Referral outcomes ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralRecord:
    """A referral as the outcomes report sees it."""

    referral_id: Hashable
    force: str
    offence_date: dt.date
    referral_date: dt.date
    status: str
    completion_deadline: dt.date
    was_booked: bool = False
    completed_on: dt.date | None = None
    non_completion_reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in REFERRAL_STATUSES:
            raise ValueError(f"unknown referral status {self.status!r}")


@dataclass
class OutcomeSummary:
    """The referral funnel and its times."""

    received: int = 0
    booked: int = 0
    completed: int = 0
    not_completed: int = 0
    withdrawn: int = 0
    open: int = 0
    not_completed_by_reason: dict[str, int] = field(default_factory=dict)
    completed_within_deadline: int = 0
    median_days_offence_to_referral: float | None = None
    median_days_referral_to_completion: float | None = None

    @property
    def completion_rate(self) -> float | None:
        return completion_rate(completed=self.completed, not_completed=self.not_completed)

    @property
    def completed_within_deadline_rate(self) -> float | None:
        """Share of completions that happened on or before the completion deadline."""
        return ratio(self.completed_within_deadline, self.completed)

    def as_dict(self) -> dict[str, Any]:
        """Counts, rates and medians, for JSON and CSV."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["not_completed_by_reason"] = dict(sorted(self.not_completed_by_reason.items()))
        data["completion_rate"] = self.completion_rate
        data["completed_within_deadline_rate"] = self.completed_within_deadline_rate
        return data


UNKNOWN_REASON = "not recorded"


def summarise_outcomes(records: Iterable[ReferralRecord]) -> OutcomeSummary:
    """The funnel over referrals: received, booked (ever), completed, not completed (by
    reason), withdrawn, open; median days from offence to referral (all referrals) and from
    referral to completion (completed ones); completions on or before the deadline."""
    summary = OutcomeSummary()
    reasons: dict[str, int] = defaultdict(int)
    offence_to_referral: list[int] = []
    referral_to_completion: list[int] = []
    for record in records:
        summary.received += 1
        summary.booked += record.was_booked or record.status in {"booked", "missed", "completed"}
        offence_to_referral.append((record.referral_date - record.offence_date).days)
        if record.status == "completed":
            summary.completed += 1
            if record.completed_on is not None:
                referral_to_completion.append((record.completed_on - record.referral_date).days)
                summary.completed_within_deadline += record.completed_on <= record.completion_deadline
        elif record.status == "not_completed":
            summary.not_completed += 1
            reasons[record.non_completion_reason or UNKNOWN_REASON] += 1
        elif record.status == "withdrawn":
            summary.withdrawn += 1
        else:
            summary.open += 1
    summary.not_completed_by_reason = dict(sorted(reasons.items()))
    summary.median_days_offence_to_referral = median_days(offence_to_referral)
    summary.median_days_referral_to_completion = median_days(referral_to_completion)
    return summary


@dataclass
class OutcomeTally:
    """`summarise_outcomes` added up from groups of alike referrals and how many each holds
    (what a database's GROUP BY returns), instead of one record per referral: the same
    figures as `summarise_outcomes` over the records the groups stand for."""

    received: int = 0
    booked: int = 0
    completed: int = 0
    not_completed: int = 0
    withdrawn: int = 0
    open: int = 0
    completed_within_deadline: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    offence_to_referral: Counter[int] = field(default_factory=Counter)
    referral_to_completion: Counter[int] = field(default_factory=Counter)

    def add_referrals(self, referrals: int, *, status: str, was_booked: bool,
                      non_completion_reason: str | None = None,
                      completed_within_deadline: bool = False) -> None:
        """`referrals` referrals with this status, ever booked or not, with this reason (not
        completed ones) and completed within their deadline or not (completed ones with a
        completion date)."""
        if status not in REFERRAL_STATUSES:
            raise ValueError(f"unknown referral status {status!r}")
        self.received += referrals
        if was_booked or status in {"booked", "missed", "completed"}:
            self.booked += referrals
        if status == "completed":
            self.completed += referrals
            if completed_within_deadline:
                self.completed_within_deadline += referrals
        elif status == "not_completed":
            self.not_completed += referrals
            self.reasons[non_completion_reason or UNKNOWN_REASON] += referrals
        elif status == "withdrawn":
            self.withdrawn += referrals
        else:
            self.open += referrals

    def add_days_offence_to_referral(self, days: int, referrals: int) -> None:
        self.offence_to_referral[days] += referrals

    def add_days_referral_to_completion(self, days: int, referrals: int) -> None:
        """Completed referrals with a completion date only, as `summarise_outcomes` counts."""
        self.referral_to_completion[days] += referrals

    def summary(self) -> OutcomeSummary:
        return OutcomeSummary(
            received=self.received, booked=self.booked, completed=self.completed,
            not_completed=self.not_completed, withdrawn=self.withdrawn, open=self.open,
            not_completed_by_reason=dict(sorted(self.reasons.items())),
            completed_within_deadline=self.completed_within_deadline,
            median_days_offence_to_referral=median_of_counts(self.offence_to_referral),
            median_days_referral_to_completion=median_of_counts(self.referral_to_completion))


def outcomes_by(
    records: Iterable[ReferralRecord], key: Callable[[ReferralRecord], str]
) -> dict[str, OutcomeSummary]:
    """Summaries per group (e.g. `by_force`, `by_referral_month`), sorted by group."""
    groups: dict[str, list[ReferralRecord]] = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return {group: summarise_outcomes(groups[group]) for group in sorted(groups)}


def by_force(record: ReferralRecord) -> str:
    return record.force


def by_referral_month(record: ReferralRecord) -> str:
    return record.referral_date.strftime("%Y-%m")


def summaries_as_dict(summaries: Mapping[str, AttendanceSummary | OutcomeSummary]) -> dict[str, Any]:
    """Grouped summaries as plain dicts, for JSON."""
    return {group: summary.as_dict() for group, summary in summaries.items()}
