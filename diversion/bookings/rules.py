"""Pure booking rules: which sessions a referral may take. No database, no clock.

A session suits a referral when:
- it is scheduled (not cancelled or held) and starts after `now`;
- it runs the referral's programme;
- it ends no later than the end of the completion deadline day (London), so the course can
  be completed in time;
- for someone who needs step-free access, the venue is step-free (online venues count as
  step-free: the person joins from home);
- for an online session, the person has an email address, because the joining link is sent
  by email. People with no email take in-person sessions.
Capacity is not a rule here: the database holds it (see capacity.take_place).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from diversion.core.timeutils import london_midnight_in_utc


@dataclass(frozen=True)
class SessionFacts:
    id: int
    programme_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    is_scheduled: bool
    is_online: bool
    is_step_free: bool


@dataclass(frozen=True)
class ReferralFacts:
    id: int
    programme_id: int
    completion_deadline: dt.date
    needs_step_free: bool
    has_email: bool


@functools.lru_cache(maxsize=4096)  # an allocation's thousands of referrals share a few hundred
def deadline_end(completion_deadline: dt.date) -> dt.datetime:
    """The instant the completion deadline day ends in London, in UTC."""
    return london_midnight_in_utc(completion_deadline + dt.timedelta(days=1))


def why_unsuitable(referral: ReferralFacts, session: SessionFacts, *,
                   now: dt.datetime) -> str | None:
    """Why this session cannot be booked for this referral, in plain words, or None if it can."""
    if not session.is_scheduled:
        return "This session is not running"
    if session.starts_at <= now:
        return "This session has already started"
    if session.programme_id != referral.programme_id:
        return "This session is for a different course"
    if session.ends_at > deadline_end(referral.completion_deadline):
        return (f"This session is after the completion deadline of "
                f"{referral.completion_deadline:%-d %B %Y}")
    if referral.needs_step_free and not session.is_step_free:
        return "This venue has no step-free access, which this person needs"
    if session.is_online and not referral.has_email:
        return "Online sessions need an email address for the joining link"
    return None


def transfers_left(*, transfers_used: int, transfer_limit: int) -> int:
    return max(transfer_limit - transfers_used, 0)
