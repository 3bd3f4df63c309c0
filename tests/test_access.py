"""Deny by default: every endpoint declares who may use it, and each role gets what it declares.

The walks below cover every route in `app.url_map`, so routes added by later features are
checked automatically.
"""

from __future__ import annotations

import pytest
from flask import Flask

from diversion.auth.access import ALL_STAFF, AccessRule, access_rule_for, public
from diversion.auth.models import Role
from diversion.core.extensions import db
from tests.builders import DEFAULT_PASSWORD, create_token, create_user
from tests.core.apps import separate_app

ROLES = [role.value for role in Role]
ANONYMOUS = "anonymous"
BUILTIN = {"static", "assets"}

# Written by hand, not derived from the declarations, so a wrong declaration is caught.
EXPECTED: dict[str, set[str]] = {
    "home.index": {"public"},
    "home.health": {"public"},
    "home.accessibility_statement": {"public"},
    "home.privacy": {"public"},
    "home.cookies": {"public"},
    "selfservice.check": {"public"},  # public for the hook; person_required checks the person
    "selfservice.join_waiting_list": {"public"},
    "selfservice.leave_waiting_list": {"public"},
    "attendance.verify_certificate_page": {"manager", "police"},
    # Police only for their own force's referrals (tests/test_scoping.py).
    "referrals.change_contact": {"manager", "police"},
    "auth.sign_in": {"public"},
    # Public for the hook; each reads only the sign-in half-done in this browser within
    # 5 minutes (tests/auth/test_second_factor.py).
    "auth.second_factor_code": {"public"},
    "auth.second_factor_set_up": {"public"},
    "password_reset.ask_for_link": {"public"},
    "password_reset.link_sent": {"public"},
    "password_reset.open_link": {"public"},
    "password_reset.new_password": {"public"},
    "home.dashboard": set(ROLES),
    "auth.change_password": set(ROLES),
    "auth.sign_out": set(ROLES),
    "auth.account_second_factor": set(ROLES),
    "auth.account_sessions": set(ROLES),
    "auth.end_account_session": set(ROLES),
    "auth.end_other_sessions": set(ROLES),
    "navigation.more": {"manager"},
    "admin.list_users": {"admin"},
    "admin.create_user": {"admin"},
    "admin.edit_user": {"admin"},
    "admin.set_user_active": {"admin"},
    "admin.reset_user_password": {"admin"},
    "admin.unlock_user": {"admin"},
    "admin.reset_second_factor": {"admin"},
    "admin.end_user_sessions": {"admin"},
    "admin.list_forces": {"admin"},
    "admin.edit_force": {"admin"},
    "admin.list_tokens": {"admin"},
    "admin.revoke_token": {"admin"},
    "admin.audit_log": {"admin"},
    "api.openapi_document": {"public"},
    "api.me": set(ROLES),
    # Police see reports of their own force only (tests/test_scoping.py, tests/reports).
    "reports.index": {"manager", "police"},
    "reports.show_report": {"manager", "police"},
    "reports.justice_data_lab": {"manager"},
    "reports.download_monthly": {"manager"},
    "subjectaccess.export": {"manager", "admin"},
    "api.reoffending_report": {"manager", "police"},
    "api.outcomes_report": {"manager", "police"},
    "api.attendance_report": {"manager", "police"},
    "reoffences.upload_comparison": {"manager"},
    "reoffences.confirm_comparison_import": {"manager"},
}


def _who(rule: AccessRule) -> set[str]:
    return {"public"} if rule.is_public else {role.value for role in rule.roles}


def _get_routes_without_arguments(app: Flask, *, api: bool) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in BUILTIN or rule.arguments or "GET" not in (rule.methods or ()):
            continue
        if rule.endpoint.startswith("api.") is api:
            routes.append((rule.endpoint, rule.rule))
    return sorted(routes)


def _sign_in(client, role: str):
    if role == ANONYMOUS:
        return None
    user = create_user(role)
    db.session.commit()
    response = client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    return user


def _outcome(response) -> str:
    location = response.headers.get("Location", "")
    if response.status_code == 302 and "/sign-in" in location:
        return "sign-in"
    if response.status_code in (200, 301, 302, 303):
        return "ok"
    return str(response.status_code)


def _expected_outcome(who: set[str], role: str) -> str:
    if "public" in who or role in who:
        return "ok"
    return "sign-in" if role == ANONYMOUS else "403"


