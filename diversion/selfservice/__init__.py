"""Self-service pages for the referred person: sign in with reference, PIN and date of birth."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from diversion.auth.models import Role
from diversion.core.dashboard import add_panel
from diversion.core.jobs import add_job
from diversion.selfservice import paying, views
from diversion.selfservice.services import purge_ended_sessions

# paying.py adds the payment pages to views.bp when it is imported (above), before registration.
_PAGE_MODULES = (views, paying)


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    add_panel(app, views.locked_panel, roles=(Role.MANAGER,), order=80)
    add_job(app, "self_service_housekeeping", forget_ended_sessions, every=dt.timedelta(hours=1),
            description="forget ended person sessions (refusals: auth's housekeeping)")


def forget_ended_sessions(*, now: dt.datetime) -> dict[str, int]:
    return {"sessions_removed": purge_ended_sessions(now=now)}
