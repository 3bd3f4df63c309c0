"""Forgotten passwords: a staff member asks for a link by email and sets a new password with it.

The rules (single use, an hour, only a digest kept, every sign-in ended) are auth.resets'; this
feature is the pages and the email, which goes through the outbox.
"""

from __future__ import annotations

from flask import Flask

from diversion.outbox.dispatcher import add_secret_maker
from diversion.password_reset import services, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    add_secret_maker(app, services.LINK_KIND, views.make_reset_link)
