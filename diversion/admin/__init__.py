"""Administration pages: users, forces, API tokens and the audit log."""

from __future__ import annotations

from flask import Flask

from diversion.admin import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
