"""Object-level scoping: every route that takes an id or reference, asked by the "wrong" user.

A police officer of another force, or a facilitator who does not run the session, gets 404 (the
object does not exist for them); a role the route is not for at all gets 403. Each row also asks
as the right user first, so a 404 cannot come from a broken route.

`test_every_route_with_an_argument_is_in_the_table` walks `app.url_map`, so a new route that takes
an id fails here until someone decides who must not see it.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from diversion.attendance.models import RegisterEntry
from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.referrals.models import ReferralStatus
from tests.builders import DEFAULT_PASSWORD, World, build_world

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def sign_in(client, user) -> None:  # type: ignore[no-untyped-def]
    client.post("/sign-out")
    response = client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302


def call(client, world: World, who: str, method: str, url: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    url = url.format(**world.ids)
    if url.startswith("/api/"):
        kwargs.setdefault("headers", {})["Authorization"] = f"Bearer {world.tokens[who]}"
    else:
        sign_in(client, world.users[who])
    return client.open(url, method=method, **kwargs)


# (url, right user, wrong user, status the wrong user gets). "ok" for the right user means any of
# 200/302; some rows' right user is refused for another reason (no certificate yet), noted.
GET_ROUTES: list[tuple[str, str, str, int]] = [
    ("/referrals/{ref}", "police_a", "police_b", 404),
    ("/referrals/{ref}", "police_a", "fac1", 403),
    ("/referrals/{ref}/issued", "police_a", "police_b", 404),
    ("/referrals/{ref}/letter.pdf", "police_a", "police_b", 404),
    ("/referrals/{ref}/certificate.pdf", "manager", "police_b", 404),
    ("/referrals/{ref}/withdraw", "police_a", "police_b", 404),
    ("/referrals/{ref}/contact", "police_a", "police_b", 404),
    ("/referrals/{ref}/contact", "manager", "fac1", 403),
    ("/referrals/{ref}/contact", "manager", "admin", 403),
    ("/referrals/{ref}/excuse", "manager", "police_a", 403),
    ("/bookings/referral/{ref}", "manager", "police_a", 403),
    ("/bookings/referral/{ref}", "manager", "fac1", 403),
    ("/bookings/referral/{ref}/cancel", "manager", "police_a", 403),
    ("/bookings/referral/{ref}/cancel", "manager", "fac1", 403),
    ("/referrals/{ref}/pin", "police_a", "police_b", 404),
    ("/referrals/{ref}/pin", "police_a", "fac1", 403),
    ("/admin/users/{user}/active", "admin", "manager", 403),
    ("/api/v1/referrals/{ref}", "police_a", "police_b", 404),
    ("/api/v1/referrals/{ref}", "police_a", "fac1", 403),
    ("/sessions/{s1}", "fac1", "fac2", 404),
    ("/sessions/{s1}", "fac1", "police_a", 403),
    ("/sessions/{s1}/register", "fac1", "fac2", 404),
    ("/sessions/{s1}/register", "fac1", "police_a", 403),
    ("/sessions/{s1}/register/sheet.pdf", "fac1", "fac2", 404),
    ("/sessions/{s1}/register/sheet.pdf", "fac1", "police_a", 403),
    ("/sessions/{s1}/edit", "manager", "fac1", 403),
    ("/sessions/{s1}/cancel", "manager", "fac1", 403),
    ("/sessions/{s1}/register/reopen", "manager", "fac1", 403),
    ("/bookings/session/{s1}/cancel", "manager", "fac1", 403),
    ("/venues/{venue}", "manager", "fac1", 403),
    ("/reminder-plans/{programme}", "manager", "fac1", 403),
    ("/admin/programmes/{programme}", "admin", "manager", 403),
    ("/admin/users/{user}", "admin", "manager", 403),
    # Police see their own force's reports only: another force is refused, in every format.
    ("/reports/outcomes?force={force_b}", "manager", "police_a", 403),
    ("/reports/outcomes?force={force_b}&format=csv", "manager", "police_a", 403),
    ("/reports/attendance?force={force_b}&format=pdf", "manager", "police_a", 403),
    ("/reports/reoffending?force={force_b}&format=json", "manager", "police_a", 403),
    ("/api/v1/reports/outcomes?from=2026-01-01&to=2026-06-01&force={force_b}", "manager",
     "police_a", 403),
    ("/reports/outcomes", "manager", "fac1", 403),
    ("/reports/justice-data-lab", "manager", "police_a", 403),
    ("/fees/outstanding", "manager", "police_a", 403),
    ("/fees/outstanding", "manager", "fac1", 403),
    ("/fees/outstanding.csv", "manager", "police_a", 403),
    ("/fees/outstanding.csv", "manager", "fac1", 403),
    ("/messages", "manager", "police_a", 403),
    ("/messages", "admin", "fac1", 403),
    ("/messages.csv", "manager", "police_a", 403),
    ("/messages.csv", "admin", "fac1", 403),
    ("/admin/audit", "admin", "manager", 403),
    ("/admin/audit.csv", "admin", "manager", 403),
    ("/admin/audit.csv", "admin", "police_a", 403),
    ("/fees/payments", "manager", "police_a", 403),
    ("/fees/payments", "manager", "fac1", 403),
    ("/fees/payments.csv", "manager", "police_a", 403),
    ("/fees/payments.csv", "manager", "fac1", 403),
    ("/bookings/session/{s1}/attendees.csv", "manager", "fac1", 403),
    ("/bookings/session/{s1}/attendees.csv", "manager", "police_a", 403),
    # Subject access: managers and admins (national); police and facilitators never.
    ("/subject-access/{ref}", "manager", "police_a", 403),
    ("/subject-access/{ref}", "admin", "police_b", 403),
    ("/subject-access/{ref}", "manager", "fac1", 403),
]
# The right user is refused for a reason other than scope: no certificate before completion.
RIGHT_USER_STATUS = {"/referrals/{ref}/certificate.pdf": 404}

# Routes with arguments covered elsewhere in this file, or not about a stored object.
COVERED_ELSEWHERE = {
    "/api/v1/referrals/<reference>/withdraw",
    "/api/v1/sessions/<int:session_id>/register", "/sessions/<int:session_id>/register/mark-all",
    "/sessions/<int:session_id>/register/draft",
    "/sessions/<int:session_id>/register/entries/<int:entry_id>",
    "/calendar/<token>.ics",  # the token is the credential: tests/courses/test_ical.py
    # Manager-only writes on a referral (role refusal is walked by tests/test_access.py).
    "/bookings/referral/<reference>/book",
    "/bookings/referral/<reference>/payments", "/bookings/referral/<reference>/waive",
    "/bookings/referral/<reference>/waiver/reinstate",
    "/bookings/referral/<reference>/waiting-list/<int:session_id>/leave",
    # Manager-only; an entry of another session's list is 404: tests/bookings/test_waiting_lists.py.
    "/bookings/session/<int:session_id>/waiting-list/<int:entry_id>/promote",
    "/bookings/session/<int:session_id>/waiting-list/<int:entry_id>/remove",
    "/bookings/session/<int:session_id>/cancel-series",  # a session outside a series is 404
    "/api/v1/referrals/<reference>/booking", "/api/v1/referrals/<reference>/payments",
    # Admin-only (role refusal walked by tests/test_access.py; the check page by
    # tests/auth/test_admin.py).
    "/admin/tokens/<int:token_id>/revoke", "/admin/forces/<int:force_id>",
    "/admin/users/<int:user_id>/password", "/messages/<int:message_id>/resend",
    "/admin/users/<int:user_id>/unlock",  # tests/auth/test_lockout.py
    "/admin/users/<int:user_id>/second-factor/reset",  # tests/auth/test_second_factor.py
    "/admin/users/<int:user_id>/sessions/end",  # tests/auth/test_server_sessions.py
    # Only the user's own sign-ins (another's is "already ended"): test_server_sessions.py.
    "/account/sessions/<int:session_id>/end",
    # The token is the credential, stored only as a digest: tests/password_reset.
    "/sign-in/reset-password/<token>",
    # Managers' and admins' only, any message (roles walked by tests/outbox/test_messages_list.py).
    "/messages/<int:message_id>",
    "/reports/monthly/<int:archive_id>", "/selfservice/locked/<int:referral_id>/unlock",
    # Only the man whose payment it is (another man: 404): tests/payments/test_paying_online.py.
    "/book/payments/<token>/return",
    # Manager-only actions on online payments (role refusal is walked by tests/test_access.py).
    "/payments/online/<int:online_payment_id>/settled",
    "/payments/online/<int:online_payment_id>/refund",
}


def _pattern(url: str) -> str:
    names = {"ref": "<reference>", "s1": "<int:session_id>", "venue": "<int:venue_id>",
             "programme": "<int:programme_id>", "user": "<int:user_id>"}
    for key, value in names.items():
        url = url.replace("{" + key + "}", value)
    return url


def test_every_route_with_an_argument_is_in_the_table(app: Flask) -> None:
    tabled = {_pattern(url) for url, *_ in GET_ROUTES} | COVERED_ELSEWHERE | {"/reports/<kind>"}
    missing = sorted(rule.rule for rule in app.url_map.iter_rules()
                     if rule.arguments and rule.endpoint not in {"static", "assets"}
                     and rule.rule not in tabled)
    assert missing == [], "add these routes to tests/test_scoping.py"


@pytest.mark.parametrize(("url", "right", "wrong", "status"), GET_ROUTES,
                         ids=[f"{u}-as-{w}" for u, _, w, _ in GET_ROUTES])
def test_the_wrong_user_cannot_see_it(app, client, url, right, wrong, status) -> None:  # type: ignore[no-untyped-def]
    world = build_world()
    allowed = call(client, world, right, "GET", url)
    assert allowed.status_code == RIGHT_USER_STATUS.get(url, allowed.status_code)
    if url not in RIGHT_USER_STATUS:
        assert allowed.status_code in (200, 301, 302), allowed.status_code

    refused = call(client, world, wrong, "GET", url)

    assert refused.status_code == status
    assert world.ids["person"].encode() not in refused.data
    if url.startswith("/api/"):
        assert refused.mimetype == "application/problem+json"


WRITES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/referrals/{ref}/pin", "police_b", {}),
    ("POST", "/referrals/{ref}/withdraw", "police_b", {"data": {"reason": "Sent in error"}}),
    ("POST", "/referrals/{ref}/contact", "police_b",
     {"data": {"email": "someone.else@example.org", "preferred_contact": "email"}}),
    ("POST", "/api/v1/referrals/{ref}/withdraw", "police_b", {"json": {"reason": "Sent in error"}}),
    ("POST", "/sessions/{s1}/register", "fac2", {"data": {"action": "submit"}}),
    ("POST", "/sessions/{s1}/register/mark-all", "fac2", {}),
    ("POST", "/sessions/{s1}/register/draft", "fac2",
     {"json": {"lines": [{"reference": "{ref}", "status": "attended", "id_checked": True}]}}),
    ("PUT", "/api/v1/sessions/{s1}/register", "fac2",
     {"json": {"entries": [{"reference": "{ref}", "status": "attended", "id_checked": True}],
               "submit": True}}),
]


@pytest.mark.parametrize(("method", "url", "wrong", "kwargs"), WRITES,
                         ids=[f"{m}-{u}" for m, u, _, _ in WRITES])
def test_the_wrong_user_cannot_change_it(app, client, method, url, wrong, kwargs) -> None:  # type: ignore[no-untyped-def]
    world = build_world()
    for key in ("entries", "lines"):
        if key in kwargs.get("json", {}):
            kwargs["json"][key][0]["reference"] = world.ids["ref"]
    referral_pin = _referral(world).pin_hash

    response = call(client, world, wrong, method, url, **kwargs)

    assert response.status_code == 404
    db.session.expire_all()
    referral = _referral(world)
    assert referral.status is ReferralStatus.BOOKED
    assert referral.pin_hash == referral_pin
    assert db.session.scalars(select(RegisterEntry)).all() == []
    assert not db.session.scalars(select(AuditEvent).where(
        AuditEvent.category.not_in([AuditCategory.CONSULTATION, AuditCategory.SECURITY]),
        AuditEvent.actor_user_id == world.users[wrong].id)).all()


def _referral(world: World):  # type: ignore[no-untyped-def]
    from diversion.referrals.models import Referral

    return db.session.scalar(select(Referral).where(Referral.reference == world.ids["ref"]))


@pytest.mark.parametrize(("who", "url", "hidden"), [
    ("police_b", "/referrals", "ref"),
    ("police_b", "/referrals.csv", "ref"),
    ("police_b", "/api/v1/referrals", "ref"),
    ("police_a", "/api/v1/referrals", "ref_b"),
    ("fac2", "/registers", "person"),
    ("fac2", "/registers/overdue", "person"),
    ("fac2", "/my-sessions", "person"),
    ("fac2", "/dashboard", "person"),
])
def test_lists_leave_out_what_the_user_may_not_see(app, client, who, url, hidden) -> None:  # type: ignore[no-untyped-def]
    world = build_world()

    response = call(client, world, who, "GET", url)

    assert response.status_code == 200
    assert str(world.ids[hidden]).encode() not in response.data


def test_a_facilitator_lists_only_their_own_sessions_in_the_api(app, client) -> None:  # type: ignore[no-untyped-def]
    world = build_world()

    response = call(client, world, "fac2", "GET", "/api/v1/sessions",
                    query_string={"from": "2000-01-01T00:00:00Z"})

    assert response.status_code == 200
    ids = {item["id"] for item in response.get_json()["items"]}
    assert world.ids["s2"] in ids and world.ids["s1"] not in ids


def test_a_facilitator_seeing_who_is_booked_on_their_session_is_audited(app, client) -> None:  # type: ignore[no-untyped-def]
    world = build_world()

    response = call(client, world, "fac1", "GET", "/sessions/{s1}")

    assert response.status_code == 200 and world.ids["person"].encode() in response.data
    seen = db.session.scalars(select(AuditEvent).where(
        AuditEvent.actor_user_id == world.users["fac1"].id,
        AuditEvent.category == AuditCategory.CONSULTATION,
        AuditEvent.object_type == "session", AuditEvent.object_id == str(world.ids["s1"]))).all()
    assert seen


def test_certificate_verification_is_scoped_to_the_police_users_own_force(app, client) -> None:  # type: ignore[no-untyped-def]
    """/certificates/verify takes no id: the object is named by the code typed. Police of
    another force get exactly the answer a wrong code gets; the right force and managers see it."""
    from diversion.attendance.models import CertificateCode
    from tests.builders import completed_referral, create_force, create_user

    _, referral = completed_referral()
    code = db.session.get(CertificateCode, referral.id).code
    own, other = create_user("police", force=referral.force), create_user("police", force=create_force())
    manager = create_user("manager")
    db.session.commit()
    answers = {}
    for name, user in (("own", own), ("other", other), ("manager", manager)):
        sign_in(client, user)
        answers[name] = client.post("/certificates/verify", data={"code": code})
    assert "This certificate is genuine" in answers["own"].get_data(as_text=True)
    assert "This certificate is genuine" in answers["manager"].get_data(as_text=True)
    refused = answers["other"].get_data(as_text=True)
    assert answers["other"].status_code == 200
    assert "No certificate matches that code" in refused
    assert referral.person.full_name not in refused and referral.reference not in refused


def test_refusing_a_referral_names_no_reference_of_another_forces_referral(app, client) -> None:  # type: ignore[no-untyped-def]
    """Force B has an open referral for the man force A refers: the eligibility message tells
    force A's officer so, without the other force's reference (which it cannot open)."""
    from diversion.referrals.models import Referral

    world = build_world()
    other = db.session.scalar(select(Referral).where(Referral.reference == world.ids["ref_b"]))
    person = other.person
    body = {"crime_reference": "13/99999/26", "referral_date": "2026-06-12",
            "family_name": person.family_name, "given_names": person.given_names,
            "date_of_birth": person.date_of_birth.isoformat(), "offence_code": "SOA2003-S51A",
            "offence_date": "2026-06-10", "officer_email": world.users["police_a"].email,
            "admitted": True, "consented": True, "no_relevant_convictions": True,
            "email": "someone@example.com"}

    response = call(client, world, "police_a", "POST", "/api/v1/referrals", json=body)

    assert response.status_code == 422
    [refused] = [r for r in response.get_json()["eligibility"] if r["code"] == "no_open_referral"]
    assert not refused["passed"] and "another police force" in refused["message"]
    assert world.ids["ref_b"] not in response.get_data(as_text=True)
