"""The dashboard panels about accounts: the administrator's, and the officer's own force."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from diversion.auth.models import ApiToken, Force, Role, User
from diversion.core.dashboard import Line, Panel


def accounts_panel(user: User, now: dt.datetime) -> Panel:
    active = select(func.count()).where(User.is_active_account.is_(True))
    inactive = select(func.count()).where(User.is_active_account.is_(False))
    forces = select(func.count()).select_from(Force)
    tokens = select(func.count()).where(ApiToken.revoked_at.is_(None))
    return Panel("Accounts", [
        Line("Active users", active, "admin.list_users", {"status": "active"}, "None"),
        Line("Deactivated users", inactive, "admin.list_users", {"status": "deactivated"},
             "None"),
        Line("Police forces", forces, "admin.list_forces", none_text="None"),
        Line("API tokens in use", tokens, "admin.list_tokens", none_text="None"),
    ])


def force_panel(user: User, now: dt.datetime) -> Panel | None:
    """Who in the officer's own force can refer: active police accounts."""
    if user.force is None:
        return None
    officers = select(func.count()).select_from(User).where(
        User.force_id == user.force_id, User.role == Role.POLICE,
        User.is_active_account.is_(True))
    return Panel(user.force.name, [Line("Officers with accounts", officers)], summary=True)
