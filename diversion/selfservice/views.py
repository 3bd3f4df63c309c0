"""The referred person's self-service pages (/book), and the managers' list of locked references.

The person has no account and no Flask-Login user. Signing in with reference, PIN and date of
birth starts a person session: a random token in the session cookie whose digest is a row bound
to one referral. Nothing in the URLs names a referral, so there is nothing to change to reach
another one. The endpoints are `@public` for the access hook; `person_required` (in
`selfservice.person`, with `current_referral()`) is their check. The pages that check one change
with him before making it share `confirm_page`. `/book?ref=&then=pay` is the link contract of his
letters and messages (`reference_from_link`, `then_from_link`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from diversion.attendance.rules import is_deadline_passed, late_cutoff_at
from diversion.audit.models import AuditCategory
from diversion.audit.services import record, shown_details
from diversion.auth.access import current_actor, public, roles
from diversion.auth.models import Role, User
from diversion.auth.throttle import Throttled
from diversion.auth.views import client_address
from diversion.bookings import fees
from diversion.bookings import queries as bookings_queries
from diversion.bookings import waiting_list as bookings_waiting_list
from diversion.bookings.models import Booking
from diversion.core import parsing
from diversion.core.dashboard import Line, Panel
from diversion.core.errors import DomainError, ValidationFailed
from diversion.core.timeutils import format_london, london_today, now_utc
from diversion.core.transactions import savepoint
from diversion.courses.models import CourseSession
from diversion.outbox.models import Channel
from diversion.referrals.models import Referral, ReferralStatus
from diversion.referrals.reading import normalise_reference
from diversion.selfservice import services
from diversion.selfservice.forms import (
    REFERENCE_NOT_VALID,
    ChooseSessionForm,
    ConfirmForm,
    LeaveWaitingListForm,
    StartForm,
)
from diversion.selfservice.person import (
    PERSON_TOKEN,
    current_referral,
    limits,
    person_required,
    signed_in_referral,
)

bp = Blueprint("selfservice", __name__)


# `/book?ref=REF&then=pay`, the links in his letters and messages: `ref` fills in the reference
# (he still types his PIN and date of birth); `then` names where he goes once signed in, from
# this list only (never an address, so never an open redirect).
THEN_PAGES = {"pay": "fee"}  # then -> the part of his course page it opens
REFERENCE_IN_LINK = re.compile(r"[A-Z0-9]{4,20}")


def reference_from_link(value: str | None) -> str | None:
    """The reference a link carries, normalised, or None for anything that is not one."""
    reference = normalise_reference((value or "")[:40])
    return reference if REFERENCE_IN_LINK.fullmatch(reference) else None


def then_from_link(value: str | None) -> str | None:
    return value if value in THEN_PAGES else None


def after_sign_in(then: str | None) -> Any:
    """His course page, opened at the part the link asked for."""
    anchor = THEN_PAGES.get(then or "")
    return redirect(url_for("selfservice.overview", _anchor=anchor) if anchor
                    else url_for("selfservice.overview"))


@bp.route("/book", methods=["GET", "POST"])
@public
def start() -> Any:
    form = StartForm()
    message: str | None = None
    status = 200
    then = then_from_link(request.form.get("then") if request.method == "POST"
                          else request.args.get("then"))
    if request.method == "GET":
        reference = reference_from_link(request.args.get("ref"))
        if reference is not None:
            signed_in = signed_in_referral()
            if signed_in is not None and normalise_reference(signed_in.reference) == reference:
                return after_sign_in(then)
            form.reference.data = reference
        elif (request.args.get("ref") or "").strip():
            # A link whose reference is not one (cut short, mistyped, a control character):
            # the words for a reference that is not valid, the box left empty (never the value).
            message = REFERENCE_NOT_VALID
    if form.validate_on_submit():
        now = now_utc()
        try:
            _signed_in, token = services.sign_in_person(
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
            return after_sign_in(then)
    return render_template("selfservice/start.html", form=form, message=message,
                           then=then), status


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
    referral = current_referral()
    now = now_utc()
    booking = bookings_queries.get_active_booking(referral)
    services.record_person_view(referral=referral, now=now)
    # Past his completion deadline with nothing booked, before the deadlines job has closed the
    # referral: there is nothing left to book, so the page says so rather than offering dates.
    deadline_passed = (referral.status is ReferralStatus.AWAITING_BOOKING
                       and is_deadline_passed(referral.completion_deadline, now=now))
    can_book = _can_book(referral) and not deadline_passed
    choices = (_choice(referral, now=now, booking=booking,
                       include_full=_may_queue(referral, booking)) if can_book else [])
    return render_template(
        "selfservice/overview.html", referral=referral, booking=booking,
        deadline_passed=deadline_passed,
        # His course has begun (he went, and owes the fee; or the register is still open):
        # the booking can no longer be changed or cancelled (bookings.places).
        course_begun=_has_begun(booking, now=now),
        can_book=can_book, today=london_today(now), fee=fees.fee_status(referral),
        transfers_left=bookings_queries.transfers_remaining(referral),
        # Dates he could choose (full ones too, for their waiting lists), and those with places.
        bookable_count=len(choices), open_count=sum(1 for c in choices if not c.is_full),
        waiting=bookings_waiting_list.waiting_positions(referral))


def _has_begun(booking: Booking | None, *, now: dt.datetime) -> bool:
    """His booked course has begun: the booking can no longer be changed or cancelled."""
    return booking is not None and booking.session.starts_at <= now


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
    referral = current_referral()
    now = now_utc()
    if not _can_book(referral):
        return redirect(url_for("selfservice.overview"))
    booking = bookings_queries.get_active_booking(referral)
    if _has_begun(booking, now=now):
        return redirect(url_for("selfservice.overview"))
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
    referral = current_referral()
    now = now_utc()
    if not _can_book(referral):
        return redirect(url_for("selfservice.overview"))
    booking = bookings_queries.get_active_booking(referral)
    if _has_begun(booking, now=now) or (
            booking is not None and bookings_queries.transfers_remaining(referral) == 0):
        return redirect(url_for("selfservice.overview"))
    chosen = _chosen(_choice(referral, now=now, booking=booking, include_full=False))
    if chosen is None:
        flash("That course date cannot be booked now. Choose another date", "error")
        return redirect(url_for("selfservice.choose"))

    def book() -> None:
        if booking is None:
            services.book_for_person(referral=referral, session_id=chosen.session.id, now=now)
        else:
            services.change_for_person(referral=referral, session_id=chosen.session.id, now=now)

    return confirm_page(
        "selfservice/check.html", book,
        lambda: redirect(url_for("selfservice.booked", changed=int(booking is not None))),
        booking=booking, course_session=chosen.session, fee=fees.fee_status(referral))


@bp.route("/book/waiting-list", methods=["GET", "POST"])
@public
@person_required
def join_waiting_list() -> Any:
    """Check a full date before joining its waiting list; only "Join the waiting list" joins."""
    referral = current_referral()
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

    def done() -> Any:
        flash("You are on the waiting list for " + course_day(chosen.session.starts_at), "success")
        return redirect(url_for("selfservice.overview"))

    return confirm_page(
        "selfservice/waiting_list.html",
        lambda: services.join_waiting_list_for_person(referral=referral,
                                                      session_id=chosen.session.id, now=now),
        done, course_session=chosen.session,
        ahead=len(bookings_waiting_list.waiting_list(chosen.session.id)))


@bp.route("/book/waiting-list/leave", methods=["GET", "POST"])
@public
@person_required
def leave_waiting_list() -> Any:
    """Leaving a line loses his place in it, so `GET ?session_id=N` asks first; the `POST`
    (the session's id in the form) leaves."""
    referral = current_referral()
    if request.method == "GET":
        session_id = parsing.query_int(request.args.get("session_id"))
        found = next(((entry, position)
                      for entry, position in bookings_waiting_list.waiting_positions(referral)
                      if entry.session_id == session_id), None)
        if found is None:
            flash("You are not on that waiting list", "info")
            return redirect(url_for("selfservice.overview"))
        entry, position = found
        services.record_person_view(referral=referral, now=now_utc())
        return render_template("selfservice/leave_waiting_list.html", referral=referral,
                               course_session=entry.session, position=position,
                               form=LeaveWaitingListForm(session_id=entry.session_id))
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


def confirm_page(template: str, action: Callable[[], Any], done: Callable[[], Any],
                 **context: Any) -> Any:
    """A page that checks one change with him before it is made (booking, waiting list, refund,
    cancelling): only its POST, with the CSRF token, runs `action`, undone if it is refused; then
    `done()` answers. A refusal is shown on the page (409, or the refusal's `page_status`)."""
    referral = current_referral()
    form = ConfirmForm()
    error: str | None = None
    status = 200
    if form.validate_on_submit():
        try:
            with savepoint():
                action()
        except DomainError as refusal:
            error = _message(refusal)
            status = getattr(refusal, "page_status", 409)
        else:
            return done()
    services.record_person_view(referral=referral, now=now_utc())
    return render_template(template, referral=referral, form=form, error=error,
                           **context), status


@bp.get("/book/booked")
@public
@person_required
def booked() -> Any:
    referral = current_referral()
    booking = bookings_queries.get_active_booking(referral)
    if booking is None:
        return redirect(url_for("selfservice.overview"))
    services.record_person_view(referral=referral, now=now_utc())
    return render_template("selfservice/booked.html", referral=referral, booking=booking,
                           is_change=request.args.get("changed") == "1",
                           sent_to=services.confirmation_sent_to(referral),
                           fee=fees.fee_status(referral))


@bp.route("/book/cancel", methods=["GET", "POST"])
@public
@person_required
def cancel() -> Any:
    referral = current_referral()
    now = now_utc()
    booking = bookings_queries.get_active_booking(referral)
    if booking is None or not _can_book(referral) or _has_begun(booking, now=now):
        return redirect(url_for("selfservice.overview"))

    def done() -> Any:
        flash("Your place has been cancelled. You still need to book and complete a course by "
              f"{day_words(referral.completion_deadline)}", "success")
        return redirect(url_for("selfservice.overview"))

    return confirm_page("selfservice/cancel.html",
                        lambda: services.cancel_for_person(referral=referral, now=now), done,
                        booking=booking)


@bp.get("/book/course-booking.ics")
@public
@person_required
def calendar() -> Any:
    referral = current_referral()
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
    locks = services.list_locked()
    if locks:
        # The page lists referral references: who saw which is audited, by referral id.
        record(action="selfservice.locked_view", category=AuditCategory.CONSULTATION,
               now=now_utc(), actor=current_actor(), object_type="referral",
               details=shown_details(lock.referral_id for lock in locks))
    return render_template("selfservice/locked.html", locks=locks, form=ConfirmForm())


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
        Line("Locked after wrong details: to unlock", services.count_locked_query(),
             "selfservice.locked")])
