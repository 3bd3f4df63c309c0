"""Subject access: everything held about a person, as JSON or a tagged PDF, for a manager or
an admin answering a subject access request (docs/data-protection.md)."""

from __future__ import annotations

from flask import Flask

from diversion.referrals.views import add_page_context
from diversion.subjectaccess import views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    add_page_context(app, views.referral_page_context)
