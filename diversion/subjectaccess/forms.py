"""The subject access check page's form: which format to download."""

from __future__ import annotations

from wtforms import RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired

from diversion.core.forms import Form

FORMAT_CHOICES = [SelectChoice("pdf", "A readable PDF document"),
                  SelectChoice("json", "JSON, for a computer to read")]


class ExportForm(Form):
    format = RadioField("Format", choices=FORMAT_CHOICES,
                        validate_choice=False,
                        validators=[InputRequired("Select the format to download"),
                                    AnyOf([c.value for c in FORMAT_CHOICES],
                                          message="Select the format to download")])
