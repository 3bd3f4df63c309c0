"""Demonstration data: a force, one user per role. Loading twice changes nothing."""

from __future__ import annotations

import datetime as dt

from diversion.attendance.demo import load_demo_registers
from diversion.auth import services as auth_services
from diversion.auth.demo import DEMO_PASSWORD
from diversion.auth.models import Role
from diversion.auth.passwords import hash_password
from diversion.bookings.demo import load_demo_bookings
from diversion.courses.demo import load_demo_sessions
from diversion.referrals.demo import ensure_demo_programme, load_demo_referrals
from diversion.reminders.demo import load_demo_messages
from diversion.reports.demo import load_demo_history

DEMO_FORCE = ("WYP", "West Yorkshire Police", "wyp.police.example")
DEMO_USERS = [
    (Role.ADMIN, "admin@diversion.example", "Alex Admin"),
    (Role.MANAGER, "manager@diversion.example", "Morgan Manager"),
    (Role.FACILITATOR, "facilitator@diversion.example", "Frankie Facilitator"),
    (Role.POLICE, "officer@wyp.police.example", "PC Priya Patel"),
    # Two more facilitators, who ran the two years of past sessions (diversion/reports/demo.py).
    (Role.FACILITATOR, "jo.coursewell@diversion.example", "Jo Coursewell"),
    (Role.FACILITATOR, "sam.sessionby@diversion.example", "Sam Sessionby"),
]


def load_demo_data(*, now: dt.datetime) -> list[tuple[str, str]]:
    """Create what is missing of the demo data; return (role, email) of each demo login."""
    force = auth_services.get_force_by_code(DEMO_FORCE[0])
    if force is None:
        force = auth_services.create_force(code=DEMO_FORCE[0], name=DEMO_FORCE[1], actor=None,
                                           now=now, email_domain=DEMO_FORCE[2])
    logins = []
    # One Argon2 hash of the one demo password for every account (each takes a deliberate
    # fraction of a second: a hash per account was seconds of `demo load`).
    password_hash: str | None = None
    for role, email, name in DEMO_USERS:
        if auth_services.get_user_by_email(email) is None:
            password_hash = password_hash or hash_password(DEMO_PASSWORD)
            auth_services.create_user(email=email, name=name, role=role,
                                      password=DEMO_PASSWORD, password_hash=password_hash,
                                      force=force if role is Role.POLICE else None,
                                      actor=None, now=now)
        logins.append((role.value, email))
    officer = auth_services.get_user_by_email(DEMO_USERS[3][1])
    manager = auth_services.get_user_by_email(DEMO_USERS[1][1])
    if officer is not None and manager is not None:
        load_demo_referrals(force=force, officer=officer, manager=manager, now=now)
    load_demo_sessions(now=now)
    load_demo_bookings(now=now)
    if officer is not None and manager is not None:
        load_demo_registers(force=force, officer=officer, manager=manager,
                            programme=ensure_demo_programme(now=now), now=now)
        load_demo_history(force=force, officer=officer, manager=manager,
                          programme=ensure_demo_programme(now=now), now=now)
    load_demo_messages(now=now)
    return logins
