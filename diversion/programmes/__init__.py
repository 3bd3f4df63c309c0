"""Programmes (course types) and their settings."""

from __future__ import annotations

from flask import Flask

from diversion.programmes import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