def test_every_endpoint_declares_an_access_rule(app):
    undeclared = sorted(
        rule.endpoint for rule in app.url_map.iter_rules()
        if access_rule_for(app, rule.endpoint) is None
    )
    assert undeclared == []


def test_the_declarations_match_the_hand_written_table(app):
    declared = {endpoint: _who(access_rule_for(app, endpoint)) for endpoint in EXPECTED
                if endpoint in app.view_functions}
    assert set(declared) == set(EXPECTED), "an endpoint in the table no longer exists"
    assert declared == EXPECTED


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_every_page_answers_each_role_as_its_rule_declares(app, client, role):
    _sign_in(client, role)
    wrong = []
    for endpoint, path in _get_routes_without_arguments(app, api=False):
        response = client.get(path)
        assert response.status_code < 500, f"{path} failed for {role}"
        who = _who(access_rule_for(app, endpoint))
        expected = _expected_outcome(who, role)
        if "public" in who and _outcome(response) == "sign-in":
            continue  # a public page may send people to sign in (the start page does)
        if _outcome(response) != expected:
            wrong.append((path, expected, _outcome(response)))
    assert wrong == []


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_admin_pages_and_dashboard_answer_each_role_as_the_table_says(app, client, role):
    _sign_in(client, role)
    target = create_user("manager")
    db.session.commit()
    pages = {
        "home.dashboard": "/dashboard",
        "auth.change_password": "/account/password",
        "admin.list_users": "/admin/users",
        "admin.create_user": "/admin/users/new",
        "admin.edit_user": f"/admin/users/{target.id}",
        "admin.list_forces": "/admin/forces",
        "admin.list_tokens": "/admin/tokens",
        "admin.audit_log": "/admin/audit",
    }
    results = {endpoint: _outcome(client.get(path)) for endpoint, path in pages.items()}
    expected = {endpoint: _expected_outcome(EXPECTED[endpoint], role) for endpoint in pages}
    assert results == expected


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_admin_actions_refuse_every_other_role_and_change_nothing(app, client, role):
    signed_in = _sign_in(client, role)
    target = create_user("manager")
    db.session.commit()
    response = client.post(f"/admin/users/{target.id}/active", data={"active": "no"})
    expected = "ok" if role == "admin" else _expected_outcome({"admin"}, role)
    assert _outcome(response) == expected
    db.session.refresh(target)
    assert target.is_active_account is (role != "admin")
    if signed_in is not None and role != "admin":
        assert response.status_code == 403


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_every_api_read_answers_each_role_as_its_rule_declares(app, client, role):
    headers = {}
    if role != ANONYMOUS:
        headers["Authorization"] = "Bearer " + create_token(create_user(role))
        db.session.commit()
    wrong = []
    for endpoint, path in _get_routes_without_arguments(app, api=True):
        response = client.get(path, headers=headers)
        assert response.status_code < 500, f"{path} failed for {role}"
        who = _who(access_rule_for(app, endpoint))
        if "public" in who or role in who:
            ok = response.status_code not in (401, 403)
        else:
            ok = response.status_code == (401 if role == ANONYMOUS else 403)
            ok = ok and response.mimetype == "application/problem+json"
        if not ok:
            wrong.append((path, response.status_code))
    assert wrong == []


def test_an_endpoint_without_a_declaration_is_refused_even_to_an_administrator(
        app, database_url, tmp_path):
    def add_undeclared_route(extra: Flask) -> None:
        extra.add_url_rule("/undeclared", "undeclared", lambda: "secret")
        extra.add_url_rule("/declared", "declared", public(lambda: "fine"))

    email = create_user("admin").email
    db.session.commit()
    with separate_app(database_url, tmp_path, setup=add_undeclared_route) as extra:
        client = extra.test_client()
        client.post("/sign-in", data={"email": email, "password": DEFAULT_PASSWORD})
        assert client.get("/declared").status_code == 200
        response = client.get("/undeclared")
        assert response.status_code == 403
        assert "secret" not in response.get_data(as_text=True)


def test_a_deactivated_user_is_not_allowed_by_any_role_rule(app):
    user = create_user("admin")
    rule = AccessRule(is_public=False, roles=frozenset(ALL_STAFF))
    assert rule.allows(user)
    user.is_active_account = False
    assert not rule.allows(user)
    assert not rule.allows(None)


def test_roles_must_name_at_least_one_role():
    from diversion.auth.access import roles

    with pytest.raises(ValueError):
        roles()
