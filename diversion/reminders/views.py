"""The reminder plan pages: a manager sees and edits each programme's plan."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from wtforms import BooleanField, StringField
from wtforms.validators import NumberRange, Optional

from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role
from diversion.core.errors import ValidationFailed
from diversion.core.forms import Form, WholeNumberField, attach_errors
from diversion.core.timeutils import now_utc
from diversion.core.transactions import savepoint
from diversion.outbox.models import ReminderKind
from diversion.programmes import services as programme_services
from diversion.reminders import messages, rules
from diversion.reminders import plan as reminders_plan
from diversion.reminders.rules import PlanItem

bp = Blueprint("reminders", __name__, url_prefix="/reminder-plans")

TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
OFFSET_MESSAGE = f"Enter a number of days from 0 to {rules.MAX_OFFSET_DAYS}"


class PlanForm(Form):
    """One checkbox per line, and days and time of day for the timed lines."""


for _kind in ReminderKind:
    setattr(PlanForm, f"{_kind.value}-enabled", BooleanField("Send this message"))
    if _kind not in rules.IMMEDIATE_KINDS:
        setattr(PlanForm, f"{_kind.value}-offset_days", WholeNumberField(
            "Days before", invalid_message=OFFSET_MESSAGE,
            validators=[Optional(), NumberRange(0, rules.MAX_OFFSET_DAYS, message=OFFSET_MESSAGE)]))
        setattr(PlanForm, f"{_kind.value}-time_of_day", StringField("Time of day (London)"))


def _field(form: PlanForm, kind: ReminderKind, name: str) -> Any:
    return getattr(form, f"{kind.value}-{name}", None)


def _fill(form: PlanForm, plan: dict[ReminderKind, PlanItem]) -> None:
    for kind, item in plan.items():
        _field(form, kind, "enabled").data = item.enabled
        if kind not in rules.IMMEDIATE_KINDS:
            _field(form, kind, "offset_days").data = item.offset_days
            _field(form, kind, "time_of_day").data = (
                item.time_of_day.strftime("%H:%M") if item.time_of_day else "")


def _items_from(form: PlanForm) -> list[PlanItem]:
    """The plan lines the form describes; ValidationFailed for times that are not times."""
    items, errors = [], {}
    for kind in ReminderKind:
        enabled = bool(_field(form, kind, "enabled").data)
        if kind in rules.IMMEDIATE_KINDS:
            items.append(PlanItem(kind, enabled))
            continue
        offset = _field(form, kind, "offset_days").data
        if offset is None:
            errors[f"{kind.value}-offset_days"] = OFFSET_MESSAGE
        text = (_field(form, kind, "time_of_day").data or "").strip()
        time_of_day = None
        if text:
            match = TIME.match(text)
            if match is None:
                errors[f"{kind.value}-time_of_day"] = ("Enter a time like 10:00 (24-hour clock), "
                                                       "or leave it blank")
            else:
                time_of_day = dt.time(int(match.group(1)), int(match.group(2)))
        items.append(PlanItem(kind, enabled, offset or 0, time_of_day))
    if errors:
        raise ValidationFailed(errors)
    return items


@bp.get("")
@roles(Role.MANAGER)
def list_plans() -> Any:
    programmes = programme_services.list_programmes()
    plans = {programme.id: messages.get_plan(programme.id) for programme in programmes}
    return render_template("reminders/plans.html", programmes=programmes,
                           plans=plans, kinds=list(ReminderKind), labels=rules.LABELS,
                           describe=describe)


@bp.route("/<int:programme_id>", methods=["GET", "POST"])
@roles(Role.MANAGER)
def edit_plan(programme_id: int) -> Any:
    programme = programme_services.get_programme(programme_id)
    form = PlanForm()
    if form.validate_on_submit():
        try:
            with savepoint():
                reminders_plan.save_plan(programme=programme, items=_items_from(form),
                                    actor=current_actor(), now=now_utc())
        except ValidationFailed as error:
            attach_errors(form, error)
        else:
            flash(f"Reminder plan for {programme.name} saved", "success")
            return redirect(url_for("reminders.list_plans"))
    elif not form.is_submitted():
        _fill(form, messages.get_plan(programme.id))
    return render_template("reminders/plan_edit.html", programme=programme,
                           form=form, kinds=list(ReminderKind), labels=rules.LABELS,
                           immediate=rules.IMMEDIATE_KINDS, field=_field,
                           fixed=rules.FIXED_MESSAGES)


def describe(item: PlanItem) -> str:
    """A plan line in words: "7 days before, at 10:00", "48 hours before", "Off"."""
    if not item.enabled:
        return "Off"
    if item.kind in rules.IMMEDIATE_KINDS:
        return "When the police withdraw the offer"
    before = "before the booking deadline" if item.kind is ReminderKind.DEADLINE_APPROACHING \
        else "before the session"
    if item.time_of_day is None:
        if item.kind is ReminderKind.DEADLINE_APPROACHING:
            return f"{item.offset_days} days {before}, at 10:00"
        return f"{item.offset_days * 24} hours {before}"
    days = f"{item.offset_days} day{'s' if item.offset_days != 1 else ''}"
    return f"{days} {before}, at {item.time_of_day:%H:%M}"
