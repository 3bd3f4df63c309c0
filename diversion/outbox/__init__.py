"""The outbox: every email and SMS is a row written in the sender's transaction and sent later,
exactly once, by the dispatch job."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from diversion.auth.models import Role
from diversion.core.dashboard import add_panel
from diversion.core.jobs import add_job
from diversion.outbox import views
from diversion.outbox.dispatcher import dispatch_due


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(views.csv_bp)
    add_panel(app, views.messages_panel, roles=(Role.MANAGER, Role.ADMIN), order=50)
    add_job(app, "dispatch", dispatch_due, every=dt.timedelta(seconds=30),
            description="send the outbox's due messages")
