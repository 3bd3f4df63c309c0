"""What every feature's forms share: the base form, the GOV.UK date input, times of day.

`Form` is the base of every form: besides FlaskForm's checks it applies the one rule for typed
text (diversion.core.parsing): single-line boxes refuse line breaks and control characters, text areas
refuse control characters other than line breaks. Validators raise `ValidationError`, the type
WTForms turns into a field error; a plain `ValueError` escapes as a 500 in WTForms 3.3.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, IntegerField, PasswordField, StringField, TextAreaField
from wtforms.fields.choices import SelectFieldBase
from wtforms.utils import unset_value
from wtforms.validators import Length, ValidationError

from diversion.core import parsing
from diversion.core.errors import ValidationFailed

_OPTIONAL = re.compile(r"\s*\(optional\)", re.IGNORECASE)


def named_in_errors(field: Field) -> str:
    """The field's label as its error messages name it: "Time of the offence (optional)" is
    "Time of the offence" there (the label's "(optional)" is a hint, not its name), and a
    box asking "Why …?" is "The reason" ("Why is the offer being withdrawn? must be …" is not
    English)."""
    label = _OPTIONAL.sub("", str(field.label.text)).strip()
    if label.endswith("?") and label.lower().startswith("why "):
        return "The reason"
    return label


def _length_message(what: str, length: Length) -> str:
    """GOV.UK's words for a length limit, in place of WTForms' "Field cannot be longer than…"."""
    if length.min > 0 and length.max != -1:
        return f"{what} must be between {length.min:,} and {length.max:,} characters"
    if length.min > 0:
        return f"{what} must be {length.min:,} characters or more"
    return f"{what} must be {length.max:,} characters or fewer"


class Form(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    """The base of every form: FlaskForm plus the text rule on every text box."""

    def validate(self, extra_validators: Any = None) -> bool:
        for field in self:
            # A length limit without its own words gets the field's name in GOV.UK's (this
            # form's copy of the list: the class's validators are shared by every request).
            if any(isinstance(v, Length) and v.message is None for v in field.validators):
                field.validators = [
                    Length(v.min, v.max, message=_length_message(named_in_errors(field), v))
                    if isinstance(v, Length) and v.message is None else v
                    for v in field.validators]
        is_valid = bool(super().validate(extra_validators))
        for field in self:
            if isinstance(field, SelectFieldBase) and not field.errors:
                # A choice nobody could pick (a control character, a NUL the request guard
                # turned into one): named on its field, never looked up.
                values = field.data if isinstance(field.data, list) else [field.data]
                if any(isinstance(v, str) and parsing.has_control_characters(v) for v in values):
                    field.errors = [f"Choose the {named_in_errors(field).lower()} from the list"]
                    is_valid = False
            if isinstance(field, PasswordField) or not isinstance(field, StringField):
                continue
            if not isinstance(field.data, str):
                continue
            try:
                parsing.check_text(field.data, what=named_in_errors(field),
                                   multiline=isinstance(field, TextAreaField))
            except parsing.ParseError as error:
                field.errors = [str(error), *list(field.errors or [])]
                is_valid = False
        return is_valid


def attach_errors(form: FlaskForm, error: ValidationFailed, *, fallback: str | None = None) -> None:
    """Put a service's field errors onto the form, so the page shows them beside the fields."""
    for name, message in error.errors.items():
        field = getattr(form, name, None)
        if field is None and fallback is not None:
            field = getattr(form, fallback, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors or []), message]
        else:
            form.form_errors.append(message)


