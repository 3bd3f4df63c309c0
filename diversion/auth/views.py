"""Sign in, sign out, change password; keep a sign-in alive, and send or discard the form held
when one ended (auth.held)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_user, logout_user

from diversion.auth import devices, guards, held, second_factor, services, sessions, shown_once
from diversion.auth.access import ALL_STAFF, acting_user, current_actor, public, roles
from diversion.auth.forms import (
    ChangePasswordForm,
    EndSessionsForm,
    EnrolmentForm,
    SecondFactorForm,
    SignInForm,
)
from diversion.auth.models import User
from diversion.auth.throttle import Throttled
from diversion.auth.web import (
    HELD_FORM_KEY,
    SIGN_IN_ATTRIBUTE,
    current_sign_in,
    idle_and_absolute_seconds_left,
    never_held,
    session_limits,
)
from diversion.core.errors import ValidationFailed
from diversion.core.forms import attach_errors
from diversion.core.timeutils import now_utc
from diversion.core.transactions import savepoint

bp = Blueprint("auth", __name__)


def client_address() -> str:
    """The caller's address. Behind a proxy, configure ProxyFix so this is the real client."""
    return (request.remote_addr or "unknown")[:64]


def sign_in_limits() -> services.SignInLimits:
    """The sign-in guards' limits, from the settings (core.config)."""
    config = current_app.config
    return services.SignInLimits(
        delay=guards.DelayRule(
            free_failures=config["SIGN_IN_FREE_FAILURES_PER_ACCOUNT"],
            max_delay=dt.timedelta(seconds=config["SIGN_IN_MAX_DELAY_SECONDS"])),
        max_per_address=config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"],
        address_window=dt.timedelta(seconds=config["SIGN_IN_ADDRESS_WINDOW_SECONDS"]),
    )


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("home.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.dashboard")
    return target


def _start_session(user: User, now: dt.datetime) -> None:
    """A new sign-in (auth.sessions): a new row and a new random identifier, and a fresh
    cookie holding only that, nothing carried over from before."""
    session.clear()
    key = sessions.start(user, now=now, address=client_address(),
                         user_agent=request.headers.get("User-Agent", ""))
    login_user(user, remember=False, fresh=True)
    setattr(g, SIGN_IN_ATTRIBUTE, sessions.find(key))


def _renew_session(user: User, now: dt.datetime) -> None:
    """A privilege change in this browser: this sign-in's identifier ends ("rotated") and a new
    one replaces it."""
    row = current_sign_in()
    if row is not None:
        sessions.end(row, now=now, reason="rotated")
    _start_session(user, now)


def _held_lifetime() -> dt.timedelta:
    return dt.timedelta(seconds=current_app.config["HELD_FORM_LIFETIME_SECONDS"])


def _after_sign_in(user: User, held_token: str | None, now: dt.datetime) -> str | None:
    """Where to go after signing in when this browser holds a form: the page that sends it, if
    it is this user's (or nobody's known); otherwise it is thrown away, never shown."""
    if not held_token:
        return None
    if held.get_held_form(token=held_token, user=user, lifetime=_held_lifetime(), now=now):
        session[HELD_FORM_KEY] = held_token
        return url_for("auth.held_form")
    held.drop_held_form(token=held_token, now=now)
    return None


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in() -> Any:
    if current_actor() is not None:
        return redirect(url_for("home.dashboard"))
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        now = now_utc()
        known = devices.read_known_device(request)
        try:
            user = services.authenticate(
                email=form.email.data or "",
                password=form.password.data or "",
                address=client_address(),
                now=now,
                limits=sign_in_limits(),
                known_device=known,
            )
        except (services.SignInRefused, Throttled) as refusal:
            # Caught, not raised: the answer is returned, so the failure count and the audit
            # row are committed with it (core/transactions.py).
            form.email.errors = [refusal.message]
            status = refusal.status if isinstance(refusal, Throttled) else 200
        else:
            target = _safe_next(request.args.get("next"))
            step = _second_step(user)
            if step is None:
                response = _finish_sign_in(user, target, now)
            else:
                _hold_pending(user, target, now)
                response = redirect(url_for(step))
            devices.remember_device(response, user=user, known=known)
            return response
    elif request.method == "POST":
        status = 200
    return render_template("auth/sign_in.html", form=form), status


