"""Sign-in on the web side: the login manager, the sign-in time limits, and who a request acts
as (the signed-in user, or the owner of the API token).

A staff page's post that arrives after its sign-in ended (idle, 12 hours, signed out elsewhere,
or the cookie gone so that its CSRF token is refused) is not thrown away: its fields are held
(auth.held) and offered back after the next sign-in in that browser. Scripts (JSON, or an Accept
that prefers it) get a 401 problem+json instead of a redirect to the sign-in page."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Flask,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from diversion.auth import access, held, sessions
from diversion.auth.models import User, UserSession
from diversion.auth.services import user_for_api_token
from diversion.core.extensions import login_manager
from diversion.core.problems import prefers_json, problem
from diversion.core.timeutils import now_utc
from diversion.core.web import (
    FORM_TYPES,
    PUBLIC_BUILTIN_ENDPOINTS,
    add_csrf_refusal_handler,
    fixed_url,
)

F = TypeVar("F", bound=Callable[..., Any])

# This request's sign-in (auth.sessions), found by the user loader.
SIGN_IN_ATTRIBUTE = "user_session"
# The token of the form held for this browser (auth.held); it outlives the sign-in that ended.
HELD_FORM_KEY = "held_form"
# Whose sign-in ended here by time-out, so that a form posted afterwards is held for them only.
SIGNED_OUT_USER_KEY = "signed_out_user_id"
# Flask-WTF's secret for this browser's CSRF tokens (WTF_CSRF_FIELD_NAME): kept when a sign-in
# times out, so the page still open can post its form and have it held.
CSRF_SECRET_KEY = "csrf_token"  # noqa: S105  (a key name, not a secret)

# Endpoints that report on the sign-in without extending it.
READ_ONLY_ENDPOINTS = frozenset({"auth.sign_in_status"})
# Endpoints that restart the idle limit on every call, not at most once a minute.
KEEP_ALIVE_ENDPOINTS = frozenset({"auth.keep_alive"})
NEVER_HELD_ATTRIBUTE = "never_held"

SIGNED_OUT_MESSAGE = "You have been signed out because your session expired. Sign in again"
KEPT_MESSAGE = ("You have been signed out because your session expired. What you entered has "
                "been kept: sign in again to send it")


def never_held(view: F) -> F:
    """A post to this endpoint is never held after a sign-in ends (it would mean nothing then,
    or it carries secrets)."""
    setattr(view, NEVER_HELD_ATTRIBUTE, True)
    return view


def init_app(app: Flask) -> None:
    """Bind the login manager and install the access and time-out checks, in that order."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to continue"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)
    access.init_app(app, web_user=_web_user, api_user=_api_user, on_anonymous=_send_to_sign_in)
    app.before_request(_enforce_sign_in_time_limits)
    add_csrf_refusal_handler(app, _hold_refused_post)
    app.context_processor(_timeout_warning_context)


def session_limits() -> sessions.Limits:
    """The idle and absolute limits of a staff sign-in, from the settings (core.config)."""
    return sessions.limits_from(current_app.config)


def _load_user(key: str) -> User | None:
    """The cookie's sign-in identifier to its row and user: none for an unknown or ended
    sign-in or a deactivated user. A sign-in past its limits still loads here, so that
    `_enforce_sign_in_time_limits` can end it, hold a late post for this user and say why."""
    row = sessions.find(key)
    if row is None or row.is_ended or not row.user.is_active_account:
        return None
    setattr(g, SIGN_IN_ATTRIBUTE, row)
    user = row.user
    setattr(user, "sign_in_key", key)  # noqa: B010  (transient, for get_id)
    return user


def current_sign_in() -> UserSession | None:
    """This request's sign-in row, when a staff user is signed in."""
    if _web_user() is None:
        return None
    row = g.get(SIGN_IN_ATTRIBUTE)
    return row if isinstance(row, UserSession) else None


def _web_user() -> User | None:
    if request.blueprint == "api":
        return None
    user = current_user._get_current_object() if current_user else None
    if not isinstance(user, User) or not user.is_authenticated:
        return None
    return user


def _api_user() -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return user_for_api_token(token.strip(), now=now_utc())


def _send_to_sign_in() -> Any:
    if request.blueprint == "api":
        return problem(401, "Unauthorised", "Send a valid API token as 'Authorization: Bearer …'",
                       headers={"WWW-Authenticate": 'Bearer realm="diversion"'})
    if prefers_json():
        return _sign_in_again_problem()
    if request.method == "GET":
        flash(login_manager.login_message, "info")
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
    if _may_hold() and _csrf_was_checked():
        answer = _hold_and_send_to_sign_in(user_id=_signed_out_user_id())
        if answer is not None:
            return answer
    return redirect(url_for("auth.sign_in"))


def _enforce_sign_in_time_limits() -> Any:
    """End a sign-in after the idle limit (30 minutes by default) or 12 hours, whichever comes
    first; a post that arrives after that is held, not lost."""
    if request.blueprint == "api" or request.endpoint in PUBLIC_BUILTIN_ENDPOINTS:
        return None
    user = _web_user()
    if user is None:
        return None
    now = now_utc()
    row = current_sign_in()
    passed = (sessions.limit_passed(row, now=now, limits=session_limits())
              if row is not None else "unknown")
    if passed is not None:
        if row is not None:
            sessions.end(row, now=now, reason=passed)
        logout_user()
        _end_timed_out_sign_in(user)
        g.actor = None
        if prefers_json():
            flash(SIGNED_OUT_MESSAGE, "info")
            return _sign_in_again_problem()
        if request.method == "POST" and _may_hold():
            answer = _hold_and_send_to_sign_in(user_id=user.id)
            if answer is not None:
                return answer
        flash(KEPT_MESSAGE if session.get(HELD_FORM_KEY) else SIGNED_OUT_MESSAGE, "info")
        if request.method == "GET":
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        return redirect(url_for("auth.sign_in"))
    if request.endpoint not in READ_ONLY_ENDPOINTS and row is not None:
        # "Stay signed in" always writes; page views at most once a minute (auth.sessions).
        sessions.touch(row, now=now, always=request.endpoint in KEEP_ALIVE_ENDPOINTS)
    return None


