"""Forms for the register. The register itself has one line per person, so its fields are
read by name (`<reference>-status` …) and its CSRF token checked through `RegisterForm`."""

from __future__ import annotations

from wtforms import BooleanField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from diversion.attendance.rules import AttendanceStatus
from diversion.core.forms import Form

STATUS_CHOICES = [SelectChoice(s.value, s.label) for s in AttendanceStatus]


class RegisterForm(Form):
    """CSRF only: the lines are dynamic (see views._marks_from_form)."""


class ReasonForm(Form):
    reason = TextAreaField("Reason", validators=[
        InputRequired("Enter the reason"),
        Length(max=500, message="Keep the reason to 500 characters")])


class AmendEntryForm(Form):
    status = RadioField("Attendance", choices=STATUS_CHOICES,
                        validators=[InputRequired("Select their attendance")])
    id_checked = BooleanField("ID checked")
    arrived_at = StringField("Arrival time (optional)", validators=[Optional()],
                             description="For example, 9:25 or 9:25am")
    excuse = StringField("Reason they were excused, or other detail (optional)",
                         validators=[Length(max=1000)])
    participation_note = TextAreaField("Facilitator's opinion of how they took part (optional)",
                                       validators=[Length(max=1000)])
    reason = TextAreaField("Reason for the amendment",
                           validators=[InputRequired("Enter the reason for the amendment"),
                                       Length(max=500, message="Keep the reason to 500 characters")])


class VerifyCertificateForm(Form):
    code = StringField("Verification code", validators=[
        InputRequired("Enter the verification code from the certificate"),
        Length(max=40, message="The verification code has 12 letters and numbers")])
