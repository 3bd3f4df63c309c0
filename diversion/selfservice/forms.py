"""Self-service forms. They check shape; the services check the details against the referral."""

from __future__ import annotations

import datetime as dt
from typing import Any

from wtforms import HiddenField, RadioField, StringField
from wtforms.validators import DataRequired, Length

from diversion.core import parsing
from diversion.core.forms import Form

REFERENCE_NOT_VALID = "Reference must be 8 letters and numbers, like ACDE3467"


class StartForm(Form):
    reference = StringField("Reference", validators=[
        DataRequired("Enter the reference from your letter"),
        Length(max=20, message=REFERENCE_NOT_VALID)])
    pin = StringField("PIN", validators=[
        DataRequired("Enter the PIN from your letter"),
        Length(max=20, message="PIN must be 6 numbers")])
    dob_day = StringField("Day")
    dob_month = StringField("Month")
    dob_year = StringField("Year")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.date_of_birth: dt.date | None = None
        self.date_of_birth_error: str | None = None
        # The boxes the error is about ("day", "month", "year"), as the GOV.UK date input
        # pattern marks only those: the summary links to the first.
        self.date_of_birth_fields: tuple[str, ...] = ()

    def _date_of_birth_refused(self, message: str, *fields: str) -> bool:
        self.date_of_birth_error = message
        self.date_of_birth_fields = fields
        return False

    def validate(self, extra_validators: Any = None) -> bool:
        is_valid = super().validate(extra_validators)
        names = ("day", "month", "year")
        parts = [(f.data or "").strip() for f in (self.dob_day, self.dob_month, self.dob_year)]
        missing = tuple(name for name, part in zip(names, parts, strict=True) if not part)
        if missing == names:
            return self._date_of_birth_refused(
                "Enter your date of birth, including the day, month and year", *names)
        if missing:
            return self._date_of_birth_refused(
                "Date of birth must include a " + " and ".join(missing), *missing)
        if parts[2].isascii() and parts[2].isdigit() and len(parts[2]) != 4:
            return self._date_of_birth_refused(
                "Year must include 4 numbers, for example 1985", "year")
        try:
            self.date_of_birth = parsing.parse_date_parts(*parts, what="Date of birth")
        except parsing.ParseError:
            return self._date_of_birth_refused(
                "Date of birth must be a real date, like 27 3 1985", *names)
        return is_valid


class ChooseSessionForm(Form):
    session_id = RadioField("Choose a course date", coerce=int, validate_choice=True,
                            validators=[DataRequired("Select the course date you want")])


class ConfirmForm(Form):
    """A form with only its CSRF token: a confirmation button."""


class LeaveWaitingListForm(Form):
    """Leave one waiting list: the session's id, checked against his entries by the service."""

    session_id = HiddenField(filters=[lambda v: parsing.query_int(v) if isinstance(v, str) else v],
                             validators=[DataRequired("Choose a waiting list to leave")])
