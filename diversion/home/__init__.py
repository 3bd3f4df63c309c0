"""The landing page, each role's dashboard, the accessibility statement and the health check."""

from __future__ import annotations

from flask import Flask

from diversion.auth.models import Role
from diversion.core.dashboard import add_panel
from diversion.home import panels, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    add_panel(app, panels.accounts_panel, roles=(Role.ADMIN,))
    add_panel(app, panels.force_panel, roles=(Role.POLICE,))
