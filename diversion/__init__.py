"""Diversion: runs offender diversion courses."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

# Importing the app builds a few hundred thousand objects (modules, models, SQLAlchemy's
# mappings) that live as long as the process. With the cyclic collector on, it walks them over
# and over on the way (two full collections of 100 ms or more each); off for these imports, and
# what they built is then frozen out of the collector's generations (it is never garbage).
_COLLECTING = gc.isenabled()
gc.disable()
try:
    from flask import Flask

    from diversion import (
        admin,
        api,
        attendance,
        audit,
        auth,
        bookings,
        cli,
        core,
        courses,
        home,
        navigation,
        outbox,
        password_reset,
        payments,
        programmes,
        referrals,
        reminders,
        reoffences,
        reports,
        retention,
        scheduler,
        selfservice,
        subjectaccess,
    )
    from diversion.core.config import flask_config, read_settings
    from diversion.core.transactions import TransactionalFlask
finally:
    gc.freeze()
    if _COLLECTING:
        gc.enable()

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Every feature, lowest layer first: the same order as the import contract in pyproject.toml.
# Each adds its blueprints, commands, jobs, dashboard panels and signal receivers in init_app.
FEATURES = (auth, audit, outbox, password_reset, programmes, courses, referrals, bookings, reminders,
            attendance, payments, selfservice, reoffences, retention, subjectaccess, reports, home,
            api, admin, navigation, scheduler, cli)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application. Never migrates, never starts the scheduler, never calls out."""
    app = TransactionalFlask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    settings = read_settings(instance_path=app.instance_path)
    app.config.from_mapping(flask_config(settings))
    if test_config:
        app.config.from_mapping(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    core.init_app(app, migrations_directory=str(PROJECT_ROOT / "migrations"))
    for feature in FEATURES:
        feature.init_app(app)
    if not app.testing:
        # What is alive now — the models, routes, templates, the app itself — lives as long as
        # the process: taken out of the cyclic collector's generations, no later collection in
        # a worker walks it again, nor the collection at exit (a quarter of a second of a CLI
        # command). The suite builds many apps, and lets the collector have them back.
        gc.freeze()
    return app
