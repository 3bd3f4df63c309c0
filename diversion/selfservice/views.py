"""The referred person's self-service pages (/book), and the managers' list of locked references.

The person has no account and no Flask-Login user. Signing in with reference, PIN and date of
birth starts a person session: a random token in the session cookie whose digest is a row bound
to one referral. Nothing in the URLs names a referral, so there is nothing to change to reach
another one. The endpoints are `@public` for the access hook; `person_required` is their check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from diversion.attendance.rules import late_cutoff_at
from diversion.auth.access import current_actor, public, roles
from diversion.auth.models import Role, User
from diversion.auth.throttle import Throttled
from diversion.auth.views import client_address
from diversion.bookings import fees
from diversion.bookings import queries as bookings_queries
from diversion.bookings import waiting_list as bookings_waiting_list
from diversion.bookings.models import Booking
from diversion.core import parsing
from diversion.core.dashboard import Panel
from diversion.core.errors import DomainError, ValidationFailed
from diversion.core.timeutils import format_london, london_today, now_utc
from diversion.core.transactions import savepoint
from diversion.courses.models import CourseSession
from diversion.outbox.models import Channel
from diversion.referrals.models import Referral, ReferralStatus
from diversion.selfservice import services
from diversion.selfservice.forms import (
    ChooseSessionForm,
    ConfirmForm,
    LeaveWaitingListForm,
    StartForm,
)

bp = Blueprint("selfservice", __name__)

PERSON_TOKEN = "person_token"  # noqa: S105 (the session key that holds the token, not a secret)
F = TypeVar("F", bound=Callable[..., Any])


def limits() -> services.Limits:
    """The self-service limits; tests and deployments may override them in the app config."""
    return current_app.config.get("SELF_SERVICE_LIMITS") or services.Limits()


def person_required(view: F) -> F:
    """Let the request through only with a live person session; `g.referral` is its referral."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = session.get(PERSON_TOKEN)
        found = services.person_session_for(token, now=now_utc(), limits=limits())
        if found is None:
            # The expired session's row is deleted: a return commits that.
            if token:
                session.pop(PERSON_TOKEN, None)
                flash("Your session ended because you were away for a while. "
                      "Enter your details again to continue", "info")
            return redirect(url_for("selfservice.start"))
        g.referral = found.referral
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _referral() -> Referral:
    referral: Referral = g.referral
    return referral


@bp.route("/book", methods=["GET", "POST"])
@public
def start() -> Any:
    form = StartForm()
    message: str | None = None
    status = 200
    if form.validate_on_submit():
        now = now_utc()
        try:
            _referral, token = services.sign_in_person(
                reference=form.reference.data or "", pin=form.pin.data or "",
                date_of_birth=form.date_of_birth, address=client_address(), now=now,
                limits=limits(), previous_token=session.get(PERSON_TOKEN))
        except (services.DetailsRefused, Throttled) as refusal:
            # Caught, not raised: the answer is returned, so the refusal's count and audit
            # row are committed with it (core/transactions.py).
            message = refusal.message
            status = refusal.status
        else:
            session.pop(PERSON_TOKEN, None)
            session[PERSON_TOKEN] = token  # a new token on every sign-in
            return redirect(url_for("selfservice.overview"))
    return render_template("selfservice/start.html", form=form, message=message), status


@bp.post("/book/sign-out")
@public
def sign_out() -> Any:
    form = ConfirmForm()
    token = session.pop(PERSON_TOKEN, None)
    if form.validate_on_submit() and token:
        services.end_person_session(token=token, now=now_utc())
    return redirect(url_for("selfservice.signed_out"))


@bp.get("/book/signed-out")
@public
def signed_out() -> Any:
    return render_template("selfservice/signed_out.html")


def _can_book(referral: Referral) -> bool:
    return referral.status in (ReferralStatus.AWAITING_BOOKING, ReferralStatus.BOOKED)


def course_day(value: dt.datetime) -> str:
    """'Tuesday 14 July 2026' in London."""
    return format_london(value, "%A %-d %B %Y")


def clock(value: dt.datetime) -> str:
    """'9:30am' in London."""
    return format_london(value, "%-I:%M%p").lower()


def day_words(value: dt.date) -> str:
    """'Wednesday 8 July 2026'."""
    return value.strftime("%A %-d %B %Y")


def late_cutoff(session: CourseSession) -> str:
    """The London time after which nobody is let in (the programme's late cut-off)."""
    return clock(late_cutoff_at(session.starts_at, session.programme.late_cutoff_minutes))