def _finish_sign_in(user: User, target: str, now: dt.datetime) -> Any:
    held_token = session.get(HELD_FORM_KEY)
    _start_session(user, now)
    held_page = _after_sign_in(user, held_token if isinstance(held_token, str) else None, now)
    return redirect(held_page or target)


# The second factor (auth.second_factor) ------------------------------------------------------
#
# After a correct password, a user with an authenticator (or whose role must have one) is not
# signed in: the cookie holds only who passed the password and when (PENDING_KEY). Nothing but
# the two pages below reads it, so every other page treats the browser as signed out (deny by
# default); it lasts SECOND_FACTOR_STEP_SECONDS.

PENDING_KEY = "second_factor_pending"
_NOT_PROVED = "Enter the code from your authenticator app, or a recovery code"


def _second_step(user: User) -> str | None:
    """The page a user goes to after their password, or None when the password is enough."""
    if second_factor.has_second_factor(user):
        return "auth.second_factor_code"
    if second_factor.is_required(user, current_app.config["REQUIRE_SECOND_FACTOR_ROLES"]):
        return "auth.second_factor_set_up"
    return None


def _hold_pending(user: User, target: str, now: dt.datetime) -> None:
    session.pop(PENDING_KEY, None)
    session[PENDING_KEY] = {"token": user.session_token, "at": now.isoformat(),
                            "next": target}


