"""Every consultation and disclosure of personal data writes an audit row (DPA 2018 s62).

The walk covers every GET endpoint in `app.url_map`: each is either walked here with seeded data
and must write an audit row that names no one, or sits in an allow-list with the reason it shows
no personal data (or shows the person only their own). A new route fails
`test_every_get_route_is_walked_or_allowed` until someone decides which it is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.audit.services import SHOWN_LIMIT, shown_details
from diversion.core.extensions import db
from diversion.referrals.models import Referral
from diversion.selfservice.models import SelfServiceLock
from tests.builders import NOW, World, build_world
from tests.test_scoping import sign_in

pytestmark = pytest.mark.usefixtures("clock")

BUILTIN = {"static", "assets"}

# Routes that return personal data to staff: (url, who asks). Each must write an audit row.
AUDITED: dict[str, tuple[str, str]] = {
    "api.list_referrals": ("/api/v1/referrals", "manager"),
    "api.get_referral": ("/api/v1/referrals/{ref}", "police_a"),
    "api.outcomes_report": ("/api/v1/reports/outcomes?from=2026-01-01&to=2026-06-01", "manager"),
    "api.attendance_report": ("/api/v1/reports/attendance?from=2026-01-01&to=2026-06-01",
                              "manager"),
    "api.reoffending_report": ("/api/v1/reports/reoffending?from=2026-01-01&to=2026-06-01",
                               "manager"),
    "referrals.list_referrals": ("/referrals", "manager"),
    "referral_exports.referrals_csv": ("/referrals.csv", "manager"),
    "referrals.show_referral": ("/referrals/{ref}", "police_a"),
    "referrals.referral_issued": ("/referrals/{ref}/issued", "police_a"),
    "referrals.offer_letter": ("/referrals/{ref}/letter.pdf", "police_a"),
    "referrals.withdraw_referral": ("/referrals/{ref}/withdraw", "police_a"),
    "referrals.reissue_pin": ("/referrals/{ref}/pin", "police_a"),
    "referrals.change_contact": ("/referrals/{ref}/contact", "police_a"),
    "attendance.accept_excuse": ("/referrals/{ref}/excuse", "manager"),
    "bookings.referral_booking": ("/bookings/referral/{ref}", "manager"),
    "bookings.cancel": ("/bookings/referral/{ref}/cancel", "manager"),
    "bookings.allocate": ("/bookings/allocate", "manager"),
    "bookings.attendees_csv": ("/bookings/session/{s1}/attendees.csv", "manager"),
    "bookings.cancel_session": ("/bookings/session/{s1}/cancel", "manager"),
    "courses.show_session": ("/sessions/{s1}", "fac1"),
        "attendance.take_register": ("/sessions/{s1}/register", "fac1"),
    "attendance.register_sheet_pdf": ("/sessions/{s1}/register/sheet.pdf", "fac1"),
    "fees.outstanding_list": ("/fees/outstanding", "manager"),
    "fees.outstanding_csv": ("/fees/outstanding.csv", "manager"),
    "fees.payments": ("/fees/payments", "manager"),
    "fees.payments_csv": ("/fees/payments.csv", "manager"),
    "outbox.list_messages": ("/messages", "manager"),
    "outbox_csv.messages_csv": ("/messages.csv", "manager"),
    "reports.show_report": ("/reports/outcomes", "manager"),
    "admin.audit_log": ("/admin/audit", "admin"),
    "admin.audit_csv": ("/admin/audit.csv", "admin"),
    "subjectaccess.export": ("/subject-access/{ref}", "manager"),
}

# Routes that show staff no personal data of referred people, each with the reason.
NO_PERSONAL_DATA: dict[str, str] = {
    "home.index": "the start page", "home.health": "a health check",
    "home.accessibility_statement": "fixed text", "home.privacy": "fixed text",
    "home.cookies": "fixed text", "navigation.more": "links",
    "home.dashboard": "counts and links, no names",
    "auth.sign_in": "a form", "auth.sign_in_status": "the user's own sign-in state",
    "auth.held_form": "the user's own kept form", "auth.change_password": "a form",
    "password_reset.ask_for_link": "a form", "password_reset.link_sent": "fixed text",
    "password_reset.new_password": "a form", "password_reset.open_link": "a token check",
    "auth.second_factor_code": "a form for the user's own code",
    "auth.second_factor_set_up": "the user's own authenticator set-up",
    "auth.account_second_factor": "the user's own second factor",
    "admin.reset_second_factor": "a confirmation about a staff account",
    "auth.account_sessions": "the user's own sign-ins (their own addresses and browsers)",
    "admin.end_user_sessions": "a confirmation about a staff account",
    "api.me": "the caller's own account", "api.openapi_document": "the API's description",
    "admin.list_users": "staff accounts, no referred people",
    "admin.edit_user": "a staff account", "admin.create_user": "a form",
    "admin.set_user_active": "a staff account", "admin.list_forces": "forces",
    "admin.edit_force": "a force", "admin.list_tokens": "API tokens (staff)",
    "admin.revoke_token": "a confirmation", "programmes.list_programmes": "programmes",
    "programmes.edit_programme": "a programme", "programmes.create_programme": "a form",
    "reminders.list_plans": "reminder plans", "reminders.edit_plan": "a reminder plan",
    "courses.list_venues": "venues", "courses.edit_venue": "a venue",
    "courses.create_venue": "a form", "courses.create_sessions": "a form",
    "api.list_sessions": "sessions with counts of places, no names",
    "attendance.today": "sessions whose registers are due, no names",
    "attendance.overdue": "sessions whose registers are overdue, no names",
    "courses.cancel_session": "redirects to the bookings' cancellation page",
    "courses.edit_session": "a session's time and place, no people",
    "courses.list_sessions": "sessions with counts, no names",
    "courses.calendar_month": "sessions with counts, no names",
    "courses.my_sessions": "the facilitator's sessions with counts, no names",
    "courses.my_calendar": "the facilitator's sessions, no names",
    "courses.calendar_feed": "sessions, no names (tests/courses/test_ical.py)",
    "courses.reset_calendar_feed": "the check page before a new address: no data",
    "referrals.new_referral": "a form", "referrals.check_referral": "the officer's own draft",
    "referrals.discard_draft": "a confirmation", "referrals.imports.upload": "a form",
    "reoffences.upload": "a form", "reoffences.upload_comparison": "a form",
    "reoffences.record_reoffence": "a form",
    "attendance.verify_certificate_page": "a form; a verification is audited when asked",
    "reports.index": "a list of reports",
    "reports.justice_data_lab": "a form; the export is audited (report.justice_data_lab_export)",
    "attendance.amend": "audited when saved; needs a submitted register",
    "attendance.reopen": "a confirmation; audited when reopened",
    "bookings.cancel_series": "a confirmation, 404 outside a series",
    "bookings.leave_waiting_list": "a confirmation; audited when done",
    "bookings.remove_from_waiting_list": "a confirmation; audited when done",
}

# Routes that show personal data and are audited, walked by their own tests (they need data this
# walk does not seed: a completed referral, an archived report, a message, a flagged payment).
AUDITED_ELSEWHERE: dict[str, str] = {
    "reports.download_monthly": "audited (report.downloaded): tests/reports",
    "attendance.certificate": "audited (certificate.download); needs a completed referral",
    "outbox.show_message": "audited (message.view): tests/outbox",
    "payments.flagged": "audited (payment.online_flagged_view): tests/payments",
    "payments.refund": "audited (payment.online_refund_view): tests/payments",
    "bookings.reinstate_fee": "audited (referral.view); needs a waived fee: "
                              "tests/bookings/test_fee_journeys.py",
    "payments.settled": "audited (payment.online_flagged_view): tests/payments",
    "selfservice.locked": "audited (selfservice.locked_view) when it lists anyone: below",
    "referrals.choose_person": "audited (person.matches_view): needs a draft matching someone on "
                               "record, tests/referrals/test_views_referring.py",
}

# The self-service pages show the referred person their own details only, after they signed in
# with their reference and PIN: the sign-in and what they change are audited
# (selfservice.sign_in, selfservice.*), reading their own course is not a disclosure to anyone.
PERSON_OWN: set[str] = {
    "selfservice.start", "selfservice.booked", "selfservice.cancel", "selfservice.check",
    "selfservice.choose", "selfservice.calendar", "selfservice.payment_return",
    "selfservice.refund", "selfservice.refunded", "selfservice.signed_out",
    "selfservice.join_waiting_list", "selfservice.leave_waiting_list", "selfservice.overview",
}


def _audit_rows() -> int:
    return int(db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_every_get_route_is_walked_or_allowed(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()
                 if "GET" in (rule.methods or ()) and rule.endpoint not in BUILTIN}
    listed = set(AUDITED) | set(NO_PERSONAL_DATA) | set(AUDITED_ELSEWHERE) | PERSON_OWN
    assert sorted(endpoints - listed) == [], "a new GET route: audit it, or say why not"
    assert sorted(listed - endpoints) == [], "a listed route no longer exists"
    assert not set(AUDITED) & set(NO_PERSONAL_DATA)


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


def _get(client, world: World, who: str, url: str) -> tuple[Any, list[AuditEvent]]:  # type: ignore[no-untyped-def]
    """GET the url as `who` (signed in first, so sign-in rows are not counted) and the audit
    rows (other than security events) it wrote."""
    url = url.format(**world.ids)
    headers = {}
    if url.startswith("/api/"):
        headers["Authorization"] = f"Bearer {world.tokens[who]}"
    else:
        sign_in(client, world.users[who])
    before = _audit_rows()
    response = client.get(url, headers=headers)
    db.session.expire_all()
    rows = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id).offset(before)))
    return response, [row for row in rows if row.category is not AuditCategory.SECURITY]


def test_each_route_showing_personal_data_writes_an_audit_row(app, client, world) -> None:  # type: ignore[no-untyped-def]
    family, given = world.ids["person"].split()[-1], world.ids["person"].split()[0]
    unaudited, not_shown, leaking = [], [], []
    for endpoint, (url, who) in sorted(AUDITED.items()):
        response, rows = _get(client, world, who, url)
        if response.status_code != 200:
            not_shown.append((endpoint, response.status_code))
        elif not rows:
            unaudited.append(endpoint)
        for row in rows:
            assert row.actor_user_id == world.users[who].id, endpoint
            # The audit row says what was shown without holding the personal data itself.
            text = json.dumps(row.details)
            if family in text or given in text:
                leaking.append(endpoint)
    assert not_shown == []
    assert unaudited == [], f"these routes showed personal data without an audit row: {unaudited}"
    assert leaking == []


@pytest.mark.parametrize("endpoint", ["api.list_referrals", "referrals.list_referrals",
                                      "bookings.attendees_csv", "attendance.take_register",
                                      "fees.outstanding_list", "referral_exports.referrals_csv",
                                      "courses.show_session"])
def test_lists_record_which_referrals_were_shown(app, client, world, endpoint) -> None:  # type: ignore[no-untyped-def]
    url, who = AUDITED[endpoint]
    referral_id = db.session.scalar(select(Referral.id).where(
        Referral.reference == world.ids["ref"]))
    response, rows = _get(client, world, who, url)
    assert response.status_code == 200
    assert any(referral_id in row.details.get("shown", []) for row in rows), [
        row.details for row in rows]


def test_a_search_for_a_name_records_what_it_found_not_the_name(app, client, world) -> None:  # type: ignore[no-untyped-def]
    family = world.ids["person"].split()[-1]
    referral_id = db.session.scalar(select(Referral.id).where(
        Referral.reference == world.ids["ref"]))
    for url in (f"/referrals?q={family}", f"/referrals.csv?q={family}"):
        response, rows = _get(client, world, "manager", url)
        assert response.status_code == 200 and family in response.get_data(as_text=True)
        assert rows and all(family.lower() not in json.dumps(r.details).lower() for r in rows)
        assert rows[0].details["filters"]["search"] is True
    [listed] = [r for r in _get(client, world, "manager", f"/referrals?q={family}")[1]]
    assert listed.details["shown"] == [referral_id]


def test_the_ids_kept_are_bounded_and_the_count_is_whole() -> None:
    details = shown_details(range(1, 451), filters={"status": "booked"})
    assert details["shown"] == list(range(1, SHOWN_LIMIT + 1))
    assert details["count"] == 450 and details["shown_cut"] is True
    assert details["filters"] == {"status": "booked"}
    assert shown_details([7], key="messages") == {"messages": [7], "count": 1, "shown_cut": False}


def test_the_locked_references_page_audits_the_references_it_lists(app, client, world) -> None:  # type: ignore[no-untyped-def]
    referral_id = db.session.scalar(select(Referral.id).where(
        Referral.reference == world.ids["ref"]))
    db.session.add(SelfServiceLock(referral_id=referral_id, failed_attempts=5, locked_at=NOW,
                                   updated_at=NOW))
    db.session.commit()
    response, rows = _get(client, world, "manager", "/selfservice/locked")
    assert response.status_code == 200 and world.ids["ref"] in response.get_data(as_text=True)
    assert [(r.action, r.details["shown"]) for r in rows] == [
        ("selfservice.locked_view", [referral_id])]
