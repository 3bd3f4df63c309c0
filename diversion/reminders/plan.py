"""The reminder plan's settings per programme; saving them re-plans the programme's bookings.

- `save_plan(programme=, items=, actor=, now=)`
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.outbox.models import ReminderKind, ReminderPlanItem
from diversion.programmes.models import Programme
from diversion.reminders import rules
from diversion.reminders.messages import get_plan
from diversion.reminders.rules import PlanItem
from diversion.reminders.session_reminders import replan_programme


def save_plan(*, programme: Programme, items: Sequence[PlanItem], actor: Any,
              now: dt.datetime) -> dict[ReminderKind, PlanItem]:
    """Save a programme's plan and re-plan the pending reminders of its upcoming bookings.

    Errors are keyed `<kind>-<field>`. Reminders already sent stay sent (their keys are kept).
    """
    errors = {f"{item.kind.value}-{field}": message
              for item in items for field, message in rules.check_item(item).items()}
    if errors:
        raise ValidationFailed(errors)
    existing = {row.kind: row for row in db.session.scalars(
        select(ReminderPlanItem).where(ReminderPlanItem.programme_id == programme.id))}
    before = get_plan(programme.id)
    for item in items:
        row = existing.get(item.kind)
        if row is None:
            row = ReminderPlanItem(programme_id=programme.id, kind=item.kind)
            db.session.add(row)
        row.enabled = item.enabled
        row.offset_days = 0 if item.kind in rules.IMMEDIATE_KINDS else item.offset_days
        row.time_of_day = None if item.kind in rules.IMMEDIATE_KINDS else item.time_of_day
        row.updated_at = now
        row.updated_by_id = getattr(actor, "id", None)
    db.session.flush()
    after = get_plan(programme.id)
    changed = sorted(kind.value for kind in after if after[kind] != before[kind])
    record(action="reminder_plan.update", category=AuditCategory.ALTERATION, now=now,
           actor=actor, object_type="programme", object_id=programme.id,
           details={"changed": changed})
    if any(ReminderKind(kind) in rules.SESSION_KINDS for kind in changed):
        replan_programme(programme_id=programme.id, now=now)
    return after
