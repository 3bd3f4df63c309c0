"""Shared fixtures. The schema is built by running the migrations, once per test run.

Set DIVERSION_TEST_DATABASE_URL to run the suite on PostgreSQL (the Makefile does this with a
throwaway cluster); otherwise it runs on a SQLite file in a temporary directory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import text

from diversion import create_app
from diversion.core import timeutils
from diversion.core.extensions import db
from tests.builders import DEFAULT_PASSWORD, NOW, create_user
from tests.payments.servers import API_KEY as PAY_API_KEY
from tests.payments.servers import GovukPayStandIn, running_govuk_pay_stand_in

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DIVERSION_TEST_DATABASE_URL")
    if url:
        return _database_for_this_worker(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


def _database_for_this_worker(url: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database beside the given one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(url.replace("postgresql://", "postgresql+psycopg://"))
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).scalar()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def make_app(database_url: str, instance_path: Path, **overrides: object) -> Flask:
    config: dict[str, object] = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url.replace("postgresql://", "postgresql+psycopg://"),
        "SQLALCHEMY_ENGINE_OPTIONS": (
            {"connect_args": {"timeout": 15}} if database_url.startswith("sqlite") else {}
        ),
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": None,
        # Tests of everything else sign in with a password alone; the second factor's tests
        # (tests/auth/test_second_factor.py) require it for the roles they name.
        "REQUIRE_SECOND_FACTOR_ROLES": frozenset(),
        # Argon2id at its smallest: the suite hashes and checks thousands of passwords and PINs,
        # at a third of a second each at production cost. tests/auth/test_passwords.py holds
        # production to its strong parameters.
        "PASSWORD_HASH_PROFILE": "test",
        # Tests see every count as it is now; tests/core/test_dashboard.py turns the minute on.
        "DASHBOARD_COUNTS_MAX_AGE_SECONDS": 0,
    }
    config.update(overrides)
    app = create_app(config)
    app.instance_path = str(instance_path)
    app.url_value_preprocessor(_start_request_with_an_empty_g)
    return app


def _start_request_with_an_empty_g(_endpoint: str | None, _values: dict | None) -> None:
    # Tests keep an app context pushed, and Flask reuses it for every test request, so `g`
    # (Flask-Login's user, the access check's actor) would leak from one client's request into
    # the next. A real request always starts with an empty `g`; so does a test request.
    for name in list(g):
        g.pop(name)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def migrated_app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app with a schema built by `db upgrade` from an empty database."""
    from flask_migrate import upgrade

    app = make_app(database_url, tmp_path_factory.mktemp("instance"))
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
    yield app
    with app.app_context():
        db.engine.dispose()


def _empty_all_tables(app: Flask) -> None:
    """Empty every table a test left rows in, as if the schema were new.

    A test writes to a few of the schema's tables, so one query finds those and only they are
    emptied, children before parents; on PostgreSQL each sequence a test drew from starts again
    (as TRUNCATE ... RESTART IDENTITY would, without re-creating every table's files, which cost
    a tenth of a second a test).
    """
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            used = set(connection.execute(text(" UNION ALL ".join(
                f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables
            ))).scalars())
            for table in tables:
                if table in used:
                    connection.execute(text(f'DELETE FROM "{table}"'))
            if db.engine.dialect.name == "postgresql":
                connection.execute(text(
                    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false)"
                    " FROM pg_sequences WHERE schemaname = current_schema()"
                    " AND last_value IS NOT NULL"
                ))


@pytest.fixture
def app(migrated_app: Flask) -> Iterator[Flask]:
    """The app with empty tables and an application context pushed for the test's own queries."""
    _empty_all_tables(migrated_app)
    migrated_app.config.update(WTF_CSRF_ENABLED=False)
    with migrated_app.app_context():
        yield migrated_app
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions:
    """Sign in and out through the real sign-in page (like flaskr's AuthActions)."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, email: str, password: str = DEFAULT_PASSWORD):  # type: ignore[no-untyped-def]
        return self._client.post("/sign-in", data={"email": email, "password": password})

    def logout(self):  # type: ignore[no-untyped-def]
        return self._client.post("/sign-out")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def login_as(client: FlaskClient, auth: AuthActions):  # type: ignore[no-untyped-def]
    """login_as("manager") creates a user with that role, signs in, and returns the user."""

    def login(role: str, **overrides: object):  # type: ignore[no-untyped-def]
        user = create_user(role=role, **overrides)
        db.session.commit()
        response = auth.login(user.email)
        assert response.status_code == 302, "sign-in through the form failed"
        return user

    return login


class Clock:
    """The app's clock, stopped at `now` until the test moves it."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def set(self, now: dt.datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("naive datetime: give the clock an aware instant")
        self.now = now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)

    def today(self) -> dt.date:
        """The London calendar date on the clock."""
        return timeutils.london_today(self.now)


class _StoppedDatetime:
    """Stands in for the `datetime` class inside timeutils: `now()` reads the test's Clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self, tz: dt.tzinfo | None = None) -> dt.datetime:
        if tz is None:
            return self._clock.now.astimezone().replace(tzinfo=None)
        return self._clock.now.astimezone(tz)

    def __getattr__(self, name: str) -> object:
        return getattr(dt.datetime, name)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Stops the app's clock at NOW (Monday 15 June 2026, 09:00 UTC) for this test.

    Every page, API call and job reads the time through `timeutils.now_utc()`, and the views
    import that function by name, so the fixture does not replace it: it replaces the `datetime`
    module that `now_utc()` reads, inside timeutils only. `clock.set(...)` and
    `clock.advance(hours=2)` move it; `clock.today()` is the London date on it.
    """
    stopped = Clock(NOW)
    module = types.ModuleType("datetime")
    module.__dict__.update(vars(dt))
    module.datetime = _StoppedDatetime(stopped)  # type: ignore[attr-defined]
    monkeypatch.setattr(timeutils, "dt", module)
    return stopped


@pytest.fixture
def govuk_pay(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[GovukPayStandIn]:
    """Online payment on (DIVERSION_PAYMENT_BACKEND=govuk_pay) against the GOV.UK Pay stand-in."""
    with running_govuk_pay_stand_in() as stand_in:
        settings = dataclasses.replace(app.config["SETTINGS"], payment_backend="govuk_pay",
                                       govuk_pay_api_key=PAY_API_KEY,
                                       govuk_pay_base_url=stand_in.base_url)
        monkeypatch.setitem(app.config, "SETTINGS", settings)
        yield stand_in
