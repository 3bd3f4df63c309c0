"""A database error's message carries no values: PostgreSQL adds them after its first line
(`DETAIL: Key (email)=(…)`, `Failing row contains (…)`, COPY's `CONTEXT`), `hide_parameters`
does not hide them, and a 500's or a failed job's logged traceback would put them in the logs."""

from __future__ import annotations

import io
import logging
from typing import Any, cast

import pytest
from flask import Flask
from sqlalchemy import Table, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from diversion.auth.access import public
from diversion.auth.models import User
from diversion.core.bulk import insert_rows, sent_ahead
from diversion.core.db import redact_driver_error
from diversion.core.extensions import db
from diversion.outbox.models import OutboxMessage
from tests.builders import create_user
from tests.core.apps import separate_app
from tests.core.test_bulk import message

pytestmark = pytest.mark.usefixtures("app")

EMAIL = "john.smith.private@example.com"


def test_only_the_first_line_of_a_drivers_message_is_kept() -> None:
    error = ValueError('duplicate key value violates unique constraint "uq_users_email"\n'
                       f"DETAIL:  Key (email)=({EMAIL}) already exists.")
    redact_driver_error(error)
    assert str(error) == 'duplicate key value violates unique constraint "uq_users_email"'
    quoted = ValueError('invalid input syntax for type date: "Smith"')
    redact_driver_error(quoted)
    assert str(quoted) == 'invalid input syntax for type date: "…"'


def _message(error: DBAPIError) -> str:
    """What the error says of itself and of the driver's error it wraps: the statement and
    its parameters are hide_parameters' business (on in production, off in the tests)."""
    return str(error).split("\n[SQL:", 1)[0] + "\n" + str(error.orig)


def _copy_user(user_id: int, *, name: str = "name") -> Any:
    """A second users row with the same email (a unique violation), values from the first."""
    return text("INSERT INTO users (email, name, role, active, password_hash, session_token, "
                "created_at, password_changed_at) SELECT email, " + name + ", role, active, "
                "password_hash, session_token || 'x', created_at, password_changed_at "
                "FROM users WHERE id = :id").bindparams(id=user_id)


def test_a_unique_violation_names_the_constraint_but_not_the_value() -> None:
    user = create_user("manager", email=EMAIL)
    db.session.commit()
    with pytest.raises(IntegrityError) as caught, db.session.begin_nested():
        db.session.execute(_copy_user(user.id))
    said = _message(caught.value)
    assert EMAIL not in said
    assert "email" in said.lower()  # the constraint is still named


def test_a_not_null_violation_does_not_quote_the_failing_row() -> None:
    user = create_user("manager", email=EMAIL)
    db.session.commit()
    with pytest.raises(IntegrityError) as caught, db.session.begin_nested():
        db.session.execute(update(cast(Table, User.__table__)).where(User.id == user.id)
                           .values(name=None))
    assert EMAIL not in _message(caught.value)


def test_bulk_writes_errors_carry_no_row() -> None:
    table = cast(Table, OutboxMessage.__table__)
    insert_rows(table, [message("private:1", recipient=EMAIL)])
    with pytest.raises(IntegrityError) as caught, db.session.begin_nested():
        insert_rows(table, [message("private:1", recipient=EMAIL)])  # the same dedupe key
    assert EMAIL not in _message(caught.value)
    with pytest.raises(DBAPIError) as ahead, db.session.begin_nested(), sent_ahead():
        db.session.execute(update(table).where(table.c.dedupe_key == "private:1")
                           .values(attempts=-1))  # refused by a CHECK
    assert EMAIL not in _message(ahead.value)


def test_a_500_from_the_database_logs_no_value(database_url: str, tmp_path: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The id read before the commit: reading it after would begin a transaction here, which
    # the other app's writer would wait for (SQLite).
    user_id = create_user("manager", email=EMAIL).id
    db.session.commit()

    def add_route(app: Flask) -> None:
        @app.get("/test-duplicate")
        @public
        def duplicate() -> str:
            db.session.execute(_copy_user(user_id))
            return "never"

    # The log as a file holds it: message and traceback, formatted.
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("diversion.core.web")
    monkeypatch.setattr(logger, "propagate", False)
    logger.addHandler(handler)
    options = {"hide_parameters": True}  # as in production (core.config)
    if database_url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 15}
    try:
        with separate_app(database_url, tmp_path, setup=add_route,
                          SQLALCHEMY_ENGINE_OPTIONS=options) as app:
            response = app.test_client().get("/test-duplicate")
    finally:
        logger.removeHandler(handler)

    assert response.status_code == 500
    logged = written.getvalue()
    assert "unhandled error" in logged and "IntegrityError" in logged
    assert EMAIL not in logged
