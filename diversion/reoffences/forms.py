"""Recording one reoffence, and uploading a CSV file of them."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import HiddenField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from diversion.core.forms import DatePartsField, Form
from diversion.reoffences.models import ReoffenceOutcome


class ReoffenceForm(Form):
    pnc_id = StringField("PNC ID", validators=[Optional(), Length(max=20)],
                         description="For example, 2019/0123456E. If you do not have it, give "
                                     "the person's name and date of birth")
    family_name = StringField("Family name", validators=[Optional(), Length(max=100)])
    given_names = StringField("Given names", validators=[Optional(), Length(max=200)])
    date_of_birth = DatePartsField("Date of birth", description="For example, 27 3 1985")
    offence_code = StringField("Offence code", validators=[
        InputRequired("Enter the offence code"), Length(max=32)],
        description="For example, SOA2003-S51A")
    offence_date = DatePartsField("Offence date", required=True)
    outcome = RadioField("Outcome", validators=[InputRequired("Select the outcome")],
                         choices=[SelectChoice(o.value, o.label) for o in ReoffenceOutcome])
    outcome_date = DatePartsField("Outcome date",
                                  description="Needed for a conviction or a caution")
    source_reference = StringField("Source reference", validators=[
        InputRequired("Enter the source reference"), Length(max=80)],
        description="The record's reference in the police or court system")


class UploadForm(Form):
    file = FileField("Upload a CSV file")


class ConfirmImportForm(Form):
    content = HiddenField()
    skip_unmatched = HiddenField()
