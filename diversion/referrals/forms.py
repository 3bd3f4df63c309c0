"""The referral form, the match choice, withdrawal and the list filters. Shapes only: the
referral services check the rules, and their errors are attached to these fields by name (the
field names are ReferralInput's)."""

from __future__ import annotations

from typing import Any

from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, Optional, ValidationError

from diversion.core.forms import DatePartsField, Form, Offered, TimeField
from diversion.referrals.models import ContactChannel, ReferralStatus

OTHER_OFFENCE = "other"
YES_NO = [SelectChoice("yes", "Yes"), SelectChoice("no", "No")]
DISPOSALS = ["Conditional caution", "Community resolution", "Outcome 22 (diversionary activity)"]
OFFENCE_NAMES = {
    "SOA2003-S51A": "Soliciting (Sexual Offences Act 2003, section 51A)",
    "SOA1985-S1": "Kerb-crawling (Sexual Offences Act 1985, section 1)",
    "SOA1985-S2": "Persistent soliciting (Sexual Offences Act 1985, section 2)",
}
CHANNEL_LABELS = {ContactChannel.EMAIL: "Email", ContactChannel.SMS: "Text message",
                  ContactChannel.POST: "Post"}


class ReferralForm(Form):
    """Everything an officer gives about the person, the offence and the disposal."""

    force_code = SelectField("Police force", validate_choice=False)
    officer_email = StringField("Referring officer's email address", validators=[
        Optional(), Length(max=254)])
    family_name = StringField("Family name", validators=[Length(max=100)])
    given_names = StringField("Given names", validators=[Length(max=200)])
    date_of_birth = DatePartsField("Date of birth", required=True,
                                   description="For example, 27 3 1985")
    pnc_id = StringField("PNC ID (optional)", validators=[Optional(), Length(max=20)],
                         description="For example, 2019/0123456E or 19/123456E")
    gender = StringField("Gender (optional)", validators=[Optional(), Length(max=40)])
    email = StringField("Email address (optional)", validators=[Optional(), Length(max=254)])
    mobile = StringField("Mobile phone number (optional)", validators=[Optional(), Length(max=30)],
                         description="For example, 07700 900982")
    address_line_1 = StringField("Address line 1", validators=[Optional(), Length(max=200)])
    address_line_2 = StringField("Address line 2 (optional)", validators=[Optional(),
                                                                          Length(max=200)])
    town = StringField("Town or city", validators=[Optional(), Length(max=100)])
    postcode = StringField("Postcode", validators=[Optional(), Length(max=10)])
    preferred_contact = RadioField(
        "How should we contact them?",
        validators=[InputRequired("Choose how we should contact the person")],
        # A value not offered is refused by intake's check, in words (not "Not a valid choice.").
        choices=[SelectChoice(c.value, CHANNEL_LABELS[c]) for c in ContactChannel],
        validate_choice=False,
        description="Reminders are discreet: no message names the offence")
    needs_step_free = BooleanField("They need step-free access to the venue")
    access_needs = TextAreaField("Other access needs (optional)",
                                 validators=[Optional(), Length(max=500)],
                                 description="For example, a hearing loop or breaks for medication")
    language_needs = TextAreaField("Language needs (optional)",
                                   validators=[Optional(), Length(max=500)],
                                   description="For example, a Polish interpreter")
    offence_code = RadioField("Offence", validators=[InputRequired("Choose the offence")])
    offence_code_other = StringField("Offence code", validators=[Optional(), Length(max=32)])
    offence_date = DatePartsField("Date of the offence", required=True,
                                  description="For example, 14 11 2026")
    offence_time = TimeField("Time of the offence (optional)", validators=[Optional(),
                                                                         Length(max=10)],
                             description="For example, 21:30 or 9:30pm")
    offence_location = StringField("Where the offence happened (optional)",
                                   validators=[Optional(), Length(max=200)],
                                   description="A street or area, for example Water Lane, Leeds")
    crime_reference = StringField("Crime reference", validators=[Length(max=40)])
    disposal = RadioField("Disposal", validators=[InputRequired("Choose the disposal")],
                          choices=[SelectChoice(d, d) for d in DISPOSALS])
    admitted = RadioField("Did the person admit the offence?", choices=YES_NO,
                          validators=[InputRequired("Say whether the person admitted the offence")])
    consented = RadioField("Did the person consent to the diversion?", choices=YES_NO,
                           validators=[InputRequired(
                               "Say whether the person consented to the diversion")])
    no_relevant_convictions = RadioField(
        "Previous convictions", choices=[
            SelectChoice("yes", "I have checked: no relevant previous convictions"),
            SelectChoice("no", "They have relevant previous convictions")],
        description="Relevant convictions are for sexual offences or domestic abuse",
        validators=[InputRequired("Confirm whether the person has relevant previous convictions")])
    completion_deadline = DatePartsField(
        "Completion deadline from the caution's conditions (optional)",
        description="Only if the conditions give a date. Otherwise it is 4 months after the offence")

    def setup(self, *, offence_codes: list[str], forces: list[tuple[str, str]] | None) -> None:
        """Fill the choices: the programme's offence codes; forces for managers only."""
        self.offence_code.choices = [
            SelectChoice(code, OFFENCE_NAMES.get(code, code)) for code in offence_codes
        ] + [SelectChoice(OTHER_OFFENCE, "Another offence")]
        if forces is None:
            del self.force_code
            del self.officer_email
        else:
            self.force_code.choices = [SelectChoice("", "Choose a force")] + [
                SelectChoice(code, name) for code, name in forces]

    def chosen_offence_code(self) -> str:
        if self.offence_code.data == OTHER_OFFENCE:
            return (self.offence_code_other.data or "").strip().upper()
        return self.offence_code.data or ""

    def validate_offence_code_other(self, field: Any) -> None:
        if self.offence_code.data == OTHER_OFFENCE and not (field.data or "").strip():
            raise ValidationError("Enter the offence code")


