"""The service navigation: the menu every staff page shows, filtered by role. One table, in
the order the menu shows it; endpoints are named, not imported, so it sits above every feature.

The menu holds each role's daily work and fits one line at 1280 px for every role. Pages a
manager needs now and then (venues, reminder plans, reoffences, verifying a certificate) are
listed on the "More" page (`/more`), whose menu item is current on any of them. The account
(who is signed in, change password, sign out) is in the header, not in the menu.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request, url_for

from diversion.auth import access
from diversion.auth.access import roles
from diversion.auth.models import Role, User

MAIN, MORE = "main", "more"

bp = Blueprint("navigation", __name__)


def init_app(app: Flask) -> None:
    """Give every template the navigation for the acting user, and the Role enum."""
    app.register_blueprint(bp)

    @app.context_processor
    def navigation() -> dict[str, Any]:
        return {"navigation": navigation_for(access.current_actor()), "Role": Role}


# (text, endpoint, roles, where): MAIN items are in the menu, MORE items on the More page.
NAVIGATION: list[tuple[str, str, tuple[Role, ...], str]] = [
    ("Dashboard", "home.dashboard", (Role.POLICE, Role.FACILITATOR, Role.MANAGER, Role.ADMIN), MAIN),
    ("Referrals", "referrals.list_referrals", (Role.POLICE, Role.MANAGER), MAIN),
    ("Refer someone", "referrals.new_referral", (Role.POLICE,), MAIN),
    ("Users", "admin.list_users", (Role.ADMIN,), MAIN),
    ("Forces", "admin.list_forces", (Role.ADMIN,), MAIN),
    ("API tokens", "admin.list_tokens", (Role.ADMIN,), MAIN),
    ("Audit log", "admin.audit_log", (Role.ADMIN,), MAIN),
    ("Programmes", "programmes.list_programmes", (Role.ADMIN,), MAIN),
    ("Sessions", "courses.list_sessions", (Role.MANAGER,), MAIN),
    ("My sessions", "courses.my_sessions", (Role.FACILITATOR,), MAIN),
    ("Registers", "attendance.today", (Role.FACILITATOR, Role.MANAGER), MAIN),
    ("Fees", "fees.outstanding_list", (Role.MANAGER,), MAIN),
    ("Messages", "outbox.list_messages", (Role.MANAGER, Role.ADMIN), MAIN),
    ("Reports", "reports.index", (Role.MANAGER, Role.POLICE), MAIN),
    ("Reoffences", "reoffences.record_reoffence", (Role.POLICE,), MAIN),
    ("Verify a certificate", "attendance.verify_certificate_page", (Role.POLICE,), MAIN),
    ("Venues", "courses.list_venues", (Role.MANAGER,), MORE),
    ("Reminder plans", "reminders.list_plans", (Role.MANAGER,), MORE),
    ("Reoffences", "reoffences.record_reoffence", (Role.MANAGER,), MORE),
    ("Comparison cohort", "reoffences.upload_comparison", (Role.MANAGER,), MORE),
    ("Verify a certificate", "attendance.verify_certificate_page", (Role.MANAGER,), MORE),
]

MORE_ENDPOINT = "navigation.more"
MORE_ROLES = tuple(sorted({role for *_, allowed, where in NAVIGATION if where == MORE
                           for role in allowed}, key=list(Role).index))

# What each More page is for, said on the More page.
DESCRIPTIONS = {
    "courses.list_venues": "Where courses are held: addresses, rooms, access, capacity.",
    "reminders.list_plans": "When reminders and notices are sent, for each programme.",
    "reoffences.record_reoffence": "Record reoffences, one at a time or from a CSV file.",
    "reoffences.upload_comparison": "Import the people dealt with otherwise that the reoffending "
                                    "report compares the programme with.",
    "attendance.verify_certificate_page": "Check that a certificate of completion is genuine.",
}

# Pages (by endpoint, or by blueprint) that belong under a menu item other than their
# blueprint's first one.
NAVIGATION_SECTIONS = {
    "referrals.choose_person": "referrals.new_referral",
    "referrals.check_referral": "referrals.new_referral",
    "courses.create_venue": "courses.list_venues",
    "courses.edit_venue": "courses.list_venues",
}


def _visible(role: Role, where: str) -> list[tuple[str, str]]:
    return [(text, endpoint) for text, endpoint, allowed, place in NAVIGATION
            if role in allowed and place == where]


def _current(role: Role, page: str) -> str | None:
    """The item (of the menu or of the More page) the page belongs to: its own, else the one
    its section names, else its blueprint's first."""
    endpoints = [e for _, e in _visible(role, MAIN) + _visible(role, MORE)]
    blueprint = page.split(".")[0]
    if page in endpoints:
        return page
    named = NAVIGATION_SECTIONS.get(page) or NAVIGATION_SECTIONS.get(blueprint)
    if named in endpoints:
        return named
    if blueprint in ("core", "navigation"):
        return None
    return next((e for e in endpoints if e.split(".")[0] == blueprint), None)


def navigation_for(user: User | None) -> list[dict[str, Any]]:
    """The menu items this user may follow, one of them marked current ("More" when the page
    is one of the More page's). The menu depends only on the role, the page and where the app
    is mounted, so each is built once and kept (every staff page shows one)."""
    if user is None:
        return []
    key = (request.script_root, user.role, request.endpoint or "")
    made: dict[tuple[str, Role, str], list[dict[str, Any]]] = (
        current_app.extensions.setdefault("diversion.navigation", {}))
    if key not in made:
        made[key] = _menu(user.role, key[2])
    return made[key]


def _menu(role: Role, page: str) -> list[dict[str, Any]]:
    main, more = _visible(role, MAIN), _visible(role, MORE)
    current = _current(role, page)
    if page == MORE_ENDPOINT or current in {e for _, e in more}:
        current = MORE_ENDPOINT
    items = main + ([("More", MORE_ENDPOINT)] if more else [])
    return [{"text": text, "href": url_for(endpoint), "active": endpoint == current}
            for text, endpoint in items]


@bp.get("/more")
@roles(*MORE_ROLES)
def more() -> Any:
    """The pages of the service not in the menu, for this role."""
    user = access.current_actor()
    assert user is not None
    links = [{"text": text, "href": url_for(endpoint), "description": DESCRIPTIONS.get(endpoint)}
             for text, endpoint in _visible(user.role, MORE)]
    return render_template("navigation/more.html", links=links)
