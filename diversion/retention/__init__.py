"""Data retention: erasing the identifying data of people whose referrals are long closed."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from diversion.core.jobs import add_job
from diversion.retention import cli
from diversion.retention.services import run_retention


def init_app(app: Flask) -> None:
    app.cli.add_command(cli.retention_cli)
    add_job(app, "retention", run_retention, every=dt.timedelta(hours=24),
            description="erase the identifying data of people whose referrals are past the "
                        "programme's retention period")
