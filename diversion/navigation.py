"""The service navigation: the menu every staff page shows, filtered by role. One table, in
the order the menu shows it; endpoints are named, not imported, so it sits above every feature."""

from __future__ import annotations

from typing import Any

from flask import Flask, request, url_for

from diversion.auth import access
from diversion.auth.models import Role, User


def init_app(app: Flask) -> None:
    """Give every template the navigation for the acting user, and the Role enum."""

    @app.context_processor
    def navigation() -> dict[str, Any]:
        return {"navigation": navigation_for(access.current_actor()), "Role": Role}


NAVIGATION: list[tuple[str, str, tuple[Role, ...]]] = [
    ("Dashboard", "home.dashboard", (Role.POLICE, Role.FACILITATOR, Role.MANAGER, Role.ADMIN)),
    ("Referrals", "referrals.list_referrals", (Role.POLICE, Role.MANAGER)),
    ("Refer someone", "referrals.new_referral", (Role.POLICE,)),
    ("Users", "admin.list_users", (Role.ADMIN,)),
    ("Forces", "admin.list_forces", (Role.ADMIN,)),
    ("API tokens", "admin.list_tokens", (Role.ADMIN,)),
    ("Audit log", "admin.audit_log", (Role.ADMIN,)),
    ("Messages", "outbox.list_messages", (Role.MANAGER, Role.ADMIN)),
    ("Fees outstanding", "fees.outstanding_list", (Role.MANAGER,)),
    ("Reminder plans", "reminders.list_plans", (Role.MANAGER,)),
    ("Programmes", "programmes.list_programmes", (Role.ADMIN,)),
    ("Sessions", "courses.list_sessions", (Role.MANAGER,)),
    ("Venues", "courses.list_venues", (Role.MANAGER,)),
    ("My sessions", "courses.my_sessions", (Role.FACILITATOR,)),
    ("Registers", "attendance.today", (Role.FACILITATOR, Role.MANAGER)),
    ("Reports", "reports.index", (Role.MANAGER,)),
    ("Reoffences", "reoffences.record_reoffence", (Role.POLICE, Role.MANAGER)),
    ("Verify a certificate", "attendance.verify_certificate_page", (Role.POLICE, Role.MANAGER)),
]


# Pages (by endpoint, or by blueprint) that belong under a menu item other than their
# blueprint's first one.
NAVIGATION_SECTIONS = {
    "referrals.choose_person": "referrals.new_referral",
    "referrals.check_referral": "referrals.new_referral",
}


def navigation_for(user: User | None) -> list[dict[str, Any]]:
    """The service navigation items this user may follow, one of them marked current: the
    page's own item, else the item its section names, else its blueprint's first item."""
    if user is None:
        return []
    visible = [(text, endpoint) for text, endpoint, allowed in NAVIGATION if user.role in allowed]
    endpoints = [endpoint for _, endpoint in visible]
    page = request.endpoint or ""
    blueprint = page.split(".")[0]
    current = page if page in endpoints else None
    if current is None:
        named = NAVIGATION_SECTIONS.get(page) or NAVIGATION_SECTIONS.get(blueprint)
        current = named if named in endpoints else None
    if current is None and blueprint != "core":
        current = next((e for e in endpoints if e.split(".")[0] == blueprint), None)
    return [{"text": text, "href": url_for(endpoint), "active": endpoint == current}
            for text, endpoint in visible]
