"""Retention rules: plain functions over dates (see docs/data-protection.md)."""

from __future__ import annotations

import datetime as dt

from diversion.core.timeutils import add_months

ERASED_NAME = "Erased"


def is_due(closed_on: dt.date, *, retention_months: int, today: dt.date) -> bool:
    """A closed referral is due for erasure once closed_on + retention_months <= today."""
    return add_months(closed_on, retention_months) <= today


def latest_due_closing(*, retention_months: int, today: dt.date) -> dt.date:
    """The last closing date that is due today: is_due(d) exactly when d <= this date.

    add_months never decreases as the day grows, so the due days form a run ending here. Going
    back the months from today lands on it or, when clamping folded month ends together
    (31 Aug + 6 months = 28 Feb), up to three days before it.
    """
    cutoff = add_months(today, -retention_months)
    while is_due(cutoff + dt.timedelta(days=1), retention_months=retention_months, today=today):
        cutoff += dt.timedelta(days=1)
    return cutoff


def erased_date_of_birth(date_of_birth: dt.date) -> dt.date:
    """The birth year survives (for age bands in reports); day and month do not."""
    return dt.date(date_of_birth.year, 1, 1)