@bp.context_processor
def helpers() -> dict[str, Any]:
    return {"course_day": course_day, "clock": clock, "day_words": day_words,
            "late_cutoff": late_cutoff, "Channel": Channel}


@bp.get("/book/your-course")
@public
@person_required
def overview() -> Any:
    referral = _referral()
    now = now_utc()
    booking = bookings_queries.get_active_booking(referral)
    services.record_person_view(referral=referral, now=now)
    return render_template(
        "selfservice/overview.html", referral=referral, booking=booking,
        can_book=_can_book(referral), today=london_today(now), fee=fees.fee_status(referral),
        transfers_left=bookings_queries.transfers_remaining(referral),
        bookable_count=len(_choice(referral, now=now, booking=booking,
                                   include_full=_may_queue(referral, booking)))
        if _can_book(referral) else 0,
        waiting=bookings_waiting_list.waiting_positions(referral),
        leave_form=LeaveWaitingListForm())


def _choice(referral: Referral, *, now: dt.datetime, booking: Booking | None,
            include_full: bool) -> list[bookings_queries.BookableSession]:
    """The dates he may choose: those with places, and (while he has no booking) full ones
    whose waiting list he could join; never the date he is already booked on."""
    return [s for s in bookings_queries.list_bookable_sessions(referral=referral, now=now,
                                                                include_full=include_full)
            if booking is None or s.session.id != booking.session_id]


def _may_queue(referral: Referral, booking: Booking | None) -> bool:
    return booking is None and referral.status is ReferralStatus.AWAITING_BOOKING


@bp.route("/book/choose", methods=["GET", "POST"])
@public
@person_required
def choose() -> Any:
    """Choosing a date books nothing: it leads to the check page (or the waiting list's)."""
    referral = _referral()
    now = now_utc()
    if not _can_book(referral):
        return redirect(url_for("selfservice.overview"))
    booking = bookings_queries.get_active_booking(referral)
    transfers_left = bookings_queries.transfers_remaining(referral)
    if booking is not None and transfers_left == 0:
        flash("You have changed your booking as many times as allowed. "
              "Call the programme team if you cannot go", "info")
        return redirect(url_for("selfservice.overview"))
    sessions = _choice(referral, now=now, booking=booking,
                       include_full=_may_queue(referral, booking))
    form = ChooseSessionForm()
    form.session_id.choices = [(s.session.id, s.session.id) for s in sessions]
    if form.validate_on_submit():
        chosen = next(s for s in sessions if s.session.id == form.session_id.data)
        target = "selfservice.join_waiting_list" if chosen.is_full else "selfservice.check"
        return redirect(url_for(target, session_id=chosen.session.id))
    services.record_person_view(referral=referral, now=now, action="selfservice.view_sessions")
    return render_template("selfservice/choose.html", referral=referral, booking=booking,
                           sessions=sessions, form=form, transfers_left=transfers_left)


def _chosen(sessions: list[bookings_queries.BookableSession]) -> Any:
    session_id = parsing.query_int(request.args.get("session_id"))
    return next((s for s in sessions if s.session.id == session_id), None)


@bp.route("/book/check", methods=["GET", "POST"])
@public
@person_required
def check() -> Any:
    """Check the chosen date before booking it: only "Confirm booking" books (or changes)."""
    referral = _referral()
    now = now_utc()
    if not _can_book(referral):
        return redirect(url_for("selfservice.overview"))
    booking = bookings_queries.get_active_booking(referral)
    if booking is not None and bookings_queries.transfers_remaining(referral) == 0:
        return redirect(url_for("selfservice.overview"))
    chosen = _chosen(_choice(referral, now=now, booking=booking, include_full=False))
    if chosen is None:
        flash("That course date cannot be booked now. Choose another date", "error")
        return redirect(url_for("selfservice.choose"))
    form = ConfirmForm()
    error: str | None = None
    if form.validate_on_submit():
        try:
            with savepoint():
                if booking is None:
                    services.book_for_person(referral=referral, session_id=chosen.session.id,
                                             now=now)
                else:
                    services.change_for_person(referral=referral, session_id=chosen.session.id,
                                               now=now)
        except DomainError as refusal:
            error = _message(refusal)
        else:
            return redirect(url_for("selfservice.booked", changed=int(booking is not None)))
    services.record_person_view(referral=referral, now=now)
    return render_template("selfservice/check.html", referral=referral, booking=booking,
                           course_session=chosen.session, fee=fees.fee_status(referral), form=form,
                           error=error), 200 if error is None else 409


