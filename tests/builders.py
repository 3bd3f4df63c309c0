"""Builders that fill in defaults, so each test states only what matters to it."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from diversion.auth import services as auth_services
from diversion.auth.models import Force, Role, User
from diversion.extensions import db

DEFAULT_PASSWORD = "correct horse battery staple 42"
_sequence = itertools.count(1)

NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)


def create_force(code: str | None = None, name: str | None = None) -> Force:
    number = next(_sequence)
    code = code or f"F{number}"
    existing = auth_services.get_force_by_code(code)
    if existing:
        return existing
    force = Force(code=code.upper(), name=name or f"Test Force {number}")
    db.session.add(force)
    db.session.flush()
    return force


def create_user(role: str | Role = Role.MANAGER, **overrides: Any) -> User:
    role = Role(role)
    number = next(_sequence)
    force = overrides.pop("force", None)
    if role is Role.POLICE and force is None:
        force = create_force()
    values: dict[str, Any] = {
        "email": f"{role.value}{number}@example.test",
        "name": f"Test {role.value.title()} {number}",
        "password": DEFAULT_PASSWORD,
        "now": NOW,
    }
    values.update(overrides)
    user = auth_services.create_user(role=role, force=force, actor=None, **values)
    db.session.flush()
    return user


def create_token(user: User) -> str:
    _, clear = auth_services.create_api_token(user=user, actor=None, now=NOW)
    db.session.flush()
    return clear
