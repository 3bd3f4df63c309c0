"""The scheduler process: runs every job the features added, on its interval."""

from __future__ import annotations

from flask import Flask

from diversion.scheduler.cli import scheduler_cli


def init_app(app: Flask) -> None:
    app.cli.add_command(scheduler_cli)