class PersonChoiceForm(Form):
    person = RadioField("Is this the same person?",
                        validators=[InputRequired("Choose the same person or a different person")])


class WithdrawForm(Form):
    reason = TextAreaField("Why is the offer being withdrawn?", validators=[
        InputRequired("Enter why the offer is being withdrawn"), Length(max=1000)],
        description="For example, charged instead after further evidence. The officer and "
                    "programme staff will see this")


class ContactForm(Form):
    """Correcting his email address, mobile number and way of contact (the fields are
    ReferralForm's, so intake's checks name them the same)."""

    email = StringField("Email address (optional)", validators=[Optional(), Length(max=254)])
    mobile = StringField("Mobile phone number (optional)", validators=[Optional(), Length(max=30)],
                         description="For example, 07700 900982")
    preferred_contact = RadioField(
        "How should we contact them?",
        validators=[InputRequired("Choose how we should contact the person")],
        # A value not offered is refused by intake's check, in words (not "Not a valid choice.").
        choices=[SelectChoice(c.value, CHANNEL_LABELS[c]) for c in ContactChannel],
        validate_choice=False,
        description="Post needs the address on record. Reminders are discreet: no message "
                    "names the offence")
    # The details as the page showed them (referrals.contact.shown_version): a correction
    # made on a page opened before someone else's is refused, not saved over it.
    shown = HiddenField()


class ConfirmForm(Form):
    """A button with CSRF protection: make the referral, reissue a PIN."""


class FilterForm(Form):
    """The referrals list's filters (a GET form). A field in error is left out of the filters;
    the others still apply."""

    class Meta:
        csrf = False  # a GET form

    q = StringField("Search", validators=[Optional(), Length(max=100)],
                    description="Name, reference, crime reference or PNC ID")
    status = SelectField("Status", default="", choices=[SelectChoice("", "Any status")] + [
        SelectChoice(s.value, s.label) for s in ReferralStatus], validate_choice=False,
        validators=[AnyOf(["", *(s.value for s in ReferralStatus)],
                          message="Choose a status from the list")])
    force = SelectField("Force", default="", validate_choice=False, validators=[Offered()])
    programme = SelectField("Programme", default="", validate_choice=False,
                            validators=[Offered()])
    referred_from = DatePartsField("Referred on or after")
    referred_to = DatePartsField("Referred on or before")
    deadline_soon = BooleanField("Only those with a deadline in the next 14 days")
    mine = BooleanField("Only referrals I made")

    def validate_referred_to(self, field: Any) -> None:
        start = self.referred_from.data
        if field.data is not None and start is not None and field.data < start:
            raise ValidationError("Referred on or before must be the same as or after "
                                  "referred on or after")