def idle_and_absolute_seconds_left(now: dt.datetime) -> tuple[int, int]:
    """Seconds left before the idle limit and before the absolute limit, from this request's
    sign-in row (0 when there is none)."""
    row = current_sign_in()
    if row is None:
        return 0, 0
    idle_left, absolute_left = sessions.seconds_left(row, now=now, limits=session_limits())
    return math.ceil(idle_left), math.ceil(absolute_left)


def _end_timed_out_sign_in(user: User) -> None:
    """Clear the cookie of everything but the CSRF secret and the held form, and note whose
    sign-in it was."""
    kept = {key: session[key] for key in (CSRF_SECRET_KEY, HELD_FORM_KEY) if key in session}
    session.clear()
    session.update(kept)
    session[SIGNED_OUT_USER_KEY] = user.id


def _signed_out_user_id() -> int | None:
    value = session.get(SIGNED_OUT_USER_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sign_in_again_problem() -> Response:
    return problem(401, "Sign in again",
                   "Your sign-in has ended. Sign in again to continue: nothing was saved by "
                   "this request")


def _may_hold() -> bool:
    """Whether this request is a staff page's form post that may be held."""
    if request.method != "POST" or request.blueprint == "api" or request.path.startswith("/api/"):
        return False
    if request.mimetype not in FORM_TYPES or prefers_json():
        return False
    rule = access.access_rule_for(current_app, request.endpoint)
    if rule is None or rule.is_public:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, NEVER_HELD_ATTRIBUTE, False)


def _csrf_was_checked() -> bool:
    return bool(g.get("csrf_valid")) or not current_app.config["WTF_CSRF_ENABLED"]


def is_same_origin_request() -> bool:
    """Whether the browser says the request came from one of this site's own pages: by
    Sec-Fetch-Site, or by Origin. A request that says neither is not trusted.

    Our pages send `Referrer-Policy: no-referrer`, under which Chromium posts a form with
    `Origin: null`; the browser's own `Sec-Fetch-Site: same-origin` then vouches for it (an
    opaque origin, such as a sandboxed frame, is never same-origin). `Origin: null` alone is
    not trusted."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is None and origin is None:
        return False
    if site is not None and site != "same-origin":
        return False
    if origin == "null" and site == "same-origin":
        return True
    return origin is None or origin == request.host_url.rstrip("/")


def _hold_and_send_to_sign_in(*, user_id: int | None) -> Response | None:
    token = _hold_this_post(user_id)
    if token is None:
        return None
    # Only the one message that matters on the sign-in page.
    session.pop("_flashes", None)
    flash(KEPT_MESSAGE, "info")
    return redirect(url_for("auth.sign_in"))


def _hold_this_post(user_id: int | None) -> str | None:
    fields = [(name, value) for name, values in request.form.lists() for value in values]
    file_fields = [name for name, file in request.files.items(multi=True) if file.filename]
    token = held.hold_form(fields=fields, file_fields=file_fields,
                           path=request.full_path.rstrip("?"), user_id=user_id,
                           address=(request.remote_addr or "unknown")[:64], now=now_utc())
    if token is not None:
        session[HELD_FORM_KEY] = token
    return token


def _hold_refused_post(_refusal: CSRFError) -> Response | None:
    """A staff form posted from this site with a token the cookie no longer matches (the cookie
    expired or was cleared, or the person signed in again in another tab): hold it. A post from
    anywhere else is refused as before."""
    if not _may_hold() or not is_same_origin_request():
        return None
    user = _web_user()
    token = _hold_this_post(user.id if user is not None else _signed_out_user_id())
    if token is None:
        return None
    if user is not None:
        # Still signed in (an old tab): straight to the page that sends it; the time limits
        # still apply there.
        return redirect(url_for("auth.held_form"))
    session.pop("_flashes", None)
    flash(KEPT_MESSAGE, "info")
    return redirect(url_for("auth.sign_in"))


def _timeout_warning_context() -> dict[str, Any]:
    """What base.html needs for the time-out warning, on signed-in staff pages only."""
    if not has_request_context() or request.blueprint == "api" or g.get("actor") is None:
        return {"timeout_warning": None}
    rule = access.access_rule_for(current_app, request.endpoint)
    if rule is None or rule.is_public:
        return {"timeout_warning": None}
    config = current_app.config
    _, absolute_left = idle_and_absolute_seconds_left(now_utc())
    return {"timeout_warning": {
        "idle_seconds": config["IDLE_TIMEOUT_SECONDS"],
        "warning_seconds": config["SIGN_OUT_WARNING_SECONDS"],
        "absolute_seconds_left": absolute_left,
        "keep_alive_url": fixed_url("auth.keep_alive"),
        "status_url": fixed_url("auth.sign_in_status"),
        "sign_in_url": fixed_url("auth.sign_in"),
    }}
