"""Sign in, sign out, change password."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_user, logout_user

from diversion.auth import services
from diversion.auth.access import ALL_STAFF, current_actor, public, roles
from diversion.auth.forms import ChangePasswordForm, SignInForm
from diversion.auth.throttle import Throttled
from diversion.auth.web import LAST_SEEN_AT_KEY, SIGNED_IN_AT_KEY
from diversion.core.errors import ValidationFailed
from diversion.core.forms import attach_errors
from diversion.core.timeutils import now_utc
from diversion.core.transactions import savepoint

bp = Blueprint("auth", __name__)


def client_address() -> str:
    """The caller's address. Behind a proxy, configure ProxyFix so this is the real client."""
    return (request.remote_addr or "unknown")[:64]


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("home.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.dashboard")
    return target


def _start_session(user: Any, now: dt.datetime) -> None:
    # A fresh session on every sign-in: nothing carried over from before.
    session.clear()
    login_user(user, remember=False, fresh=True)
    session[SIGNED_IN_AT_KEY] = now.isoformat()
    session[LAST_SEEN_AT_KEY] = now.isoformat()


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in() -> Any:
    if current_actor() is not None:
        return redirect(url_for("home.dashboard"))
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        config = current_app.config
        now = now_utc()
        try:
            user = services.authenticate(
                email=form.email.data or "",
                password=form.password.data or "",
                address=client_address(),
                now=now,
                window=dt.timedelta(seconds=config["SIGN_IN_FAILURE_WINDOW_SECONDS"]),
                max_per_account=config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"],
                max_per_address=config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"],
            )
        except (services.SignInRefused, Throttled) as refusal:
            # Caught, not raised: the answer is returned, so the failure count and the audit
            # row are committed with it (core/transactions.py).
            form.email.errors = [refusal.message]
            status = refusal.status if isinstance(refusal, Throttled) else 200
        else:
            _start_session(user, now)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 200
    return render_template("auth/sign_in.html", form=form), status


@bp.post("/sign-out")
@roles(*ALL_STAFF)
def sign_out() -> Any:
    user = current_actor()
    assert user is not None
    services.sign_out(user=user, now=now_utc(), address=client_address())
    logout_user()
    session.clear()
    flash("You have been signed out", "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account/password", methods=["GET", "POST"])
@roles(*ALL_STAFF)
def change_password() -> Any:
    user = current_actor()
    assert user is not None
    form = ChangePasswordForm()
    if form.validate_on_submit():
        now = now_utc()
        try:
            with savepoint():
                services.change_own_password(
                    user=user,
                    current_password=form.current_password.data or "",
                    new_password=form.new_password.data or "",
                    now=now,
                    address=client_address(),
                )
        except ValidationFailed as error:
            attach_errors(form, error)
        else:
            _start_session(user, now)  # other sessions ended; this one is renewed
            flash("Your password has been changed. You have been signed out everywhere else",
                  "success")
            return redirect(url_for("home.dashboard"))
    return render_template("auth/change_password.html", form=form)
