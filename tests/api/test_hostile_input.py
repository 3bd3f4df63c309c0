"""Every API write (POST/PUT/DELETE on api.* rules in the url_map), sent bodies that are not what
it expects: never a 500, and every error is problem+json.

The walk is over `app.url_map`, so endpoints added later are covered without editing this file;
the wrong-typed values are derived from each endpoint's declared body model.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from diversion.api.schema import OPENAPI_ATTRIBUTE
from diversion.core.extensions import db
from tests.builders import create_token, create_user, live_session_with_people

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

PROBLEM = "application/problem+json"
HUGE = 10**30
WRONG_VALUES: list[Any] = [HUGE, -HUGE, 2**63, -1, 0, 1.5, "", "x" * 5000, [], {}, True, None,
                           "2026-02-30", "9999-12-31T23:59:59+00:00", "\x00"]
RAW_BODIES = ["{", "[]", "null", '"text"', "1e999", '{"a": ' * 200 + "1" + "}" * 200, "[{}]"]


def _write_rules(app: Flask) -> list[tuple[str, str, str]]:
    rules = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            rules.append((rule.endpoint, method, rule.rule))
    return sorted(rules)


def _urls(rule: str, reference: str, session_id: int) -> list[str]:
    """The rule with a real object, an unknown one and an absurd one in each argument."""
    filled = []
    for ref, number in [(reference, session_id), ("DIV-ZZZZ-ZZZZ", 999_999), ("x" * 300, HUGE)]:
        filled.append(rule.replace("<reference>", ref).replace("<int:session_id>", str(number)))
    return filled


def _bodies(app: Flask, endpoint: str) -> list[Any]:
    operation = getattr(app.view_functions[endpoint], OPENAPI_ATTRIBUTE, None)
    model = operation.body if operation else None
    fields = list(model.model_fields) if model else ["id"]
    bodies: list[Any] = [{}, {"unknown": 1}]
    for name in fields:
        alias = model.model_fields[name].alias if model else None
        bodies += [{alias or name: value} for value in WRONG_VALUES]
    return bodies


def _assert_handled(response, what: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, f"{what}: {response.status_code} {response.data[:300]!r}"
    if response.status_code >= 400:
        assert response.mimetype == PROBLEM, f"{what}: {response.mimetype}"


def test_every_api_write_survives_hostile_bodies_and_ids(app: Flask, client) -> None:  # type: ignore[no-untyped-def]
    session, (referral,) = live_session_with_people(1)
    facilitator = session.facilitators[0]
    tokens = {"manager": create_token(create_user("manager")),
              "police": create_token(create_user("police", force=referral.force)),
              "facilitator": create_token(facilitator)}
    db.session.commit()
    ids = (referral.reference, session.id)
    rules = _write_rules(app)
    assert len(rules) >= 8, "the walk found too few API writes"

    for endpoint, method, rule in rules:
        bodies = _bodies(app, endpoint)
        for url in _urls(rule, *ids):
            for who, token in tokens.items():
                headers = {"Authorization": f"Bearer {token}"}
                for raw in RAW_BODIES:
                    response = client.open(url, method=method, data=raw, headers=headers,
                                           content_type="application/json")
                    _assert_handled(response, f"{who} {method} {url} raw {raw[:20]!r}")
                response = client.open(url, method=method, data="a=1", headers=headers,
                                       content_type="application/x-www-form-urlencoded")
                _assert_handled(response, f"{who} {method} {url} form-encoded")
                if who != "manager":
                    continue
                for body in bodies:
                    response = client.open(url, method=method, json=body, headers=headers)
                    _assert_handled(response, f"{who} {method} {url} {str(body)[:80]}")
                    db.session.rollback()


@pytest.mark.parametrize("url", ["/api/v1/referrals/" + "9" * 40,
                                 "/api/v1/sessions?from=" + "9" * 40,
                                 "/api/v1/referrals?cursor=%FF%FE", "/api/v1/referrals?limit=" + "9" * 40])
def test_hostile_reads_are_problems_not_failures(app: Flask, client, url: str) -> None:  # type: ignore[no-untyped-def]
    token = create_token(create_user("manager"))
    db.session.commit()

    response = client.get(url, headers={"Authorization": f"Bearer {token}"})

    _assert_handled(response, url)


@pytest.mark.parametrize("url", ["/sessions/" + "9" * 30, "/venues/2147483648",
                                 "/admin/users/" + "9" * 30])
def test_a_page_id_too_large_for_the_database_is_not_found(app: Flask, client, login_as, url: str) -> None:  # type: ignore[no-untyped-def]
    login_as("admin" if url.startswith("/admin") else "manager")

    assert client.get(url).status_code == 404
