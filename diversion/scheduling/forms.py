"""Forms for venues and sessions. Shapes only; the services check the rules."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.utils import unset_value
from wtforms.validators import InputRequired, Length, NumberRange, Optional

TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?$")


def parse_time(text: str) -> dt.time | None:
    """'9:30', '09.30', '14:00', '2pm', '9:30am' as a time of day; None if it is not one."""
    match = TIME.match(text.strip().lower().replace(" ", ""))
    if not match:
        return None
    hour, minute, suffix = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if suffix:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    elif match.group(2) is None:
        return None  # a bare "9" is ambiguous: ask for 9:00 or 9am
    if hour > 23 or minute > 59:
        return None
    return dt.time(hour, minute)


class DatePartsField(Field):
    """A GOV.UK date input: three boxes named <name>-day, <name>-month and <name>-year."""

    PARTS = ("day", "month", "year")

    def __init__(self, label: str | None = None, validators: Any = None, *,
                 required: bool = False, **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self.is_required = required
        self.raw: dict[str, str] = {part: "" for part in self.PARTS}

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        self.process_errors = []
        if data is unset_value:
            data = self.default() if callable(self.default) else self.default
        self.object_data = data
        self.data = data
        if isinstance(data, dt.date):
            self.raw = {"day": str(data.day), "month": str(data.month), "year": str(data.year)}
        if formdata is None or not any(f"{self.name}-{p}" in formdata for p in self.PARTS):
            return
        self.raw = {p: (formdata.get(f"{self.name}-{p}") or "").strip() for p in self.PARTS}
        self.data = None
        if not any(self.raw.values()):
            return
        missing = [p for p in self.PARTS if not self.raw[p]]
        if missing:
            self.process_errors.append(f"{self.label.text} must include a {missing[0]}")
            return
        try:
            year = int(self.raw["year"])
            if year < 1000:
                raise ValueError("year needs 4 digits")
            self.data = dt.date(year, int(self.raw["month"]), int(self.raw["day"]))
        except ValueError:
            self.process_errors.append(f"{self.label.text} must be a real date")

    def pre_validate(self, form: Any) -> None:
        if self.is_required and self.data is None and not self.process_errors:
            raise ValueError(f"Enter the {self.label.text.lower()}")


class TimeField(StringField):
    """A time of day typed as text, like 9:30 or 2pm."""

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self.time: dt.time | None = None

    def post_validate(self, form: Any, validation_stopped: bool) -> None:
        if validation_stopped or not self.data:
            return
        self.time = parse_time(self.data)
        if self.time is None:
            self.errors.append(f"Enter the {self.label.text.lower()} like 9:30 or 14:00")


class VenueForm(FlaskForm):
    name = StringField("Venue name", validators=[InputRequired("Enter the venue's name"),
                                                 Length(max=200)])
    is_online = RadioField("Is this an online venue?", default="no", choices=[
        SelectChoice("no", "No, people attend in person"),
        SelectChoice("yes", "Yes, people join online")])
    address_line_1 = StringField("Address line 1", validators=[Optional(), Length(max=200)])
    address_line_2 = StringField("Address line 2 (optional)", validators=[Optional(),
                                                                          Length(max=200)])
    town = StringField("Town or city", validators=[Optional(), Length(max=100)])
    postcode = StringField("Postcode", validators=[Optional(), Length(max=10)])
    joining_link = StringField("Joining link", validators=[Optional(), Length(max=500)],
                               description="Only sent to people booked on a session, shortly "
                                           "before it starts")
    capacity = IntegerField("Capacity", validators=[
        InputRequired("Enter how many people the venue holds"),
        NumberRange(min=1, max=1000, message="Capacity must be between 1 and 1000")],
        description="The most people the room holds for a course")
    step_free_access = BooleanField("Step-free access from the street to the room")
    notes = TextAreaField("Notes (optional)", validators=[Optional(), Length(max=2000)],
                          description="Parking, entrance, who holds the keys")


FREQUENCIES = [SelectChoice("once", "Once"), SelectChoice("weekly", "Every week"),
               SelectChoice("monthly", "Every month, on the same weekday of the same week")]


# For a time that happens twice on the autumn clock-change day; the labels name the time.
FOLD_CHOICES = [SelectChoice("first", "The first (BST)"), SelectChoice("second", "The second (GMT)")]
FOLDS = {"first": 0, "second": 1}


class SessionForm(FlaskForm):
    programme = SelectField("Programme", validators=[InputRequired("Select the programme")])
    venue = SelectField("Venue", validators=[InputRequired("Select the venue")])
    first_day = DatePartsField("Date", required=True,
                               description="For example, 27 3 2026")
    start_time = TimeField("Start time", validators=[InputRequired("Enter the start time")],
                           description="London time, for example 9:30 or 14:00")
    end_time = TimeField("End time", validators=[InputRequired("Enter the end time")],
                         description="London time, for example 16:30")
    capacity = IntegerField("Places", validators=[
        InputRequired("Enter the number of places"),
        NumberRange(min=1, max=1000, message="Places must be between 1 and 1000")],
        description="No more than the venue holds")
    facilitators = SelectMultipleField("Facilitators", coerce=int,
                                       validators=[InputRequired("Select at least one facilitator")])
    frequency = RadioField("How often", choices=FREQUENCIES, default="once")
    start_fold = RadioField("Which start time do you mean?", validators=[Optional()],
                            choices=FOLD_CHOICES)
    end_fold = RadioField("Which end time do you mean?", validators=[Optional()],
                          choices=FOLD_CHOICES)
    ends = RadioField("Ends", choices=[SelectChoice("until", "On a date"),
                               SelectChoice("count", "After a number of sessions")],
                      default="count")
    until = DatePartsField("Last date",
                           description="For a series ending on a date, for example 31 12 2026")
    count = IntegerField("Number of sessions", validators=[
        Optional(), NumberRange(min=1, max=120, message="Enter between 1 and 120 sessions")],
        description="For a series ending after a number of sessions. Bank holidays are "
                    "skipped and do not count")

    def validate_until(self, field: DatePartsField) -> None:
        if self.frequency.data != "once" and self.ends.data == "until" and field.data is None \
                and not field.process_errors:
            raise ValueError("Enter the last date of the series")

    def validate_count(self, field: IntegerField) -> None:
        if self.frequency.data != "once" and self.ends.data == "count" and field.data is None:
            raise ValueError("Enter the number of sessions")


class SessionEditForm(FlaskForm):
    venue = SelectField("Venue", validators=[InputRequired("Select the venue")])
    first_day = DatePartsField("Date", required=True,
                               description="For example, 27 3 2026")
    start_time = TimeField("Start time", validators=[InputRequired("Enter the start time")],
                           description="London time, for example 9:30 or 14:00")
    end_time = TimeField("End time", validators=[InputRequired("Enter the end time")],
                         description="London time, for example 16:30")
    capacity = IntegerField("Places", validators=[
        InputRequired("Enter the number of places"),
        NumberRange(min=1, max=1000, message="Places must be between 1 and 1000")])
    facilitators = SelectMultipleField("Facilitators", coerce=int,
                                       validators=[InputRequired("Select at least one facilitator")])
    start_fold = RadioField("Which start time do you mean?", validators=[Optional()],
                            choices=FOLD_CHOICES)
    end_fold = RadioField("Which end time do you mean?", validators=[Optional()],
                          choices=FOLD_CHOICES)


class ConfirmForm(FlaskForm):
    """A button with a CSRF token and nothing else."""


class SessionFilterForm(FlaskForm):
    class Meta:
        csrf = False

    from_day = DatePartsField("From")
    to_day = DatePartsField("To")
    venue = SelectField("Venue", validators=[Optional()])
    programme = SelectField("Programme", validators=[Optional()])
    status = SelectField("Status", validators=[Optional()],
                         choices=[SelectChoice("", "Any"), SelectChoice("scheduled", "Scheduled"),
                                  SelectChoice("cancelled", "Cancelled"),
                                  SelectChoice("held", "Held")])
