"""The register's rules as plain functions: what each mark means for the referral, and when.

No database, no clock: `now` is an argument.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from diversion.core.timeutils import london_midnight_in_utc, london_today

# A register can be taken from this long before its session starts.
OPENS_BEFORE_START = dt.timedelta(hours=1)


class AttendanceStatus(enum.StrEnum):
    ATTENDED = "attended"
    LATE_REFUSED = "late_refused"
    LEFT_EARLY = "left_early"
    REMOVED = "removed"
    ABSENT = "absent"
    EXCUSED = "excused"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def hint(self) -> str:
        return STATUS_HINTS[self]

    @property
    def short_label(self) -> str:
        """The label on the register's status buttons."""
        return STATUS_SHORT_LABELS[self]

    @property
    def needs(self) -> tuple[str, ...]:
        """The register's less common fields this mark asks for ("arrived_at", "reason")."""
        return STATUS_NEEDS.get(self, ())


STATUS_LABELS = {
    AttendanceStatus.ATTENDED: "Attended in full",
    AttendanceStatus.LATE_REFUSED: "Late and refused entry",
    AttendanceStatus.LEFT_EARLY: "Left early",
    AttendanceStatus.REMOVED: "Removed",
    AttendanceStatus.ABSENT: "Absent",
    AttendanceStatus.EXCUSED: "Excused",
}
STATUS_SHORT_LABELS = {
    AttendanceStatus.ATTENDED: "Attended",
    AttendanceStatus.LATE_REFUSED: "Late, refused",
    AttendanceStatus.LEFT_EARLY: "Left early",
    AttendanceStatus.REMOVED: "Removed",
    AttendanceStatus.ABSENT: "Absent",
    AttendanceStatus.EXCUSED: "Excused",
}
STATUS_NEEDS = {
    AttendanceStatus.LATE_REFUSED: ("arrived_at",),
    AttendanceStatus.LEFT_EARLY: ("reason",),
    AttendanceStatus.REMOVED: ("reason",),
    AttendanceStatus.EXCUSED: ("reason",),
}
STATUS_HINTS = {
    AttendanceStatus.ATTENDED: "Stayed for the whole course",
    AttendanceStatus.LATE_REFUSED: "Arrived after the late cut-off",
    AttendanceStatus.LEFT_EARLY: "Did not stay to the end",
    AttendanceStatus.REMOVED: "Asked to leave for disruptive behaviour",
    AttendanceStatus.ABSENT: "Did not come, no excuse given",
    AttendanceStatus.EXCUSED: "Did not come, with a reason accepted today",
}

def marks_summary(statuses: Iterable[AttendanceStatus | None]) -> str:
    """The register's live count, e.g. "17 attended · 2 absent · 1 not yet marked".

    static/js/register.mjs writes the same sentence as marks change; keep the two alike.
    """
    counts = Counter(statuses)
    parts = [f"{counts[s]} {s.short_label.lower()}" for s in AttendanceStatus if counts[s]]
    parts.append(f"{counts[None]} not yet marked" if counts[None] else "everyone marked")
    return " · ".join(parts)


MISSED_STATUSES = frozenset({AttendanceStatus.LATE_REFUSED, AttendanceStatus.LEFT_EARLY,
                             AttendanceStatus.REMOVED, AttendanceStatus.ABSENT})
# Marks that say the person was at the venue, so an arrival time makes sense.
ARRIVED_STATUSES = frozenset({AttendanceStatus.ATTENDED, AttendanceStatus.LATE_REFUSED,
                              AttendanceStatus.LEFT_EARLY, AttendanceStatus.REMOVED})


class Outcome(enum.StrEnum):
    """What a submitted mark does to the referral."""

    COMPLETED = "completed"
    FEE_OUTSTANDING = "fee_outstanding"  # attended in full; completes when the fee is cleared
    MISSED = "missed"
    EXCUSED = "excused"

    @property
    def label(self) -> str:
        return {Outcome.COMPLETED: "Completed",
                Outcome.FEE_OUTSTANDING: "Attended, fee outstanding",
                Outcome.MISSED: "Missed",
                Outcome.EXCUSED: "Excused: to be rebooked"}[self]


@dataclass(frozen=True)
class Mark:
    """One person's line of the register, as entered."""

    status: AttendanceStatus | None
    id_checked: bool = False
    arrived_at: dt.datetime | None = None
    reason: str | None = None


def outcome_for(mark: Mark, *, is_fee_cleared: bool) -> Outcome:
    """The outcome a complete, checked mark leads to."""
    if mark.status is AttendanceStatus.ATTENDED:
        return Outcome.COMPLETED if is_fee_cleared else Outcome.FEE_OUTSTANDING
    if mark.status is AttendanceStatus.EXCUSED:
        return Outcome.EXCUSED
    if mark.status in MISSED_STATUSES:
        return Outcome.MISSED
    raise ValueError("an unmarked line has no outcome")


def late_cutoff_at(starts_at: dt.datetime, late_cutoff_minutes: int) -> dt.datetime:
    """The last instant someone may arrive and still be let in."""
    return starts_at + dt.timedelta(minutes=late_cutoff_minutes)


def mark_problems(mark: Mark, *, starts_at: dt.datetime, late_cutoff_minutes: int,
                  submitting: bool) -> dict[str, str]:
    """What is wrong with one line: {field: message}.

    Drafts may be incomplete (not yet marked; excused with the reason still to come) but not
    contradictory; a submission must be complete.
    """
    problems: dict[str, str] = {}
    if mark.status is None:
        if submitting:
            problems["status"] = "Select whether they attended"
        return problems
    if (submitting and mark.status is AttendanceStatus.EXCUSED
            and not (mark.reason or "").strip()):
        problems["reason"] = "Enter the reason they are excused"
    if mark.arrived_at is not None and mark.status not in ARRIVED_STATUSES:
        problems["arrived_at"] = f"Remove the arrival time: they are marked {mark.status.label.lower()}"
    if (mark.status is AttendanceStatus.ATTENDED and mark.arrived_at is not None
            and mark.arrived_at > late_cutoff_at(starts_at, late_cutoff_minutes)):
        problems["status"] = (f"They arrived after the late cut-off ({late_cutoff_minutes} minutes "
                              "after the start): mark them late and refused entry")
    if submitting and mark.status is AttendanceStatus.ATTENDED and not mark.id_checked:
        problems["id_checked"] = "Check their ID: the course is completed only when ID was checked"
    return problems


def register_opens_at(starts_at: dt.datetime) -> dt.datetime:
    return starts_at - OPENS_BEFORE_START


def is_register_open(starts_at: dt.datetime, *, now: dt.datetime) -> bool:
    """A register can be taken from an hour before its session starts."""
    return now >= register_opens_at(starts_at)


def close_out_due_at(starts_at: dt.datetime) -> dt.datetime:
    """A register not submitted by the end of the London day after the session is overdue."""
    return london_midnight_in_utc(london_today(starts_at) + dt.timedelta(days=2))


def grace_closes_at(missed_at: dt.datetime, grace_days: int) -> dt.datetime:
    """The end of the grace window: the end of the London day `grace_days` after the miss."""
    return london_midnight_in_utc(london_today(missed_at) + dt.timedelta(days=grace_days + 1))


def is_within_grace(missed_at: dt.datetime, grace_days: int, *, now: dt.datetime) -> bool:
    return now < grace_closes_at(missed_at, grace_days)


def is_deadline_passed(completion_deadline: dt.date, *, now: dt.datetime) -> bool:
    """The completion deadline is the last London day on which the course can be completed."""
    return london_today(now) > completion_deadline
