"""Report filters (GET forms, no CSRF: they change nothing) and the Data Lab export form.

The force, programme, venue and facilitator choices are set by the view from what is stored;
the form does not check a value against them: producing.validate_parameters does, and says
which code or id names nothing, with every other problem."""

from __future__ import annotations

from wtforms import RadioField, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf

from diversion.core.forms import DatePartsField, Form


class ReportFilterForm(Form):
    class Meta:
        csrf = False

    date_from = DatePartsField("From", required="Enter the first date the report covers",
                               named="The date from",
                               description="The first referral date, for example 1 1 2024")
    date_to = DatePartsField("To", required="Enter the last date the report covers",
                             named="The date to",
                             description="The last referral date, for example 31 12 2024")
    as_of = DatePartsField("As of", named="The as-of date",
                           description="Reoffences recorded up to this date count. "
                           "Leave blank for today")
    # Checked here in words (not WTForms' "Not a valid choice."): a hand-edited address.
    scope = RadioField("Offences counted", default="any", validate_choice=False, choices=[
        SelectChoice("any", "Any offence"),
        SelectChoice("programme", "Only offences the programme accepts")],
        validators=[AnyOf(["any", "programme"], message="Choose which offences to count: "
                          "any offence or only offences the programme accepts")])
    force = SelectMultipleField("Forces", default=[], choices=[], validate_choice=False,
                                description="Leave all unticked for every force")
    programme = SelectField("Programme", default="", choices=[], validate_choice=False)
    venue = SelectField("Venue", default="", choices=[], validate_choice=False)
    facilitator = SelectField("Facilitator", default="", choices=[], validate_choice=False)


class JusticeDataLabForm(Form):
    date_from = DatePartsField("From", required="Enter the first referral date of the cohort",
                               named="The date from",
                               description="The first referral date of the cohort")
    date_to = DatePartsField("To", required="Enter the last referral date of the cohort",
                             named="The date to",
                             description="The last referral date")
    force = SelectField("Police force", default="", choices=[], validate_choice=False,
                        description="Only the people that force referred, or everyone")
    group = RadioField("Who to include", default="all", choices=[
        SelectChoice("all", "Everyone who completed or did not complete"),
        SelectChoice("completed", "Only those who completed"),
        SelectChoice("not_completed", "Only those who did not complete")])
