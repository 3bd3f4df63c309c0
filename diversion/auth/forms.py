"""Sign-in and password forms. They check shape; services check the rules."""

from __future__ import annotations

from wtforms import EmailField, PasswordField
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
