"""The commands that span features: `flask --app diversion demo load` and `stats`. Each feature adds
its own group in its init_app. Output is for people; logs are not used here."""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from diversion.auth.demo import DEMO_PASSWORD
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.demo import load_demo_data
from diversion.stats import collect_stats

demo_cli = AppGroup("demo", help="Demonstration data.")


@demo_cli.command("load")
def load_demo() -> None:
    """Load demonstration data (idempotent) and print the demo logins."""
    users = load_demo_data(now=now_utc())
    db.session.commit()
    click.echo("Demo logins (password for all: " + DEMO_PASSWORD + ")")
    for role, email in users:
        click.echo(f"  {role:<12} {email}")
    required = sorted(current_app.config["REQUIRE_SECOND_FACTOR_ROLES"])
    if required:
        click.echo(f"Roles that must use a second factor: {', '.join(required)}. At their first "
                   "sign-in they set up an authenticator app (scan the QR code, or type the key "
                   "shown). To try the demo with passwords alone, set "
                   "DIVERSION_REQUIRE_SECOND_FACTOR_ROLES=none.")


@click.command("stats")
def stats() -> None:
    """Print counts of what the database holds, as JSON."""
    click.echo(json.dumps(collect_stats(), indent=2, sort_keys=True))


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_cli)
    app.cli.add_command(stats)
