"""Forms for venues and sessions. Shapes only; the services check the rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from wtforms import (
    BooleanField,
    Field,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from diversion.core.forms import DatePartsField, Form, Offered, TimeField, WholeNumberField
from diversion.core.timeutils import london_today, now_utc


class VenueForm(Form):
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
    capacity = WholeNumberField("Capacity", invalid_message="Capacity must be a whole number, like 20",
                                validators=[
        InputRequired("Enter how many people the venue holds"),
        NumberRange(min=1, max=1000, message="Capacity must be between 1 and 1000")],
        description="The most people the room holds for a course")
    step_free_access = BooleanField("Step-free access from the street to the room")
    notes = TextAreaField("Notes (optional)", validators=[Optional(), Length(max=2000)],
                          description="Parking, entrance, who holds the keys")


FREQUENCIES = [SelectChoice("once", "Once"), SelectChoice("weekly", "Every week"),
               SelectChoice("monthly", "Every month, on the same weekday of the same week")]


def future_date_hint(days_ahead: int = 28) -> str:
    """A hint for a date to come, in the GOV.UK form ("For example, 13 7 2026"): a date
    four weeks from today in London, so the example is never one that has passed."""
    day = london_today(now_utc()) + dt.timedelta(days=days_ahead)
    return f"For example, {day.day} {day.month} {day.year}"


# For a time that happens twice on the autumn clock-change day; the labels name the time.
FOLD_CHOICES = [SelectChoice("first", "The first (BST)"), SelectChoice("second", "The second (GMT)")]
FOLDS = {"first": 0, "second": 1}


class SessionForm(Form):
    programme = SelectField("Programme", validators=[InputRequired("Select the programme")])
    venue = SelectField("Venue", validators=[InputRequired("Select the venue")])
    first_day = DatePartsField("Date of the first session", required=True)
    start_time = TimeField("Start time", validators=[InputRequired("Enter the start time")],
                           description="London time, for example 9:30 or 14:00")
    end_time = TimeField("End time", validators=[InputRequired("Enter the end time")],
                         description="London time, for example 16:30")
    capacity = WholeNumberField("Places", invalid_message="Places must be a whole number, like 12",
                                validators=[
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
    until = DatePartsField("Last date")
    count = WholeNumberField("Number of sessions",
                             invalid_message="Number of sessions must be a whole number, like 6",
                             validators=[
        Optional(), NumberRange(min=1, max=120, message="Enter between 1 and 120 sessions")],
        description="For a series ending after a number of sessions. Bank holidays are "
                    "skipped and do not count")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_day.description = future_date_hint()
        later = future_date_hint(days_ahead=182).removeprefix("For example, ")
        self.until.description = f"For a series ending on a date, for example {later}"

    def validate(self, extra_validators: Any = None) -> bool:
        """Only the chosen way of ending a series is checked (the other is hidden)."""
        valid = super().validate(extra_validators)
        unchosen: list[Field]
        if self.frequency.data == "once":
            unchosen = [self.until, self.count]
        else:
            unchosen = [self.count if self.ends.data == "until" else self.until]
        for field in unchosen:
            field.errors = []
        self._errors = None
        return valid or not any(f.errors for f in self._fields.values()) and not self.form_errors

    def validate_until(self, field: DatePartsField) -> None:
        if self.frequency.data != "once" and self.ends.data == "until" and field.data is None \
                and not field.process_errors:
            raise ValidationError("Enter the last date of the series")

    def validate_count(self, field: WholeNumberField) -> None:
        if self.frequency.data != "once" and self.ends.data == "count" and field.data is None:
            raise ValidationError("Enter the number of sessions")


class SessionEditForm(Form):
    venue = SelectField("Venue", validators=[InputRequired("Select the venue")])
    first_day = DatePartsField("Date", required=True)
    start_time = TimeField("Start time", validators=[InputRequired("Enter the start time")],
                           description="London time, for example 9:30 or 14:00")
    end_time = TimeField("End time", validators=[InputRequired("Enter the end time")],
                         description="London time, for example 16:30")
    capacity = WholeNumberField("Places", invalid_message="Places must be a whole number, like 12",
                                validators=[
        InputRequired("Enter the number of places"),
        NumberRange(min=1, max=1000, message="Places must be between 1 and 1000")])
    facilitators = SelectMultipleField("Facilitators", coerce=int,
                                       validators=[InputRequired("Select at least one facilitator")])
    start_fold = RadioField("Which start time do you mean?", validators=[Optional()],
                            choices=FOLD_CHOICES)
    end_fold = RadioField("Which end time do you mean?", validators=[Optional()],
                          choices=FOLD_CHOICES)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_day.description = future_date_hint()


class ConfirmForm(Form):
    """A button with a CSRF token and nothing else."""


class SessionFilterForm(Form):
    class Meta:
        csrf = False

    from_day = DatePartsField("Starting on or after")
    to_day = DatePartsField("Starting on or before")
    venue = SelectField("Venue", default="", validate_choice=False, validators=[Offered()])
    programme = SelectField("Programme", default="", validate_choice=False,
                            validators=[Offered()])
    status = SelectField("Status", default="", validate_choice=False, validators=[Offered()],
                         choices=[SelectChoice("", "Any"), SelectChoice("scheduled", "Scheduled"),
                                  SelectChoice("cancelled", "Cancelled"),
                                  SelectChoice("held", "Held")])

    def validate_to_day(self, field: DatePartsField) -> None:
        """A range that ends before it starts would list nothing without saying why."""
        start = self.from_day.data
        if field.data is not None and start is not None and field.data < start:
            raise ValidationError("Starting on or before must be the same as or after "
                                  "starting on or after")
