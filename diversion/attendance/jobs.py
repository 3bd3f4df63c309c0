"""The register's sweeps, registered with the scheduler in diversion/scheduler/jobs.py."""

from __future__ import annotations

import datetime as dt

from diversion.attendance import deadlines


def run_grace_window(*, now: dt.datetime) -> dict[str, int]:
    """Missed referrals whose grace window has closed become not completed."""
    return deadlines.sweep_grace_window(now=now)


def run_deadline(*, now: dt.datetime) -> dict[str, int]:
    """Fee-cleared attendees complete; open referrals past the completion deadline close."""
    return deadlines.sweep_deadlines(now=now)
