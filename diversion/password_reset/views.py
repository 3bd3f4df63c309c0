"""The forgotten-password pages: ask for a link, then set a new password with it.

`GET /sign-in/forgotten-password` and its post answer the same whether or not the address is
an account's. The link, `/sign-in/reset-password/<token>`, is opened once: its token goes into
this browser's cookie and the browser is sent on to `/sign-in/reset-password`, so it leaves the
address bar (and any Referer) at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, session, url_for

from diversion.auth import resets
from diversion.auth.access import current_actor, public
from diversion.auth.throttle import Throttled
from diversion.auth.views import client_address
from diversion.core.errors import ValidationFailed
from diversion.core.forms import attach_errors
from diversion.core.links import external_url
from diversion.core.timeutils import now_utc
from diversion.core.transactions import savepoint
from diversion.password_reset import services
from diversion.password_reset.forms import AskForLinkForm, NewPasswordForm

bp = Blueprint("password_reset", __name__, url_prefix="/sign-in")

TOKEN_KEY = "password_reset_token"  # noqa: S105  (a cookie key's name, not a secret)


def reset_rules() -> resets.ResetRules:
    """The reset links' rules, from the settings (core.config)."""
    config = current_app.config
    return resets.ResetRules(
        lifetime=dt.timedelta(seconds=config["PASSWORD_RESET_LINK_SECONDS"]),
        max_per_address=config["PASSWORD_RESET_MAX_PER_ADDRESS"],
        address_window=dt.timedelta(hours=1),
        secret_key=str(current_app.secret_key or ""),
    )


def make_reset_link(spec: dict[str, Any]) -> str:
    """The link an email's `secret` names, made when the email is sent (outbox)."""
    token = resets.reset_token(str(spec["nonce"]), secret_key=str(current_app.secret_key or ""))
    return external_url("password_reset.open_link", token=token)


def _minutes() -> int:
    return int(current_app.config["PASSWORD_RESET_LINK_SECONDS"]) // 60


@bp.route("/forgotten-password", methods=["GET", "POST"])
@public
def ask_for_link() -> Any:
    """Enter your email address; the answer is the same whether or not it is an account's."""
    if current_actor() is not None:
        return redirect(url_for("auth.change_password"))
    form = AskForLinkForm()
    if form.validate_on_submit():
        now = now_utc()
        try:
            services.send_reset_link(email=form.email.data or "", address=client_address(),
                                     now=now, rules=reset_rules())
        except Throttled as refusal:
            # Returned, not raised: the count and the audit row are kept.
            form.email.errors = [refusal.message]
            return render_template("password_reset/ask.html", form=form), 429
        return redirect(url_for("password_reset.link_sent"))
    return render_template("password_reset/ask.html", form=form), (400 if form.errors else 200)


@bp.get("/forgotten-password/sent")
@public
def link_sent() -> Any:
    return render_template("password_reset/sent.html", minutes=_minutes())


@bp.get("/reset-password/<token>")
@public
def open_link(token: str) -> Any:
    """Take the token out of the address and into this browser's cookie."""
    session[TOKEN_KEY] = token[:100]
    return redirect(url_for("password_reset.new_password"))


def _link_problem(refusal: resets.ResetLinkRefused) -> Any:
    session.pop(TOKEN_KEY, None)
    return render_template("password_reset/link_problem.html", problem=refusal.message,
                           minutes=_minutes()), 404


@bp.route("/reset-password", methods=["GET", "POST"])
@public
def new_password() -> Any:
    """Choose a new password: the same rules as changing it; every sign-in of the account ends."""
    token = session.get(TOKEN_KEY)
    if not isinstance(token, str) or not token:
        flash("To set a new password, open the link in the email we sent you, or ask for a "
              "new link here", "info")
        return redirect(url_for("password_reset.ask_for_link"))
    now = now_utc()
    try:
        link = resets.check_reset_link(token, now=now)
    except resets.ResetLinkRefused as refusal:
        return _link_problem(refusal)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            with savepoint():
                resets.complete_password_reset(token=token, new_password=form.new_password.data
                                               or "", now=now, address=client_address())
        except resets.ResetLinkRefused as refusal:
            return _link_problem(refusal)
        except ValidationFailed as error:
            attach_errors(form, error)
        else:
            session.clear()
            flash("Your password has been reset and you have been signed out everywhere. "
                  "Sign in with your new password", "success")
            return redirect(url_for("auth.sign_in"))
    return render_template("password_reset/new_password.html", form=form,
                           email=link.user.email), (400 if form.errors else 200)
