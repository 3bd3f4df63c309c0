"""A second application on the test database, for tests that must not touch the shared one.

Used to add test-only routes (the production url_map stays untouched), to play a second web
worker, or to build the app with different settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

from diversion.core.extensions import db
from tests.conftest import make_app


@contextmanager
def separate_app(database_url: str, instance_path: Path,
                 setup: Callable[[Flask], None] | None = None,
                 **config: object) -> Iterator[Flask]:
    """A fresh app sharing the test database; its connections are closed afterwards."""
    app = make_app(database_url, instance_path, **config)
    if setup is not None:
        setup(app)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
