"""Shared infrastructure every feature builds on: settings, the database, errors, parsing, forms,
PDFs, problem+json, web wiring, background jobs and dashboard panels. It imports no feature."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from diversion.core import extensions, migrations, readspool, web
from diversion.core.db import configure_sqlite, redact_statement_errors
from diversion.core.jobs import add_job


def init_app(app: Flask, *, migrations_directory: str) -> None:
    """Bind the extensions and install the shared web wiring."""
    # `extensions.db`, not `db`: a name `db` here would hide the module diversion.core.db.
    extensions.db.init_app(app, configure_engine=_configure_engine)
    migrations.init_app(app, extensions.db, directory=migrations_directory,
                        compare_type=True, render_as_batch=True)
    extensions.csrf.init_app(app)
    web.init_app(app)
    add_job(app, "fold_read_spool", readspool.fold_read_spool, every=dt.timedelta(minutes=1),
            description="SQLite: move audit rows that reading pages spooled while another "
                        "connection held the write lock into the audit log")


def _configure_engine(engine: Engine) -> None:
    # When the app first uses the database (core.extensions.SQLAlchemy), before it connects.
    redact_statement_errors(engine)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    else:
        event.listen(engine, "connect", _set_postgres_timezone)


def _set_postgres_timezone(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()
