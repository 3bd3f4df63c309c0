"""Builders that fill in defaults, so each test states only what matters to it."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from diversion.auth import services as auth_services
from diversion.auth.models import Force, Role, User
from diversion.core.extensions import db

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


def create_programme(code: str = "KCRC", **overrides: Any) -> Any:
    """The programme with this code, created with the defaults when missing."""
    from diversion.programmes import services as programme_services

    existing = programme_services.get_programme_by_code(code)
    if existing:
        return existing
    settings = programme_services.ProgrammeSettings(
        code=code, name=overrides.pop("name", "Kerb-crawler re-education course"), **overrides)
    programme = programme_services.create_programme(settings=settings, actor=None, now=NOW)
    db.session.flush()
    return programme


def _letters(number: int) -> str:
    """1 -> "Ab", 2 -> "Ac": distinct names for distinct people (matching ignores digits)."""
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = "abcdefghijklmnopqrstuvwxyz"[digit] + text
        if number == 0:
            return "A" + text


def referral_input(**overrides: Any) -> Any:
    """A valid, eligible ReferralInput; a fresh crime reference and person each call."""
    from diversion.referrals.intake import ReferralInput

    number = next(_sequence)
    values: dict[str, Any] = {
        "crime_reference": f"CR/{number:06d}/26",
        "referral_date": dt.date(2026, 6, 10),
        "family_name": "Test-" + _letters(number),
        "given_names": "Adam James",
        "date_of_birth": dt.date(1980, 1, 2),
        "offence_code": "SOA2003-S51A",
        "offence_date": dt.date(2026, 6, 1),
        "officer_email": "officer@police.example",
        "admitted": True,
        "consented": True,
        "no_relevant_convictions": True,
        "email": f"person{number}@example.com",
    }
    values.update(overrides)
    return ReferralInput(**values)


def create_referral(*, actor: User | None = None, force: Force | None = None, **overrides: Any) -> Any:
    """An eligible referral (awaiting booking) made through the service; returns the Referral."""
    from diversion.referrals.creation import create_referral as create

    create_programme()
    if force is None:
        force = actor.force if actor is not None and actor.force else create_force()
    overrides.setdefault("force_code", force.code)
    created = create(data=referral_input(**overrides), actor=actor, now=NOW)
    db.session.flush()
    return created.referral
