"""Diversion: runs offender diversion courses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event

from diversion.config import flask_config, read_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application. Never migrates, never starts the scheduler, never calls out."""
    app = Flask(
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

    from diversion import extensions

    extensions.db.init_app(app)
    extensions.migrate.init_app(
        app, extensions.db, directory=str(PROJECT_ROOT / "migrations"), compare_type=True,
        render_as_batch=True,
    )
    extensions.csrf.init_app(app)
    with app.app_context():
        engine = extensions.db.engine
        if engine.dialect.name == "sqlite":
            from diversion.db import configure_sqlite

            configure_sqlite(engine)
        else:
            event.listen(engine, "connect", _set_postgres_timezone)

    from diversion import models  # noqa: F401  (every table known to the metadata)
    from diversion.web import init_web

    init_web(app)

    from diversion.cli import register_cli

    register_cli(app)
    return app


def _set_postgres_timezone(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()
