"""Extensions created unbound; create_app binds them with init_app (Flask-Migrate: core.migrations)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import flask_sqlalchemy
from flask import Flask
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy.engine import Engine

from diversion.core.db import Base


class EnginesOnFirstUse(Mapping[str | None, Engine]):
    """An app's engines by bind key, each created on first use (once, whichever thread asks
    first) and configured before anything connects."""

    def __init__(self, makers: Mapping[str | None, Callable[[], Engine]],
                 configure: Callable[[Engine], None]) -> None:
        self._makers = dict(makers)
        self._configure = configure
        self._engines: dict[str | None, Engine] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: str | None) -> Engine:
        engine = self._engines.get(key)
        if engine is None:
            with self._lock:
                engine = self._engines.get(key)
                if engine is None:
                    engine = self._makers[key]()
                    self._configure(engine)
                    self._engines[key] = engine
        return engine

    def __iter__(self) -> Iterator[str | None]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


class SQLAlchemy(flask_sqlalchemy.SQLAlchemy):
    """Flask-SQLAlchemy, but an engine is created when the app first uses the database rather
    than in init_app: creating one imports its driver (psycopg: about 80 ms of CPU), which
    `flask --help`, and any command that never reaches the database, does not need."""

    _creating = False

    def init_app(self, app: Flask, *,
                 configure_engine: Callable[[Engine], None] = lambda _engine: None) -> None:
        """Flask-SQLAlchemy's init_app, leaving each engine to be made on first use and then
        given to `configure_engine` (before its first connection)."""
        if app.config.get("SQLALCHEMY_RECORD_QUERIES"):
            super().init_app(app)  # it listens on the engines at once: make them now
            for engine in self._app_engines[app].values():
                configure_engine(engine)
            return
        self._creating = True
        try:
            super().init_app(app)  # _make_engine below hands it makers, not engines
        finally:
            self._creating = False
        makers = cast(Mapping[str | None, Callable[[], Engine]], self._app_engines[app])
        self._app_engines[app] = EnginesOnFirstUse(makers, configure_engine)  # type: ignore[assignment]

    def _make_engine(self, bind_key: str | None, options: dict[str, Any], app: Flask) -> Engine:
        make = super()._make_engine
        if self._creating:
            return cast(Engine, partial(make, bind_key, options, app))
        return make(bind_key, options, app)


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()

# Models subclass `Model`: Flask-SQLAlchemy's declarative class at run time, and the plain
# SQLAlchemy 2 base for the type checker, which cannot follow Flask-SQLAlchemy's dynamic class.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
