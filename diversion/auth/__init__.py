"""Auth: accounts, forces, API tokens, sign-in, and who may use each endpoint (access.py)."""

from __future__ import annotations

import datetime as dt

from flask import Flask, current_app

from diversion.auth import cli, passwords, sessions, views, web
from diversion.auth.guards import forget_quiet_guards
from diversion.auth.held import forget_expired_held_forms
from diversion.auth.resets import forget_expired_reset_links
from diversion.auth.throttle import forget_old_refusals
from diversion.core.jobs import add_job


def init_app(app: Flask) -> None:
    passwords.check_profile(profile=app.config["PASSWORD_HASH_PROFILE"], testing=app.testing)
    web.init_app(app)
    app.register_blueprint(views.bp)
    for group in (cli.forces_cli, cli.users_cli, cli.tokens_cli):
        app.cli.add_command(group)
    add_job(app, "housekeeping", forget_old_refused_attempts, every=dt.timedelta(hours=1),
            description="forget refused sign-ins (staff and self-service) older than a day, "
                        "sign-in guards quiet for a day, expired password reset links, "
                        "forms held after a sign-in ended that were never sent, and staff "
                        "sign-ins ended or expired over 30 days ago")


def forget_old_refused_attempts(*, now: dt.datetime) -> dict[str, int]:
    """The one forgetting job for every throttle (diversion.auth.throttle), which also deletes
    expired held forms (diversion.auth.held)."""
    lifetime = dt.timedelta(seconds=current_app.config["HELD_FORM_LIFETIME_SECONDS"])
    day_ago = now - dt.timedelta(days=1)
    return {"refusals_removed": forget_old_refusals(before=day_ago),
            "guards_removed": forget_quiet_guards(before=day_ago),
            "reset_links_removed": forget_expired_reset_links(before=day_ago),
            "held_forms_removed": forget_expired_held_forms(before=now - lifetime),
            "sign_ins_removed": sessions.forget_old_sessions(
                now=now, limits=sessions.limits_from(current_app.config))}
