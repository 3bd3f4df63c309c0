"""Forms for bookings and fees. Shapes only; the services check the rules."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from diversion.bookings.models import MANUAL_PAYMENT_METHODS, PaymentMethod
from diversion.core.forms import DatePartsField, Form, Offered

MONEY = re.compile(r"^£?\s*(\d{1,9}(?:\.\d{1,2})?)$")  # the services say when it is too much
# Commas only between groups of three digits, before any decimal point: "1,000.50". "1,50" is
# £1.50 written the continental way, and reading it as £150 would record a hundred times the sum.
THOUSANDS = re.compile(r"^£?\s*\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?$")
NOT_AN_AMOUNT = "Enter an amount in pounds, like 110 or 55.50"


def pence_from_pounds(text: str | None) -> int | None:
    """'110', '£110.50', '0.5', '1,000' as pence; None when it is not an amount of money (a
    comma anywhere but between thousands, like '20,50', is not)."""
    text = (text or "").strip()
    if "," in text and not THOUSANDS.match(text):
        return None
    match = MONEY.match(text.replace(",", ""))
    if not match:
        return None
    try:
        return int(Decimal(match.group(1)) * 100)
    except InvalidOperation:
        return None


class ChooseSessionForm(Form):
    session_id = RadioField("Choose a session", coerce=str,
                            validators=[InputRequired("Choose a session")], validate_choice=False)


class CancelBookingForm(Form):
    reason = TextAreaField("Why is the booking cancelled?",
                           description="Kept on the referral's history",
                           filters=[lambda text: text.strip() if text else text],
                           validators=[DataRequired("Enter why the booking is cancelled"),
                                       Length(max=500, message="Enter a reason of up to 500 characters")])


class WaiveForm(Form):
    reason = TextAreaField("Why is the fee waived?",
                           description="Shown on the booking page; kept with the waiver",
                           filters=[lambda text: text.strip() if text else text],
                           validators=[DataRequired("Enter why the fee is waived"),
                                       Length(max=1000, message="Enter a reason of up to 1000 "
                                                                "characters")])


class PaymentForm(Form):
    amount = StringField("Amount paid", validators=[InputRequired("Enter the amount paid")])
    # Not WTForms' own choice check, whose "Not a valid choice." names nothing to fix: the
    # service's words for a method that is not one of these (an online payment is never typed).
    method = RadioField("How was it paid?",
                        choices=[SelectChoice(m.value, m.label) for m in MANUAL_PAYMENT_METHODS],
                        validate_choice=False,
                        validators=[InputRequired("Choose how it was paid"),
                                    AnyOf([m.value for m in MANUAL_PAYMENT_METHODS],
                                          message="Choose how it was paid: card, cash, bank "
                                                  "transfer or cheque")])
    reference = StringField("Payment reference (optional)",
                            validators=[Optional(), Length(max=100)])


class ConfirmForm(Form):
    """A button with a CSRF token, nothing else."""


class CancelSessionForm(Form):
    reason = TextAreaField("Why is the session cancelled?",
                           description="People booked on it are told this reason",
                           validators=[InputRequired("Enter why the session is cancelled"),
                                       Length(max=500)])


class PaymentFilterForm(Form):
    """The payments list's filters (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField("Name or reference", validators=[Optional(), Length(max=100)],
                    description="Family name, referral reference, crime reference or PNC ID")
    method = SelectField("Method", default="", choices=[SelectChoice("", "Any method")] + [
        SelectChoice(m.value, m.label) for m in PaymentMethod], validate_choice=False,
        validators=[AnyOf(["", *(m.value for m in PaymentMethod)],
                          message="Choose a payment method from the list")])
    force = SelectField("Police force", default="", validate_choice=False, validators=[Offered()])
    date_from = DatePartsField("Recorded on or after")
    date_to = DatePartsField("Recorded on or before")
    sort = SelectField("Sort by", default="newest", validate_choice=False, choices=[
        SelectChoice("newest", "Newest first"), SelectChoice("oldest", "Oldest first"),
        SelectChoice("amount", "Amount")])

    def validate_date_to(self, field: Any) -> None:
        start = self.date_from.data
        if field.data is not None and start is not None and field.data < start:
            raise ValidationError("Recorded on or before must be the same as or after "
                                  "recorded on or after")