def _pending_user(now: dt.datetime) -> User | None:
    """The user who passed the password in this browser within the limit, still active and
    with the same credential (a sign-out or password change elsewhere ends it)."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    try:
        started = dt.datetime.fromisoformat(str(pending.get("at")))
    except ValueError:
        return None
    limit = dt.timedelta(seconds=current_app.config["SECOND_FACTOR_STEP_SECONDS"])
    token = pending.get("token")
    if started.tzinfo is None or not started <= now < started + limit or not isinstance(token, str):
        return None
    user = services.get_user_by_session_token(token)
    if user is None or not user.is_active_account:
        return None
    return user


def _pending_expired() -> Any:
    session.pop(PENDING_KEY, None)
    flash("Sign in again: the code was not entered within 5 minutes", "info")
    return redirect(url_for("auth.sign_in"))


def _pending_target() -> str:
    pending = session.get(PENDING_KEY)
    target = pending.get("next") if isinstance(pending, dict) else None
    return _safe_next(target if isinstance(target, str) else None)


@bp.route("/sign-in/code", methods=["GET", "POST"])
@public
def second_factor_code() -> Any:
    """The second step of signing in: a code from the authenticator app, or a recovery code.
    Wrong codes are delayed progressively (the guard's "second_factor" scope), so they cannot
    be guessed in bulk, and only a correct code clears them."""
    now = now_utc()
    user = _pending_user(now)
    if user is None or not second_factor.has_second_factor(user):
        return _pending_expired()
    form = SecondFactorForm()
    status = 200
    if form.validate_on_submit():
        key = second_factor.guard_key(user)
        wait = guards.claim_delayed(guards.SECOND_FACTOR, key, now=now,
                                    rule=sign_in_limits().delay)
        kind = None if wait is not None else second_factor.check_code(
            user, code=form.code.data or "", now=now)
        if wait is not None:
            form.code.errors = [services.sign_in_delayed_message(wait - now)]
            status = 429
            _audit_factor("auth.second_factor_throttled", user, now, proved=False)
        elif kind is None:
            form.code.errors = ["The code is not correct, or has been used already. "
                                + _NOT_PROVED]
            _audit_factor("auth.second_factor_failed", user, now, proved=False)
        else:
            guards.clear(guards.SECOND_FACTOR, key)
            _audit_factor("auth.second_factor", user, now, details={"with": kind})
            response = _finish_sign_in(user, _pending_target(), now)
            if kind == "recovery":  # after the sign-in, whose fresh cookie would drop it
                left = second_factor.recovery_codes_left(user)
                flash(f"You used a recovery code. You have {left} left: if you have lost your "
                      "authenticator, ask an administrator to reset your second factor",
                      "info")
            return response
    return render_template("auth/second_factor_code.html", form=form), status


@bp.route("/sign-in/set-up-authenticator", methods=["GET", "POST"])
@public
def second_factor_set_up() -> Any:
    """A user whose role must have a second factor, and has none, sets one up before anything
    else: scan the QR code (or type the key), then type a code to switch it on."""
    now = now_utc()
    user = _pending_user(now)
    if user is None or second_factor.has_second_factor(user):
        return _pending_expired()

    def signed_in(codes: list[str]) -> Any:
        target = _pending_target()
        _finish_sign_in(user, target, now)
        return _show_codes_once(user, codes, next_url=target)

    return _set_up_second_factor(user, now, signing_in=True, switched_on=signed_in)


@bp.route("/account/second-factor", methods=["GET", "POST"])
@roles(*ALL_STAFF)
@never_held
def account_second_factor() -> Any:
    """Anyone signed in may set up a second factor; once on, the page says so (only an
    administrator can reset it)."""
    user = acting_user()
    now = now_utc()
    if second_factor.has_second_factor(user):
        just_made = request.method == "GET" and request.args.get("codes") == "new"
        held_codes = shown_once.take(RECOVERY_CODES, user=user) if just_made else None
        if held_codes is not None:
            return render_template("auth/recovery_codes.html", codes=held_codes.split(),
                                   next_url=_safe_next(request.args.get("next")))
        return render_template("auth/second_factor_status.html", codes_gone=just_made,
                               left=second_factor.recovery_codes_left(user))

    def renewed(codes: list[str]) -> Any:
        _renew_session(user, now)  # a privilege change: a new identifier
        return _show_codes_once(user, codes, next_url=url_for("home.dashboard"))

    return _set_up_second_factor(user, now, signing_in=False, switched_on=renewed)


RECOVERY_CODES = "recovery_codes"  # what shown_once holds new recovery codes as


def _show_codes_once(user: User, codes: list[str], *, next_url: str) -> Any:
    """Post/redirect/get: the recovery codes wait (sealed) in the fresh cookie for the one page
    that shows them; reloading it shows them no more, and switches nothing on twice."""
    shown_once.hold(RECOVERY_CODES, " ".join(codes), user=user)
    return redirect(url_for("auth.account_second_factor", codes="new", next=next_url))


def _set_up_second_factor(user: User, now: dt.datetime, *, signing_in: bool,
                          switched_on: Callable[[list[str]], Any]) -> Any:
    """The set-up page: the QR code and key, then a code from the app that switches the second
    factor on; `switched_on(recovery_codes)` answers once it is on."""
    form = EnrolmentForm()
    enrolment = second_factor.start_enrolment(user, now=now)
    if form.validate_on_submit():
        codes = second_factor.confirm_enrolment(user, code=form.code.data or "", now=now,
                                                address=client_address())
        if codes is not None:
            return switched_on(codes)
        form.code.errors = ["The code is not correct. Enter the 6-digit code your "
                            "authenticator app shows now"]
    return render_template("auth/second_factor_set_up.html", form=form, enrolment=enrolment,
                           signing_in=signing_in)


def _audit_factor(action: str, user: User, now: dt.datetime, *, proved: bool = True,
                  details: dict[str, str] | None = None) -> None:
    """A wrong code is recorded like a wrong password: by nobody yet, against the account."""
    who: dict[str, Any] = {"actor": user} if proved else {"actor_label": "anonymous"}
    services.audit_account_event(action=action, category="security", now=now,
                                 object_type="user", object_id=user.id,
                                 address=client_address(), details=details, **who)


@bp.post("/sign-out")
@roles(*ALL_STAFF)
@never_held
def sign_out() -> Any:
    """"Sign out" in the header ends every sign-in of this user, as it always has; "Your
    sessions" ends one at a time."""
    return _signed_out(everywhere=True)


def _signed_out(*, everywhere: bool) -> Any:
    user = current_actor()
    assert user is not None
    services.sign_out(user=user, sign_in=current_sign_in(), now=now_utc(),
                      address=client_address(), everywhere=everywhere)
    logout_user()
    session.clear()
    flash("You have been signed out", "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account/password", methods=["GET", "POST"])
@roles(*ALL_STAFF)
@never_held
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


# Your sessions (auth.sessions) ----------------------------------------------------------------

@bp.get("/account/sessions")
@roles(*ALL_STAFF)
def account_sessions() -> Any:
    """Where you are signed in: each open sign-in with when it began, when it was last used,
    its address and browser, and this one marked; end any other, or all of them."""
    user = acting_user()
    this = current_sign_in()
    rows = sessions.list_live(user, now=now_utc(), limits=session_limits())
    shown = [{"row": row, "this": this is not None and row.id == this.id,
              "browser": sessions.describe_browser(row.user_agent)} for row in rows]
    return render_template("auth/sessions.html", shown=shown, form=EndSessionsForm(),
                           others=sum(1 for item in shown if not item["this"]))


@bp.post("/account/sessions/<int:session_id>/end")
@roles(*ALL_STAFF)
@never_held
def end_account_session(session_id: int) -> Any:
    """End one of your sign-ins (this one too: that is signing out)."""
    if not EndSessionsForm().validate_on_submit():
        abort(400)
    user = acting_user()
    this = current_sign_in()
    now = now_utc()
    if this is not None and this.id == session_id:
        return _signed_out(everywhere=False)
    if sessions.end_one(user, session_id, now=now, actor=user, address=client_address(),
                        reason="signed_out_elsewhere"):
        flash("That session has been signed out", "success")
    else:
        flash("That session had already ended", "info")
    return redirect(url_for("auth.account_sessions"))


@bp.post("/account/sessions/end-others")
@roles(*ALL_STAFF)
@never_held
def end_other_sessions() -> Any:
    """Sign out everywhere but here (the button says so)."""
    if not EndSessionsForm().validate_on_submit():
        abort(400)
    user = acting_user()
    ended = sessions.end_all_audited(user, now=now_utc(), actor=user, address=client_address(),
                                     reason="signed_out_elsewhere", keep=current_sign_in())
    flash(f"Signed out of {ended} other session{'' if ended == 1 else 's'}", "success")
    return redirect(url_for("auth.account_sessions"))


# The time-out warning's calls (static/js/timeout-warning.mjs) ---------------------------------

def _time_left() -> Any:
    idle_left, absolute_left = idle_and_absolute_seconds_left(now_utc())
    return jsonify(seconds_left=min(idle_left, absolute_left), idle_seconds_left=idle_left,
                   absolute_seconds_left=absolute_left)


@bp.post("/sign-in/keep-alive")
@roles(*ALL_STAFF)
@never_held
def keep_alive() -> Any:
    """"Stay signed in": the request itself restarts the idle limit (auth.web); the answer says
    how long the sign-in now has. Send the CSRF token in the X-CSRFToken header."""
    return _time_left()


@bp.get("/sign-in/status")
@roles(*ALL_STAFF)
def sign_in_status() -> Any:
    """How long the sign-in has left, without extending it (a 401 problem when it has ended)."""
    return _time_left()


# A form held when the sign-in ended (auth.held) -----------------------------------------------

def _held_for(user: User) -> held.Held | None:
    token = session.get(HELD_FORM_KEY)
    return held.get_held_form(token=token if isinstance(token, str) else None, user=user,
                              lifetime=_held_lifetime(), now=now_utc())


def _nothing_held() -> Any:
    session.pop(HELD_FORM_KEY, None)
    flash("There are no kept changes to send: they were already sent or discarded, or kept for "
          "too long", "info")
    return redirect(url_for("home.dashboard"))


@bp.get("/sign-in/kept-changes")
@roles(*ALL_STAFF)
def held_form() -> Any:
    """You were signed out before your changes were sent: send them, or discard them."""
    kept = _held_for(acting_user())
    if kept is None:
        return _nothing_held()
    return render_template("auth/held_form.html", kept=kept)


@bp.post("/sign-in/kept-changes/send")
@roles(*ALL_STAFF)
@never_held
def send_held_form() -> Any:
    """Use the held form once, then have the browser post the same fields (and this page's
    fresh CSRF token) to where they were first sent: a 307 keeps the method and the body."""
    user = acting_user()
    kept = _held_for(user)
    if kept is None:
        return _nothing_held()
    held.resend_held_form(kept, user=user, address=client_address(), now=now_utc())
    session.pop(HELD_FORM_KEY, None)
    target = _safe_next(kept.row.path)
    return redirect(target, code=307)


@bp.post("/sign-in/kept-changes/discard")
@roles(*ALL_STAFF)
@never_held
def discard_held_form() -> Any:
    user = acting_user()
    kept = _held_for(user)
    if kept is None:
        return _nothing_held()
    held.discard_held_form(kept, user=user, address=client_address(), now=now_utc())
    session.pop(HELD_FORM_KEY, None)
    flash("What you entered has been discarded", "success")
    return redirect(url_for("home.dashboard"))
