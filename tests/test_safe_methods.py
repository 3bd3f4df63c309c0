"""GET never changes state: every GET route, asked as the role it is for, leaves every table as
it was, except those whose rows record the asking itself (the audit log, sign-ins, token use).

The walk is over `app.url_map`, so routes added later are covered without editing this file; a
GET that must write something else is listed below with its reason.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import MetaData, Table

from diversion.auth.access import access_rule_for
from diversion.core.extensions import db
from tests.test_hostile_forms import ROLE_ORDER, USER_FOR_ROLE, _fill, _world
from tests.test_scoping import sign_in

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

# Rows that record the request itself: who read what, a sign-in's last request, a token's use.
RECORDS_OF_ASKING = {"audit_events", "user_sessions", "person_sessions", "api_tokens",
                     "alembic_version"}
# GET routes that write, each with the reason it is safe (repeatable, changes nothing a person
# sees or does).
WRITES_ON_GET = {
    "/account/second-factor": "keeps the unconfirmed authenticator secret it shows, so that a "
                              "reload shows the same one (auth.second_factor.start_enrolment)",
}


def _fingerprint(tables: list[Table]) -> dict[str, str]:
    db.session.commit()  # see what the request committed
    prints = {}
    for table in tables:
        rows = sorted(map(repr, db.session.execute(table.select()).all()))
        prints[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    db.session.commit()
    return prints


def test_no_get_route_changes_state(app: Flask, client: Any) -> None:
    world = _world()
    db.session.commit()  # the test's own transaction ends before the app's requests begin
    metadata = MetaData()
    metadata.reflect(bind=db.engine)
    tables = [t for name, t in sorted(metadata.tables.items()) if name not in RECORDS_OF_ASKING]
    changed = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or ()) or rule.endpoint in ("static", "assets"):
            continue
        if rule.rule in WRITES_ON_GET:
            continue
        access = access_rule_for(app, rule.endpoint)
        assert access is not None
        role = None if access.is_public else next(r for r in ROLE_ORDER if r in access.roles)
        url = _fill(rule.rule, world)
        headers = {}
        if url.startswith("/api/") and role is not None:
            headers["Authorization"] = f"Bearer {world.tokens[USER_FOR_ROLE[role]]}"
        elif role is not None:
            sign_in(client, world.users[USER_FOR_ROLE[role]])
        before = _fingerprint(tables)
        response = client.get(url, headers=headers)
        after = _fingerprint(tables)
        differ = [name for name in before if before[name] != after[name]]
        if differ:
            changed.append(f"GET {url} ({response.status_code}) changed {differ}")
    assert not changed, "\n".join(changed)


def test_the_writes_on_get_are_still_routes(app: Flask) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert set(WRITES_ON_GET) <= rules
