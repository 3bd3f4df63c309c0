"""Dashboard panels. Each feature registers the counts its users need to see first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from diversion.auth.models import ApiToken, Force, Role, User
from diversion.extensions import db
from diversion.notifications.models import MessageStatus, OutboxMessage


@dataclass
class Panel:
    title: str
    counts: list[tuple[str, int, str | None]] = field(default_factory=list)  # label, n, link
    description: str | None = None


PanelBuilder = Callable[[User, dt.datetime], Panel | None]
_builders: list[tuple[frozenset[Role], PanelBuilder]] = []


def dashboard_panel(*allowed: Role) -> Callable[[PanelBuilder], PanelBuilder]:
    """Register a panel builder shown on the dashboards of these roles."""

    def decorate(builder: PanelBuilder) -> PanelBuilder:
        _builders.append((frozenset(allowed), builder))
        return builder

    return decorate


def panels_for(user: User, *, now: dt.datetime) -> list[Panel]:
    panels = []
    for allowed, builder in _builders:
        if user.role in allowed:
            panel = builder(user, now)
            if panel is not None:
                panels.append(panel)
    return panels


@dashboard_panel(Role.ADMIN)
def accounts_panel(user: User, now: dt.datetime) -> Panel:
    active = db.session.scalar(select(func.count()).where(User.is_active_account.is_(True)))
    inactive = db.session.scalar(select(func.count()).where(User.is_active_account.is_(False)))
    forces = db.session.scalar(select(func.count()).select_from(Force))
    tokens = db.session.scalar(select(func.count()).where(ApiToken.revoked_at.is_(None)))
    return Panel("Accounts", [
        ("Active users", active or 0, "admin.list_users"),
        ("Deactivated users", inactive or 0, "admin.list_users"),
        ("Police forces", forces or 0, "admin.list_forces"),
        ("API tokens in use", tokens or 0, "admin.list_tokens"),
    ])


@dashboard_panel(Role.POLICE)
def force_panel(user: User, now: dt.datetime) -> Panel | None:
    """Who in the officer's own force can refer: active police accounts."""
    if user.force is None:
        return None
    officers = db.session.scalar(select(func.count()).select_from(User).where(
        User.force_id == user.force_id, User.role == Role.POLICE,
        User.is_active_account.is_(True)))
    return Panel(user.force.name, [("Officers with accounts", officers or 0, None)])


# Facilitators get no panel until course sessions exist: a panel never shows made-up numbers.


@dashboard_panel(Role.MANAGER, Role.ADMIN)
def messages_panel(user: User, now: dt.datetime) -> Panel:
    rows = dict(db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ).all())
    return Panel("Messages", [
        (status.value.capitalize(), rows.get(status, 0), "messages.list_messages")
        for status in (MessageStatus.PENDING, MessageStatus.SENT, MessageStatus.FAILED,
                       MessageStatus.EXPIRED)
    ])
