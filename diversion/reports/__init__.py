"""Reports: attendance, referral outcomes and proven reoffending, as HTML, CSV, PDF and JSON."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from diversion.core.jobs import add_job
from diversion.reports import cli, views
from diversion.reports.jobs import prepare_monthly


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.reports_cli)
    add_job(app, "monthly_report", prepare_monthly, every=dt.timedelta(hours=1),
            description="on the month's first working day, store last month's report PDFs and "
                        "email managers a link")
