"""Wiring for the web side: sign-in sessions, access checks, headers, errors, templates."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from diversion import access
from diversion.auth.models import Role, User
from diversion.db import MAX_DATABASE_INT
from diversion.errors import DomainError, ValidationFailed
from diversion.extensions import db, login_manager
from diversion.timeutils import format_london, now_utc

log = logging.getLogger(__name__)

class QueryStringFilter(logging.Filter):
    """Drops the query string from request lines (`GET /referrals?q=Smith HTTP/1.1`): search
    boxes put names in URLs, and personal data never goes in logs."""

    _QUERY = re.compile(r"\?[^\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._QUERY.sub("", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def _hide_query_strings_in_request_logs() -> None:
    """The development server (werkzeug) logs every request line; keep the query out."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, QueryStringFilter) for f in logger.filters):
        logger.addFilter(QueryStringFilter())


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` that matches only what fits the database's 32-bit integer ids."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_DATABASE_INT)
        super().__init__(map, *args, **kwargs)


SESSION_SIGNED_IN_AT = "signed_in_at"
SESSION_LAST_SEEN_AT = "last_seen_at"


def init_web(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to continue"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)

    app.before_request(_refuse_null_characters)
    access.init_app(app, web_user=_web_user, api_user=_api_user, on_anonymous=_send_to_sign_in)
    _hide_query_strings_in_request_logs()
    app.before_request(_enforce_session_timeouts)
    app.after_request(_security_headers)
    _register_error_handlers(app)
    _register_template_helpers(app)
    # Before any route is added: an id too large for the database's integer is a 404 in the
    # URL map, not an overflow error from the driver (a 500).
    app.url_map.converters["int"] = DatabaseIdConverter

    for blueprint in _feature_blueprints():
        app.register_blueprint(blueprint)

    assets_folder = app.static_folder + "/govuk/assets" if app.static_folder else "static"

    # GOV.UK Frontend's stylesheet asks for its fonts and images at /assets/.
    @app.get("/assets/<path:filename>", endpoint="assets")
    def assets(filename: str) -> Response:
        return send_from_directory(assets_folder, filename, max_age=31536000)


def _feature_blueprints() -> list[Blueprint]:
    """Every feature's blueprint, imported here so create_app stays the one place that wires."""
    from diversion.admin.views import bp as admin
    from diversion.api import bp as api
    from diversion.attendance.views import bp as attendance
    from diversion.auth.views import bp as auth
    from diversion.bookings.views import bp as bookings
    from diversion.core.views import bp as core
    from diversion.notifications.reminder_views import bp as reminder_plans
    from diversion.notifications.views import bp as messages
    from diversion.programmes.views import bp as programmes
    from diversion.referrals.upload_views import bp as referral_imports
    from diversion.referrals.views import bp as referrals
    from diversion.reoffences.views import bp as reoffences
    from diversion.reports.views import bp as reports
    from diversion.scheduling.views import sessions_bp, venues_bp
    from diversion.selfservice.views import bp as selfservice

    return [core, auth, admin, api, programmes, referrals, referral_imports, sessions_bp,
            venues_bp, bookings, selfservice, attendance, messages, reminder_plans, reports,
            reoffences]


def _load_user(session_token: str) -> User | None:
    from diversion.auth.services import get_user_by_session_token

    user = get_user_by_session_token(session_token)
    if user is None or not user.is_active_account:
        return None
    return user


def _web_user() -> User | None:
    if request.blueprint == "api":
        return None
    user = current_user._get_current_object() if current_user else None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def _api_user() -> User | None:
    from diversion.auth.services import user_for_api_token

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return user_for_api_token(token.strip(), now=now_utc())


def _send_to_sign_in() -> Any:
    if request.blueprint == "api":
        from diversion.api.problems import problem

        return problem(401, "Unauthorised", "Send a valid API token as 'Authorization: Bearer …'",
                       headers={"WWW-Authenticate": 'Bearer realm="diversion"'})
    if request.method == "GET":
        flash(login_manager.login_message, "info")
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.sign_in"))


FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse_null_characters() -> None:
    """A NUL is never text anyone typed, and PostgreSQL can neither store nor compare it: a path
    holding one names nothing (404), and a query string or form fields holding one are refused
    (400), before any handler or query sees them. Other control characters are the text rule's
    to refuse, field by field."""
    if "\x00" in request.path:
        abort(404)
    values = [*request.args.keys(), *request.args.values()]
    if request.mimetype in FORM_TYPES:
        values += [*request.form.keys(), *request.form.values()]
    if any("\x00" in value for value in values):
        abort(400, description="The request contains a character that is not allowed. "
                               "Check what you entered and try again")


def _enforce_session_timeouts() -> Any:
    """End a web session after 30 idle minutes or 12 hours, whichever comes first."""
    if request.blueprint == "api" or request.endpoint in access.PUBLIC_BUILTIN_ENDPOINTS:
        return None
    user = _web_user()
    if user is None:
        return None
    from flask import current_app

    now = now_utc()
    signed_in_at = _instant(session.get(SESSION_SIGNED_IN_AT))
    last_seen_at = _instant(session.get(SESSION_LAST_SEEN_AT))
    idle = dt.timedelta(seconds=current_app.config["IDLE_TIMEOUT_SECONDS"])
    absolute = dt.timedelta(seconds=current_app.config["ABSOLUTE_TIMEOUT_SECONDS"])
    if (
        signed_in_at is None
        or last_seen_at is None
        or now - last_seen_at > idle
        or now - signed_in_at > absolute
    ):
        logout_user()
        session.clear()
        g.actor = None
        flash("You have been signed out because your session expired. Sign in again", "info")
        return redirect(url_for("auth.sign_in"))
    session[SESSION_LAST_SEEN_AT] = now.isoformat()
    return None


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _security_headers(response: Response) -> Response:
    from flask import current_app

    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.endpoint not in access.PUBLIC_BUILTIN_ENDPOINTS:
        headers.setdefault("Cache-Control", "no-store")
    if current_app.config["SETTINGS"].is_production:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def _wants_problem_json() -> bool:
    return request.path.startswith("/api/")


def _register_error_handlers(app: Flask) -> None:
    from diversion.api.problems import problem

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Any:
        db.session.rollback()
        return render_template("errors/400.html", reason="csrf"), 400

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Any:
        db.session.rollback()
        if _wants_problem_json():
            extra = dict(error.extra)
            if isinstance(error, ValidationFailed):
                extra["errors"] = error.errors
            return problem(error.status, error.title, error.message, **extra)
        return render_template("errors/generic.html", error=error), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        db.session.rollback()
        code = error.code or 500
        # A 405 names the methods the resource does allow (RFC 9110 section 15.5.6).
        headers = {name: value for name, value in error.get_headers() if name == "Allow"}
        if _wants_problem_json():
            return problem(code, error.name, error.description or error.name, headers=headers)
        template = f"errors/{code}.html" if code in (400, 403, 404, 405, 409, 413) else None
        if template is None:
            return render_template("errors/generic.html", error=error), code, headers
        return render_template(template, error=error), code, headers

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return http_error(error)
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.endpoint)
        if _wants_problem_json():
            return problem(500, "Internal Server Error", "Something went wrong. Try again later")
        return render_template("errors/500.html"), 500


def _register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["london"] = format_london
    app.jinja_env.filters["london_date"] = lambda v: format_london(v, "%-d %B %Y")
    app.jinja_env.filters["pounds"] = format_pounds
    app.jinja_env.add_extension("jinja2.ext.do")

    # Make GOV.UK Frontend's Jinja macros importable as "govuk_frontend_jinja/…".
    from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader

    app.jinja_loader = ChoiceLoader(
        [app.jinja_loader,  # type: ignore[list-item]
         PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")})]
    )

    @app.context_processor
    def navigation() -> dict[str, Any]:
        return {"navigation": navigation_for(access.current_actor()), "Role": Role}


def format_pounds(pence: int | None) -> str:
    """Integer pence as '£1,234.50' (or '£200' for whole pounds)."""
    if pence is None:
        return ""
    pounds, rest = divmod(abs(pence), 100)
    sign = "-" if pence < 0 else ""
    return f"{sign}£{pounds:,}" + (f".{rest:02d}" if rest else "")


NAVIGATION: list[tuple[str, str, tuple[Role, ...]]] = [
    ("Dashboard", "core.dashboard", (Role.POLICE, Role.FACILITATOR, Role.MANAGER, Role.ADMIN)),
    ("Referrals", "referrals.list_referrals", (Role.POLICE, Role.MANAGER)),
    ("Refer someone", "referrals.new_referral", (Role.POLICE,)),
    ("Users", "admin.list_users", (Role.ADMIN,)),
    ("Forces", "admin.list_forces", (Role.ADMIN,)),
    ("API tokens", "admin.list_tokens", (Role.ADMIN,)),
    ("Audit log", "admin.audit_log", (Role.ADMIN,)),
    ("Messages", "messages.list_messages", (Role.MANAGER, Role.ADMIN)),
    ("Reminder plans", "reminder_plans.list_plans", (Role.MANAGER,)),
    ("Programmes", "programmes.list_programmes", (Role.ADMIN,)),
    ("Sessions", "sessions.list_sessions", (Role.MANAGER,)),
    ("Venues", "venues.list_venues", (Role.MANAGER,)),
    ("My sessions", "sessions.my_sessions", (Role.FACILITATOR,)),
    ("Registers", "attendance.today", (Role.FACILITATOR, Role.MANAGER)),
    ("Reports", "reports.index", (Role.MANAGER,)),
    ("Reoffences", "reoffences.record_reoffence", (Role.POLICE, Role.MANAGER)),
]


# Pages (by endpoint, or by blueprint) that belong under a menu item other than their
# blueprint's first one.
NAVIGATION_SECTIONS = {
    "referral_imports": "referrals.list_referrals",
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
