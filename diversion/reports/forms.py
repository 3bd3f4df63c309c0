"""Report filters (GET forms, no CSRF: they change nothing) and the Data Lab export form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice

from diversion.scheduling.forms import DatePartsField


class ReportFilterForm(FlaskForm):
    class Meta:
        csrf = False

    date_from = DatePartsField("From", required=True,
                               description="The first referral date, for example 1 1 2024")
    date_to = DatePartsField("To", required=True,
                             description="The last referral date, for example 31 12 2024")
    as_of = DatePartsField("As of", description="Reoffences recorded up to this date count. "
                                                "Leave blank for today")
    scope = RadioField("Offences counted", default="any", choices=[
        SelectChoice("any", "Any offence"),
        SelectChoice("programme", "Only offences the programme accepts")])


class JusticeDataLabForm(FlaskForm):
    date_from = DatePartsField("From", required=True,
                               description="The first referral date of the cohort")
    date_to = DatePartsField("To", required=True, description="The last referral date")
    group = RadioField("Who to include", default="all", choices=[
        SelectChoice("all", "Everyone who completed or did not complete"),
        SelectChoice("completed", "Only those who completed"),
        SelectChoice("not_completed", "Only those who did not complete")])
