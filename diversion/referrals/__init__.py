"""Police referrals: people, eligibility, the referral lifecycle."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from diversion.auth.models import Role
from diversion.core.dashboard import add_panel
from diversion.core.jobs import add_job
from diversion.outbox.services import add_current_recipient, add_subject_people
from diversion.referrals import cli, contact, queries, upload_views, views
from diversion.referrals.drafts import purge_expired_drafts


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(views.exports_bp)
    app.cli.add_command(cli.referrals_cli)
    add_panel(app, views.police_referrals_panel, roles=(Role.POLICE,), order=10)
    add_panel(app, views.manager_referrals_panel, roles=(Role.MANAGER,), order=10)
    add_panel(app, views.imports_panel, roles=(Role.POLICE, Role.MANAGER), order=60)
    add_panel(app, views.referrals_summary_panel, roles=(Role.POLICE, Role.MANAGER))
    add_subject_people(app, "referral", queries.messages_people, queries.messages_search)
    add_current_recipient(app, "referral", contact.current_recipient_of_message)
    add_job(app, "referral_drafts", purge_expired_drafts, every=dt.timedelta(minutes=5),
            description="remove expired referral drafts; clear offer-letter PINs held over "
                        "30 minutes")
    add_job(app, "referral_uploads", upload_views.remove_expired_uploads,
            every=dt.timedelta(minutes=10),
            description="remove uploaded referral CSV files left unconfirmed for over an hour")
