"""Sign-in on the web side: the login manager, the sign-in time limits, and who a request acts
as (the signed-in user, or the owner of the API token)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, logout_user

from diversion.auth import access
from diversion.auth.models import User
from diversion.auth.services import get_user_by_session_token, user_for_api_token
from diversion.core.extensions import login_manager
from diversion.core.problems import problem
from diversion.core.timeutils import now_utc
from diversion.core.web import PUBLIC_BUILTIN_ENDPOINTS

SIGNED_IN_AT_KEY = "signed_in_at"
LAST_SEEN_AT_KEY = "last_seen_at"


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


def _load_user(session_token: str) -> User | None:
    user = get_user_by_session_token(session_token)
    if user is None or not user.is_active_account:
        return None
    return user


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
    if request.method == "GET":
        flash(login_manager.login_message, "info")
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.sign_in"))


def _enforce_sign_in_time_limits() -> Any:
    """End a sign-in after 30 idle minutes or 12 hours, whichever comes first."""
    if request.blueprint == "api" or request.endpoint in PUBLIC_BUILTIN_ENDPOINTS:
        return None
    user = _web_user()
    if user is None:
        return None
    now = now_utc()
    signed_in_at = _instant(session.get(SIGNED_IN_AT_KEY))
    last_seen_at = _instant(session.get(LAST_SEEN_AT_KEY))
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
    session[LAST_SEEN_AT_KEY] = now.isoformat()
    return None


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


