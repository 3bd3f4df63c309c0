"""Self-service forms. They check shape; the services check the details against the referral."""

from __future__ import annotations

import datetime as dt
from typing import Any

from wtforms import HiddenField, RadioField, StringField
from wtforms.validators import DataRequired, Length

from diversion.core import parsing
from diversion.core.forms import Form


class StartForm(Form):
    reference = StringField("Reference", validators=[
        DataRequired("Enter the reference from your letter"), Length(max=20)])
    pin = StringField("PIN", validators=[
        DataRequired("Enter the PIN from your letter"), Length(max=20)])
    dob_day = StringField("Day")
    dob_month = StringField("Month")
    dob_year = StringField("Year")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.date_of_birth: dt.date | None = None
        self.date_of_birth_error: str | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        is_valid = super().validate(extra_validators)
        parts = [(f.data or "").strip() for f in (self.dob_day, self.dob_month, self.dob_year)]
        if not all(parts):
            self.date_of_birth_error = "Enter your date of birth, including the day, month and year"
            return False
        try:
            self.date_of_birth = parsing.parse_date_parts(*parts, what="Date of birth")
        except parsing.ParseError:
            self.date_of_birth_error = "Date of birth must be a real date, like 27 3 1985"
            return False
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
