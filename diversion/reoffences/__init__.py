"""Reoffences: later offences recorded for people referred, the data of proven reoffending; and
the comparison cohort (people dealt with otherwise) the reoffending report compares them with."""

from __future__ import annotations

from flask import Flask

from diversion.reoffences import cli, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.reoffences_cli)
    app.cli.add_command(cli.comparison_cli)
