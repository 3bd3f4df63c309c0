"""The programme settings form."""

from __future__ import annotations

from typing import Any

from wtforms import DecimalField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from diversion.core.forms import Form, WholeNumberField


class PoundsField(DecimalField):  # type: ignore[misc]  # WTForms 3.3 has no types
    """Pounds and pence; anything else is refused in the field's words, not WTForms'."""

    data: Any

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            self.data = None
            raise ValueError("Enter the fee in pounds, like 200.00") from error


def _whole(label: str, message: str, description: str | None = None) -> Any:
    return WholeNumberField(label, invalid_message=message, description=description,
                            validators=[InputRequired(message), NumberRange(min=0, message=message)])


class ProgrammeForm(Form):
    code = StringField("Code", validators=[DataRequired("Enter a code, like KCRC"), Length(max=16)],
                       description="A short code used in imports and the API")
    name = StringField("Name", validators=[DataRequired("Enter the programme's name"),
                                           Length(max=200)])
    eligible_offence_codes = TextAreaField(
        "Eligible offence codes",
        validators=[DataRequired("Enter at least one offence code the programme accepts")],
        description="One a line, for example SOA2003-S51A")
    booking_deadline_days = _whole("Booking deadline (days after the referral)",
                                   "Enter the booking deadline as a whole number of days")
    completion_deadline_months = _whole(
        "Completion deadline (months after the offence)",
        "Enter the completion deadline as a whole number of months",
        "Used unless the caution's conditions give a date")
    # In the page's order, which the error summary follows.
    referral_warning_days = _whole(
        "Warn when referred more than this many days after the offence",
        "Enter the warning period as a whole number of days")
    repeat_window_months = _whole(
        "No second diversion within (months before the offence)",
        "Enter the repeat window as a whole number of months")
    fee = PoundsField("Fee", places=2,
                       validators=[InputRequired("Enter the fee in pounds, like 200.00"),
                                   NumberRange(min=0, message="Enter a fee of £0 or more")])
    transfer_limit = _whole("Transfers allowed per booking", "Enter the number of transfers allowed")
    late_cutoff_minutes = _whole("Late cut-off (minutes after the start)",
                                 "Enter the late cut-off as a whole number of minutes")
    grace_days = _whole("Grace window after a missed session (days)",
                        "Enter the grace window as a whole number of days")
    duration_minutes = _whole("Session length (minutes)", "Enter the session length in minutes")
    default_capacity = _whole("Default places per session", "Enter the default number of places")
    retention_months = _whole("Keep records for (months)",
                              "Enter the retention period as a whole number of months")