@bp.route("/book/waiting-list", methods=["GET", "POST"])
@public
@person_required
def join_waiting_list() -> Any:
    """Check a full date before joining its waiting list; only "Join the waiting list" joins."""
    referral = _referral()
    now = now_utc()
    booking = bookings_queries.get_active_booking(referral)
    if not _may_queue(referral, booking):
        return redirect(url_for("selfservice.overview"))
    chosen = _chosen([s for s in _choice(referral, now=now, booking=None, include_full=True)
                      if s.is_full])
    if chosen is None:
        flash("You cannot join the waiting list for that date. It may have places again: "
              "choose a date", "error")
        return redirect(url_for("selfservice.choose"))
    form = ConfirmForm()
    error: str | None = None
    if form.validate_on_submit():
        try:
            with savepoint():
                services.join_waiting_list_for_person(referral=referral,
                                                      session_id=chosen.session.id, now=now)
        except DomainError as refusal:
            error = _message(refusal)
        else:
            flash("You are on the waiting list for " + course_day(chosen.session.starts_at),
                  "success")
            return redirect(url_for("selfservice.overview"))
    services.record_person_view(referral=referral, now=now)
    return render_template("selfservice/waiting_list.html", referral=referral,
                           course_session=chosen.session, form=form, error=error,
                           ahead=len(bookings_waiting_list.waiting_list(chosen.session.id))), \
        200 if error is None else 409


@bp.post("/book/waiting-list/leave")
@public
@person_required
def leave_waiting_list() -> Any:
    referral = _referral()
    form = LeaveWaitingListForm()
    if form.validate_on_submit():
        try:
            with savepoint():
                services.leave_waiting_list_for_person(
                    referral=referral, session_id=form.session_id.data or 0, now=now_utc())
        except DomainError:
            flash("You are not on that waiting list", "info")
        else:
            flash("You have left the waiting list", "success")
    return redirect(url_for("selfservice.overview"))


def _message(error: DomainError) -> str:
    if isinstance(error, ValidationFailed):
        return next(iter(error.errors.values()), error.message)
    return error.message


@bp.get("/book/booked")
@public
@person_required
def booked() -> Any:
    referral = _referral()
    booking = bookings_queries.get_active_booking(referral)
    if booking is None:
        return redirect(url_for("selfservice.overview"))
    services.record_person_view(referral=referral, now=now_utc())
    return render_template("selfservice/booked.html", referral=referral, booking=booking,
                           is_change=request.args.get("changed") == "1",
                           sent_to=services.confirmation_sent_to(referral))


@bp.route("/book/cancel", methods=["GET", "POST"])
@public
@person_required
def cancel() -> Any:
    referral = _referral()
    now = now_utc()
    booking = bookings_queries.get_active_booking(referral)
    if booking is None or not _can_book(referral):
        return redirect(url_for("selfservice.overview"))
    form = ConfirmForm()
    if form.validate_on_submit():
        services.cancel_for_person(referral=referral, now=now)
        flash("Your place has been cancelled. You still need to book and complete a course by "
              f"{day_words(referral.completion_deadline)}", "success")
        return redirect(url_for("selfservice.overview"))
    services.record_person_view(referral=referral, now=now)
    return render_template("selfservice/cancel.html", referral=referral, booking=booking,
                           form=form)


@bp.get("/book/course-booking.ics")
@public
@person_required
def calendar() -> Any:
    referral = _referral()
    now = now_utc()
    booking = bookings_queries.get_active_booking(referral)
    if booking is None:
        abort(404)
    body = bookings_queries.booking_calendar(booking=booking, now=now)
    services.record_person_view(referral=referral, now=now, action="selfservice.calendar")
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": 'attachment; filename="course-booking.ics"'})


# Managers ------------------------------------------------------------------------------------

@bp.get("/selfservice/locked")
@roles(Role.MANAGER)
def locked() -> Any:
    return render_template("selfservice/locked.html", locks=services.list_locked(),
                           form=ConfirmForm())


@bp.post("/selfservice/locked/<int:referral_id>/unlock")
@roles(Role.MANAGER)
def unlock(referral_id: int) -> Any:
    form = ConfirmForm()
    if form.validate_on_submit():
        actor = current_actor()
        assert actor is not None
        lock = services.unlock_reference(referral_id=referral_id, actor=actor, now=now_utc())
        reference = lock.referral.reference
        flash(f"Reference {reference} is unlocked. The person can sign in again with the same "
              "PIN", "success")
    return redirect(url_for("selfservice.locked"))


def locked_panel(user: User, now: dt.datetime) -> Panel:
    """Managers see at once when someone cannot get into his booking page."""
    return Panel("Booking pages", [
        ("Locked after wrong details", services.count_locked(), "selfservice.locked")])
