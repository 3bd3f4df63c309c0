"""Auth: accounts, forces, API tokens, sign-in, and who may use each endpoint (access.py)."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from diversion.auth import cli, views, web
from diversion.auth.services import purge_old_sign_in_failures
from diversion.core.jobs import add_job


def init_app(app: Flask) -> None:
    web.init_app(app)
    app.register_blueprint(views.bp)
    for group in (cli.forces_cli, cli.users_cli, cli.tokens_cli):
        app.cli.add_command(group)
    add_job(app, "housekeeping", forget_old_sign_in_failures, every=dt.timedelta(hours=24),
            description="forget old sign-in failures")


def forget_old_sign_in_failures(*, now: dt.datetime) -> dict[str, int]:
    return {"sign_in_failures_removed":
            purge_old_sign_in_failures(before=now - dt.timedelta(days=1))}
