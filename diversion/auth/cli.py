"""The accounts commands: `flask --app diversion forces|users|tokens …`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from diversion.auth import second_factor
from diversion.auth import services as auth_services
from diversion.auth.models import Role
from diversion.core.errors import DomainError, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc

forces_cli = AppGroup("forces", help="Police forces.")
users_cli = AppGroup("users", help="User accounts.")
tokens_cli = AppGroup("tokens", help="API tokens.")


def _fail(error: DomainError) -> None:
    if isinstance(error, ValidationFailed):
        for field, message in error.errors.items():
            click.echo(f"{field}: {message}", err=True)
    else:
        click.echo(error.message, err=True)
    db.session.rollback()
    sys.exit(1)


@forces_cli.command("create")
@click.option("--code", required=True)
@click.option("--name", required=True)
def create_force(code: str, name: str) -> None:
    """Add a police force."""
    try:
        force = auth_services.create_force(code=code, name=name, actor=None, now=now_utc())
    except DomainError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"created force {force.code}")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--force", "force_code", help="The force code; required for police.")
def create_user(email: str, name: str, role: str, force_code: str | None) -> None:
    """Add a user. The password is read from standard input."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    force = None
    if force_code:
        force = auth_services.get_force_by_code(force_code)
        if force is None:
            click.echo(f"force: no force with code {force_code}", err=True)
            sys.exit(1)
    try:
        user = auth_services.create_user(email=email, name=name, role=Role(role),
                                         password=password, force=force, actor=None,
                                         now=now_utc())
    except DomainError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"created {user.role.value} {user.email}")


@users_cli.command("reseal-authenticators")
def reseal_authenticators() -> None:
    """Seal every authenticator secret under the current SECRET_KEY (run it after changing the
    key, before the old one leaves SECRET_KEY_FALLBACKS)."""
    done = second_factor.reseal_all(now=now_utc())
    db.session.commit()
    click.echo(f"sealed again: {done.resealed}; already under the current key: {done.current}")
    if done.unopened:
        click.echo(f"{done.unopened} could not be opened with SECRET_KEY or SECRET_KEY_FALLBACKS: "
                   "those users need their second factor reset (or a recovery code)", err=True)
        sys.exit(1)


@tokens_cli.command("create")
@click.option("--email", required=True)
@click.option("--expires-in-days", type=click.IntRange(1, auth_services.MAX_TOKEN_DAYS),
              default=None, help="Stop working after this many days (default: until revoked).")
def create_token(email: str, expires_in_days: int | None) -> None:
    """Issue an API token for a user and print it. It is shown this once only."""
    user = auth_services.get_user_by_email(email)
    if user is None:
        click.echo(f"email: no user with email {email}", err=True)
        sys.exit(1)
    try:
        _, clear = auth_services.create_api_token(user=user, actor=None, now=now_utc(),
                                                  expires_in_days=expires_in_days)
    except DomainError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(clear)
