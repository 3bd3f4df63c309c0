"""Every route, asked with a method it may not expect (HEAD, OPTIONS, WebDAV's PROPFIND, TRACE,
PATCH, and GET or POST where only the other is routed), as the role it is for: never a 500;
under /api/ every refusal is problem+json; a 405 names the methods the route allows; HEAD
answers as GET does, without a body.

The walk is over `app.url_map`, so routes added later are covered without editing this file.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from diversion.auth.access import access_rule_for
from tests.test_hostile_forms import ROLE_ORDER, USER_FOR_ROLE, _fill, _world
from tests.test_scoping import sign_in

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

SKIPPED = {"static", "assets", "auth.sign_out", "selfservice.sign_out"}
ODD_METHODS = ["HEAD", "OPTIONS", "PROPFIND", "TRACE", "PATCH"]


def test_no_route_answers_500_to_an_unexpected_method(app: Flask, client: Any) -> None:
    world = _world()
    problems = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in SKIPPED:
            continue
        access = access_rule_for(app, rule.endpoint)
        assert access is not None
        role = None if access.is_public else next(r for r in ROLE_ORDER if r in access.roles)
        url = _fill(rule.rule, world)
        is_api = url.startswith("/api/")
        headers = {}
        if is_api and role is not None:
            headers["Authorization"] = f"Bearer {world.tokens[USER_FOR_ROLE[role]]}"
        elif role is not None:
            sign_in(client, world.users[USER_FOR_ROLE[role]])
        methods = rule.methods or set()
        tried = [*ODD_METHODS, *(["POST"] if "POST" not in methods else []),
                 *(["GET"] if "GET" not in methods else [])]
        for method in tried:
            response = client.open(url, method=method, headers=headers)
            what = f"{method} {url}"
            if response.status_code >= 500:
                problems.append(f"{what}: answered {response.status_code}")
            if response.status_code == 405 and not response.headers.get("Allow"):
                problems.append(f"{what}: a 405 that names no allowed method")
            if (is_api and response.status_code >= 400 and method != "HEAD"
                    and response.mimetype != "application/problem+json"):
                problems.append(f"{what}: {response.status_code} as {response.mimetype}")
            if method == "HEAD" and response.data:
                problems.append(f"{what}: a body in answer to HEAD")
    assert not problems, "\n".join(problems)
