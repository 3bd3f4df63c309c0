"""Pure rules for the reminder plan: what is sent when, and to which address. No database, no clock.

Due times are worked out on the London wall clock ("1 day before at 10:00") and returned as UTC
instants. A reminder is skipped, not sent late, when its time has already passed by the time it
is planned (a booking made the day before the course gets its confirmation, not a "see you next
week"). The one exception is the joining details of an online session: the link is in no other
message, so a late booking gets it straight away.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from diversion.core.timeutils import london_midnight_in_utc, london_to_utc, to_london
from diversion.outbox.models import Channel, ReminderKind
from diversion.outbox.rules import next_allowed_sms_time

MAX_OFFSET_DAYS = 60


LABELS = {
    ReminderKind.FIRST_REMINDER: "First reminder before the course",
    ReminderKind.FINAL_REMINDER: "Final reminder before the course",
    ReminderKind.JOINING_DETAILS: "Joining details (online sessions only)",
    ReminderKind.DEADLINE_APPROACHING: "Booking deadline approaching (people not yet booked)",
    ReminderKind.OFFER_WITHDRAWN: "Offer withdrawn",
    ReminderKind.FEE_OUTSTANDING: "Fee still to pay (people booked whose fee is outstanding)",
}

TEMPLATES = {
    ReminderKind.FIRST_REMINDER: "reminder_first",
    ReminderKind.FINAL_REMINDER: "reminder_final",
    ReminderKind.JOINING_DETAILS: "reminder_joining_details",
    ReminderKind.DEADLINE_APPROACHING: "reminder_booking_deadline",
    ReminderKind.OFFER_WITHDRAWN: "offer_withdrawn",
    ReminderKind.FEE_OUTSTANDING: "reminder_fee_outstanding",
}

# Reminders about a booked session: planned per booking, expiring when the session starts.
# The fee reminder goes only to a man whose fee is still outstanding when it is planned, and is
# cancelled once the fee is paid or waived.
SESSION_KINDS = (ReminderKind.FIRST_REMINDER, ReminderKind.FINAL_REMINDER,
                 ReminderKind.JOINING_DETAILS, ReminderKind.FEE_OUTSTANDING)
SESSION_TEMPLATES = frozenset(TEMPLATES[kind] for kind in SESSION_KINDS)
FEE_TEMPLATE = TEMPLATES[ReminderKind.FEE_OUTSTANDING]
# Kinds sent the moment something happens: no offset, no time of day.
IMMEDIATE_KINDS = frozenset({ReminderKind.OFFER_WITHDRAWN})


@dataclass(frozen=True)
class PlanItem:
    """One line of a programme's reminder plan.

    `time_of_day` is London wall-clock time on the day `offset_days` before; None means "at the
    same moment of the day", i.e. exactly `offset_days` x 24 hours before (joining details).
    """

    kind: ReminderKind
    enabled: bool
    offset_days: int = 0
    time_of_day: dt.time | None = None


DEFAULT_PLAN: dict[ReminderKind, PlanItem] = {
    ReminderKind.FIRST_REMINDER: PlanItem(ReminderKind.FIRST_REMINDER, True, 7, dt.time(10, 0)),
    ReminderKind.FINAL_REMINDER: PlanItem(ReminderKind.FINAL_REMINDER, True, 1, dt.time(10, 0)),
    ReminderKind.JOINING_DETAILS: PlanItem(ReminderKind.JOINING_DETAILS, True, 2, None),
    ReminderKind.DEADLINE_APPROACHING: PlanItem(ReminderKind.DEADLINE_APPROACHING, True, 7,
                                                dt.time(10, 0)),
    ReminderKind.OFFER_WITHDRAWN: PlanItem(ReminderKind.OFFER_WITHDRAWN, True),
    ReminderKind.FEE_OUTSTANDING: PlanItem(ReminderKind.FEE_OUTSTANDING, True, 5, dt.time(10, 0)),
}

# Messages other features send, listed on the plan page so the whole plan is in one place.
FIXED_MESSAGES = [
    ("Booking confirmation, with a calendar file", "when a place is booked or moved (bookings)"),
    ("Course completed", "when the register shows the course completed (register)"),
    ("Outcome notice to the referring officer", "when a referral is completed, not completed "
                                                "or withdrawn (referral lifecycle)"),
]


def check_item(item: PlanItem) -> dict[str, str]:
    """Field errors for one plan line (empty when it is valid)."""
    errors: dict[str, str] = {}
    if item.kind in IMMEDIATE_KINDS:
        return errors
    if not 0 <= item.offset_days <= MAX_OFFSET_DAYS:
        errors["offset_days"] = f"Enter a number of days from 0 to {MAX_OFFSET_DAYS}"
    elif item.offset_days == 0 and item.time_of_day is None:
        errors["offset_days"] = "Enter at least 1 day, or give a time of day"
    return errors


def due_before(item: PlanItem, *, starts_at: dt.datetime) -> dt.datetime:
    """When a session reminder falls due, in UTC, before a session starting at `starts_at`."""
    if item.time_of_day is None:
        return starts_at.astimezone(dt.UTC) - dt.timedelta(days=item.offset_days)
    day = to_london(starts_at).date() - dt.timedelta(days=item.offset_days)
    return london_to_utc(dt.datetime.combine(day, item.time_of_day))


def due_before_deadline(item: PlanItem, *, deadline: dt.date) -> dt.datetime:
    """When the "booking deadline approaching" message falls due, in UTC."""
    day = deadline - dt.timedelta(days=item.offset_days)
    return london_to_utc(dt.datetime.combine(day, item.time_of_day or dt.time(10, 0)))


def deadline_expiry(deadline: dt.date) -> dt.datetime:
    """The end of the booking deadline day (London): after that the message is pointless."""
    return london_midnight_in_utc(deadline + dt.timedelta(days=1))


def send_time(due: dt.datetime, *, channel: Channel, now: dt.datetime,
              expires_at: dt.datetime | None, send_late: bool = False) -> dt.datetime | None:
    """The instant to send at, or None to skip.

    SMS waits out the quiet hours (20:00-08:00 London). A time already past is skipped, unless
    `send_late`, when it is sent now (quiet hours still apply). Nothing is planned for after
    its expiry.
    """
    if channel is Channel.SMS:
        due = next_allowed_sms_time(due)
    if due < now:
        if not send_late:
            return None
        due = next_allowed_sms_time(now) if channel is Channel.SMS else now
    if expires_at is not None and due >= expires_at:
        return None
    return due.astimezone(dt.UTC)


@dataclass(frozen=True)
class Planned:
    kind: ReminderKind
    due_at: dt.datetime
    expires_at: dt.datetime | None


def plan_session_reminders(plan: Mapping[ReminderKind, PlanItem], *, starts_at: dt.datetime,
                           is_online: bool, channel: Channel, now: dt.datetime,
                           fee_outstanding: bool = False) -> list[Planned]:
    """The reminders to send for one booking: enabled, still in the future, before the start.
    The fee reminder only while the fee is outstanding."""
    planned = []
    for kind in SESSION_KINDS:
        item = plan.get(kind, DEFAULT_PLAN[kind])
        if (not item.enabled or (kind is ReminderKind.JOINING_DETAILS and not is_online)
                or (kind is ReminderKind.FEE_OUTSTANDING and not fee_outstanding)):
            continue
        due = send_time(due_before(item, starts_at=starts_at), channel=channel, now=now,
                        expires_at=starts_at,
                        send_late=kind is ReminderKind.JOINING_DETAILS)
        if due is not None:
            planned.append(Planned(kind, due, starts_at))
    return planned


def plan_deadline_reminder(item: PlanItem, *, deadline: dt.date, channel: Channel,
                           now: dt.datetime) -> Planned | None:
    """The "booking deadline approaching" message for someone not yet booked, or None."""
    if not item.enabled:
        return None
    expires_at = deadline_expiry(deadline)
    due = send_time(due_before_deadline(item, deadline=deadline), channel=channel, now=now,
                    expires_at=expires_at)
    return None if due is None else Planned(item.kind, due, expires_at)


@functools.lru_cache(maxsize=4096)  # bulk planning asks again for each booking of a session
@functools.lru_cache(maxsize=4096)  # bulk planning keys thousands of reminders by a few starts
def instant_token(value: dt.datetime) -> str:
    """A UTC instant as it appears in a dedupe key: basic ISO 8601, no colons (20260615T0900Z)."""
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")


def session_key(kind: ReminderKind, *, booking_id: int, starts_at: dt.datetime) -> str:
    """`reminder:<kind>:booking:<id>:<start>`: a moved session gets new keys, so new reminders."""
    before, after = session_key_affixes(kind, starts_at=starts_at)
    return f"{before}{booking_id}{after}"


def session_key_affixes(kind: ReminderKind, *, starts_at: dt.datetime) -> tuple[str, str]:
    """What `session_key` puts before and after the booking id (bulk planning keys thousands
    of bookings of a session)."""
    return f"reminder:{kind.value}:booking:", f":{instant_token(starts_at)}"


def deadline_key(*, referral_id: int, deadline: dt.date) -> str:
    return f"reminder:{ReminderKind.DEADLINE_APPROACHING.value}:referral:{referral_id}:{deadline:%Y%m%d}"


def key_start_token(dedupe_key: str) -> str:
    """The start instant a session reminder's key was planned for (a manager's resend, keyed
    `<key>:resend:<n>`, keeps its original's start)."""
    parts = dedupe_key.split(":")
    return parts[4] if len(parts) > 4 else ""
