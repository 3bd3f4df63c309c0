"""Administration forms."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, PasswordField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, Optional, ValidationError

from diversion.audit.models import AuditCategory
from diversion.auth.models import Role
from diversion.core.forms import DatePartsField, Form, Offered

ROLE_CHOICES = [SelectChoice(role.value, role.label) for role in Role]


class UserForm(Form):
    name = StringField("Full name", validators=[DataRequired("Enter the person's full name"),
                                                Length(max=200)])
    email = EmailField("Email address", validators=[
        DataRequired("Enter an email address"), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES,
                       validators=[DataRequired("Select a role")])
    force = SelectField("Police force", choices=[], validate_choice=False,
                        description="Only for police officers")
    # Shown only when a police address is outside its force's email domain.
    domain_checked = BooleanField("I have checked this email address belongs to an officer "
                                  "of this force")


class NewUserForm(UserForm):
    password = PasswordField("Password", validators=[DataRequired("Enter a password")],
                             description="At least 12 characters. Avoid common passwords.")


class ResetPasswordForm(Form):
    password = PasswordField("New password", validators=[DataRequired("Enter a new password")],
                             description="At least 12 characters. Avoid common passwords.")


class ForceForm(Form):
    code = StringField("Force code", validators=[DataRequired("Enter a force code"),
                                                 Length(max=16)],
                       description="A short code, for example WYP")
    name = StringField("Force name", validators=[DataRequired("Enter the force's name"),
                                                 Length(max=200)])
    email_domain = StringField("Officers' email domain (optional)",
                               validators=[Optional(), Length(max=253)],
                               description="The part after @, for example wyp.police.example")


class ForceDomainForm(Form):
    email_domain = StringField("Officers' email domain",
                               validators=[Optional(), Length(max=253)],
                               description="The part after @, for example wyp.police.example. "
                                           "Leave it blank if the force has none")


# How long a new token may work: days, or "never" (until revoked).
TOKEN_LIFETIMES = [SelectChoice("30", "30 days"), SelectChoice("90", "90 days"),
                   SelectChoice("365", "1 year"),
                   SelectChoice("never", "Until it is revoked (no expiry date)")]


class TokenForm(Form):
    user = SelectField("Account", choices=[], validate_choice=False,
                       validators=[DataRequired("Select the account the token acts as")])
    expires = RadioField("How long should it work?", choices=TOKEN_LIFETIMES, default="90")

    @property
    def expires_in_days(self) -> int | None:
        return None if self.expires.data == "never" else int(self.expires.data)


class ConfirmForm(Form):
    """An empty form: a button and its CSRF token."""


class AuditFilterForm(Form):
    """The audit log's filters (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField("Person or reference", validators=[Optional(), Length(max=100)],
                    description="Family name, referral reference, crime reference or PNC ID")
    user = SelectField("User", default="", validate_choice=False, validators=[Offered()])
    action = SelectField("Action", default="", validate_choice=False)
    category = SelectField("Category", default="", choices=[SelectChoice("", "Any category")] + [
        SelectChoice(c.value, c.value.capitalize()) for c in AuditCategory],
        validators=[AnyOf(["", *(c.value for c in AuditCategory)],
                          message="Select a category from the list")], validate_choice=False)
    date_from = DatePartsField("On or after", named="The date on or after")
    date_to = DatePartsField("On or before", named="The date on or before")
    sort = SelectField("Sort by", default="newest", validate_choice=False, choices=[
        SelectChoice("newest", "Newest first"), SelectChoice("oldest", "Oldest first"),
        SelectChoice("action", "Action")])

    def validate_date_to(self, field: DatePartsField) -> None:
        """A range that ends before it starts would list nothing without saying why."""
        if field.data and self.date_from.data and field.data < self.date_from.data:
            start = self.date_from.data
            raise ValidationError(
                f"On or before must be the same as or after {start.day} {start:%B %Y}")
