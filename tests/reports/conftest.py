"""Report tests need templates and filters but no tables: an app on an unused in-memory database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import make_app


@pytest.fixture()
def report_app(tmp_path: Path) -> Iterator[Flask]:
    """The real app (templates, Jinja filters, static folder) with its context pushed."""
    app = make_app("sqlite://", tmp_path / "instance")
    with app.app_context():
        yield app
