"""The forgotten-password forms. They check shape; auth.resets checks the rules."""

from __future__ import annotations

from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from diversion.core.forms import Form


class AskForLinkForm(Form):
    email = EmailField("Email address", validators=[
        DataRequired("Enter your email address"),
        Length(max=254, message="Email address must be 254 characters or fewer")])


class NewPasswordForm(Form):
    new_password = PasswordField("New password", validators=[
        DataRequired("Enter a new password")])
