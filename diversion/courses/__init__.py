"""Courses: venues and the sessions of a programme's course held at them (single or in series),
and facilitators' calendars."""

from __future__ import annotations

from flask import Flask

from diversion.auth.models import Role
from diversion.core.dashboard import add_panel
from diversion.courses import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    add_panel(app, views.facilitator_panel, roles=(Role.FACILITATOR,))
    add_panel(app, views.manager_panel, roles=(Role.MANAGER,), order=40)
    add_panel(app, views.manager_summary_panel, roles=(Role.MANAGER,))
