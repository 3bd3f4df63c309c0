"""Sign-in and password forms. They check shape; services check the rules."""

from __future__ import annotations

from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from diversion.core.forms import Form


class SignInForm(Form):
    email = EmailField("Email address", validators=[
        DataRequired("Enter your email address"), Length(max=254)])
    password = PasswordField("Password", validators=[
        DataRequired("Enter your password"), Length(max=256)])


class ChangePasswordForm(Form):
    current_password = PasswordField("Current password", validators=[
        DataRequired("Enter your current password")])
    new_password = PasswordField("New password", validators=[
        DataRequired("Enter a new password")])


class SecondFactorForm(Form):
    code = StringField("Code", validators=[
        DataRequired("Enter the 6-digit code from your authenticator app, or a recovery code"),
        Length(max=32, message="Enter the 6-digit code from your authenticator app, or a "
                               "recovery code")])


class EnrolmentForm(Form):
    code = StringField("Code from your authenticator app", validators=[
        DataRequired("Enter the 6-digit code your authenticator app shows"),
        Length(max=32, message="Enter the 6-digit code your authenticator app shows")])


class EndSessionsForm(Form):
    """Only the CSRF token: which sign-in to end is in the address."""
