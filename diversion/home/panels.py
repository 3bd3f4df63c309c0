"""The dashboard panels about accounts: the administrator's, and the officer's own force."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from diversion.auth.models import ApiToken, Force, Role, User
from diversion.core.dashboard import Line, Panel
from diversion.core.extensions import db


def accounts_panel(user: User, now: dt.datetime) -> Panel:
    active = db.session.scalar(select(func.count()).where(User.is_active_account.is_(True)))
    inactive = db.session.scalar(select(func.count()).where(User.is_active_account.is_(False)))
    forces = db.session.scalar(select(func.count()).select_from(Force))
    tokens = db.session.scalar(select(func.count()).where(ApiToken.revoked_at.is_(None)))
    return Panel("Accounts", [
        Line("Active users", active or 0, "admin.list_users", {"status": "active"}, "None"),
        Line("Deactivated users", inactive or 0, "admin.list_users", {"status": "deactivated"},
             "None"),
        Line("Police forces", forces or 0, "admin.list_forces", none_text="None"),
        Line("API tokens in use", tokens or 0, "admin.list_tokens", none_text="None"),
    ])


def force_panel(user: User, now: dt.datetime) -> Panel | None:
    """Who in the officer's own force can refer: active police accounts."""
    if user.force is None:
        return None
    officers = db.session.scalar(select(func.count()).select_from(User).where(
        User.force_id == user.force_id, User.role == Role.POLICE,
        User.is_active_account.is_(True)))
    return Panel(user.force.name, [Line("Officers with accounts", officers or 0)], summary=True)
