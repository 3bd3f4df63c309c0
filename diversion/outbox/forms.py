"""The messages page's filter form (a GET form: no CSRF token)."""

from __future__ import annotations

from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from diversion.core.forms import DatePartsField, Form, Offered
from diversion.outbox.models import Channel, MessageStatus
from diversion.outbox.services import KINDS

CHANNELS = {Channel.EMAIL: "Email", Channel.SMS: "Text message"}
SORTS = {"newest": "Newest first", "oldest": "Oldest first", "status": "Status"}


class MessageFilterForm(Form):
    class Meta:
        csrf = False

    q = StringField("Name or reference", validators=[Optional(), Length(max=100)],
                    description="Family name, referral reference, crime reference or PNC ID")
    kind = SelectField("Kind of message", default="", choices=[SelectChoice("", "Any kind")] + [
        SelectChoice(key, label) for key, label in sorted(KINDS.items(), key=lambda kv: kv[1])],
        validate_choice=False, validators=[Offered()])
    status = SelectMultipleField("Status", default=[], choices=[
        SelectChoice(s.value, s.value.capitalize()) for s in MessageStatus],
        validate_choice=False, validators=[Offered()])
    channel = SelectField("Sent by", default="", choices=[SelectChoice("", "Email or text")] + [
        SelectChoice(c.value, label) for c, label in CHANNELS.items()],
        validate_choice=False, validators=[Offered()])
    date_from = DatePartsField("Due on or after")
    date_to = DatePartsField("Due on or before")
    sort = SelectField("Sort by", default="newest", validate_choice=False,
                       choices=[SelectChoice(key, label) for key, label in SORTS.items()])