class Offered:
    """A select's value must be one of the choices the view set on it (from what is stored):
    a stale bookmark or an edited address ("venue=3000000000") is named on its field in words,
    never silently ignored nor refused as WTForms' "Not a valid choice.". A blank value passes
    only where a blank choice ("Any") is offered."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message

    def __call__(self, form: Any, field: Field) -> None:
        values = field.data if isinstance(field.data, list) else [field.data]
        offered = {choice.value for choice in field.iter_choices()}
        if all(value is None or value in offered for value in values):
            return
        raise ValidationError(self.message
                              or f"Choose the {named_in_errors(field).lower()} from the list")


TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?$", re.ASCII)


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


class DatePartsField(Field):  # type: ignore[misc]  # WTForms 3.3 has no types
    """A GOV.UK date input: three boxes named <name>-day, <name>-month and <name>-year.

    The date must fall between `earliest` and `latest` (by default 1900 to 2100, the dates a
    person's life or a course can have); outside them the field says so instead of failing later.
    As the GOV.UK date input pattern asks, an error names the box at fault ("must include a
    month", "The year of … must include 4 numbers") and `parts_at_fault` holds the boxes it is
    about, so the page marks only those and the error summary links to the first; an error about
    the whole date (out of range, a day the month does not have, a form or service rule) leaves
    it empty: every box is marked.
    """

    PARTS = ("day", "month", "year")

    def __init__(self, label: str | None = None, validators: Any = None, *,
                 required: bool | str = False, earliest: dt.date = parsing.EARLIEST_DATE,
                 latest: dt.date = parsing.LATEST_DATE, named: str | None = None,
                 **kwargs: Any) -> None:
        """`required` may be the message to give when the date is left blank; `named` is how
        errors name the date when its label alone reads badly there ("The date from")."""
        super().__init__(label, validators, **kwargs)
        self.is_required = bool(required)
        self.required_message = required if isinstance(required, str) else None
        self.earliest, self.latest = earliest, latest
        self.named = named
        self.raw: dict[str, str] = {part: "" for part in self.PARTS}
        self.parts_at_fault: tuple[str, ...] = ()

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        self.process_errors = []
        self.parts_at_fault = ()
        if data is unset_value:
            data = self.default() if callable(self.default) else self.default
        self.object_data = data
        self.data = data
        if isinstance(data, dt.date):
            self.raw = {"day": str(data.day), "month": str(data.month), "year": str(data.year)}
        if formdata is None or not any(f"{self.name}-{p}" in formdata for p in self.PARTS):
            return
        self.raw = {p: (formdata.get(f"{self.name}-{p}") or "").strip()[:20] for p in self.PARTS}
        self.data = None
        if not any(self.raw.values()):
            return
        what = self.named or named_in_errors(self)
        missing = tuple(p for p in self.PARTS if not self.raw[p])
        if missing:
            self._refuse(f"{what} must include a {' and '.join(missing)}", *missing)
            return
        day, month, year = (self.raw[p] for p in self.PARTS)
        if not _is_number(year) or len(year) != 4:
            self._refuse(f"The year of {what[:1].lower() + what[1:]} must include 4 numbers",
                         "year")
            return
        if not _is_number(month) or len(month) > 2 or not 1 <= int(month) <= 12:
            self._refuse(f"The month of {what[:1].lower() + what[1:]} must be a number "
                         "from 1 to 12", "month")
            return
        if not _is_number(day) or len(day) > 2 or not 1 <= int(day) <= 31:
            self._refuse(f"The day of {what[:1].lower() + what[1:]} must be a number "
                         "from 1 to 31", "day")
            return
        try:
            self.data = parsing.make_date(int(year), int(month), int(day), what=what,
                                          earliest=self.earliest, latest=self.latest)
        except parsing.OutOfRange as error:
            self.process_errors.append(str(error))
        except parsing.ParseError as error:  # 31 February: the day is the one at fault
            self._refuse(str(error), "day")

    def _refuse(self, message: str, *parts: str) -> None:
        self.process_errors.append(message)
        self.parts_at_fault = parts

    def pre_validate(self, form: Any) -> None:
        if self.is_required and self.data is None and not self.process_errors:
            raise ValidationError(self.required_message
                                  or f"Enter the {named_in_errors(self).lower()}")


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 4


class WholeNumberField(IntegerField):  # type: ignore[misc]  # WTForms 3.3 has no types
    """A whole number typed in a box. Anything else ("abc", "1.5", forty nines) is refused with
    the field's own words rather than WTForms' "Not a valid integer value"; the range itself is
    the validators' (NumberRange) to check."""

    def __init__(self, label: str | None = None, validators: Any = None, *,
                 invalid_message: str, **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self.invalid_message = invalid_message

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = None
        if not text:
            return
        try:
            self.data = parsing.parse_int(text, minimum=-parsing.MAX_ID, maximum=parsing.MAX_ID)
        except parsing.ParseError as error:
            # process_formdata is the one place WTForms turns a ValueError into a field error.
            raise ValueError(self.invalid_message) from error


class TimeField(StringField):  # type: ignore[misc]  # WTForms 3.3 has no types
    """A time of day typed as text, like 9:30 or 2pm."""

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self.time: dt.time | None = None

    def post_validate(self, form: Any, validation_stopped: bool) -> None:
        if validation_stopped or not self.data:
            return
        self.time = parse_time(self.data)
        if self.time is None:
            self.errors.append(f"Enter the {named_in_errors(self).lower()} like 9:30 or 14:00")
