"""Managers' pages: a referral's booking and fee, cancelling a session with its bookings,
and the auto-allocation button."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from wtforms.fields.choices import SelectChoice

from diversion.audit.models import AuditCategory
from diversion.audit.services import record, shown_details
from diversion.auth.access import acting_user, roles
from diversion.auth.models import Role
from diversion.bookings import (
    allocation,
    fees,
    outstanding,
    payments_list,
    places,
    queries,
    session_cancellation,
    waiting_list,
)
from diversion.bookings.forms import (
    NOT_AN_AMOUNT,
    CancelBookingForm,
    CancelSessionForm,
    ChooseSessionForm,
    ConfirmForm,
    PaymentFilterForm,
    PaymentForm,
    WaiveForm,
    pence_from_pounds,
)
from diversion.bookings.models import Booking, PaymentMethod
from diversion.core import listing, paging, parsing
from diversion.core.dashboard import Line, Panel, counted_recently
from diversion.core.errors import DomainError, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.forms import attach_errors
from diversion.core.timeutils import format_london, london_today, now_utc
from diversion.core.transactions import discarded, savepoint
from diversion.core.web import format_pounds
from diversion.courses import sessions as courses_sessions
from diversion.courses.models import CourseSession, SessionStatus
from diversion.programmes import services as programme_services
from diversion.referrals import queries as referral_queries
from diversion.referrals.models import Referral, ReferralStatus
from diversion.referrals.reading import read_referral_audited

bp = Blueprint("bookings", __name__, url_prefix="/bookings")
# Fees: the list of everyone who still owes (managers).
fees_bp = Blueprint("fees", __name__, url_prefix="/fees")


def _referral(reference: str) -> Referral:
    return read_referral_audited(reference=reference, actor=acting_user(), now=now_utc())


def _session(session_id: Any) -> CourseSession | None:
    try:
        return db.session.get(CourseSession, int(session_id))
    except (TypeError, ValueError):
        return None


ATTENDEE_SORTS = {"name": lambda b: (b.referral.person.family_name.casefold(),
                                     b.referral.person.given_names.casefold(), b.id),
                  "reference": lambda b: (b.referral.reference, b.id)}


@bp.app_template_global()
def session_bookings(session_id: int, sort: str | None = None, order: str | None = None
                     ) -> list[Booking]:
    """Active bookings on a session, for the session page, by name (or `sort="reference"`;
    `order="desc"` reverses). A session holds at most its capacity: sorted here, not paged."""
    bookings = queries.list_session_bookings(session_id, people_only=True)
    key = ATTENDEE_SORTS.get(sort or "name", ATTENDEE_SORTS["name"])
    return sorted(bookings, key=key, reverse=order == "desc")


@bp.get("/session/<int:session_id>/attendees.csv")
@roles(Role.MANAGER)
def attendees_csv(session_id: int) -> Any:
    """The people booked on a session, as CSV (docs/DESIGN.md "Staff lists"); audited."""
    session = _session(session_id)
    if session is None:
        abort(404)
    bookings = session_bookings(session.id, request.args.get("sort"), request.args.get("order"))
    record(action="attendees.export", category=AuditCategory.DISCLOSURE, now=now_utc(),
           actor=acting_user(), object_type="session", object_id=session.id,
           details=shown_details(b.referral_id for b in bookings))
    rows = [(b.referral.person.family_name, b.referral.person.given_names, b.referral.reference,
             b.status.label, listing.london(b.created_at), b.referral.person.needs_step_free,
             b.referral.person.access_needs or "", b.referral.person.language_needs or "")
            for b in bookings]
    return listing.csv_download(
        f"session-{session.id}-attendees.csv",
        ("Family name", "Given names", "Reference", "Status", "Booked", "Step-free access",
         "Access needs", "Language needs"), rows)


@bp.app_template_global()
def session_waiting_list(session_id: int) -> list[tuple[int, Any]]:
    """A session's waiting list, first in line first, with positions (1 = next)."""
    return list(enumerate(waiting_list.waiting_list(session_id), start=1))


def _page(referral: Referral, *, status: int = 200, **forms: Any) -> Any:
    now = now_utc()
    booking = queries.get_active_booking(referral)
    options = queries.list_bookable_sessions(referral=referral, now=now, include_full=True)
    if booking is not None:
        options = [o for o in options if o.session.id != booking.session_id]
    choose = forms.get("choose") or ChooseSessionForm()
    choose.session_id.choices = [SelectChoice(str(o.session.id), str(o.session.id))
                                 for o in options]
    return render_template(
        "bookings/referral.html", referral=referral, booking=booking,
        history=queries.list_bookings_for(referral), options=options, choose=choose,
        payment_form=forms.get("payment") or PaymentForm(),
        waive_form=forms.get("waive") or WaiveForm(), confirm=ConfirmForm(),
        fee=fees.fee_status(referral), payments=fees.list_payments(referral),
        waiver_history=fees.list_waiver_history(referral),
        waiting=waiting_list.waiting_positions(referral),
        transfers_left=queries.transfers_remaining(referral), now=now,
        ReferralStatus=ReferralStatus), status


@bp.get("/referral/<reference>")
@roles(Role.MANAGER)
def referral_booking(reference: str) -> Any:
    return _page(_referral(reference))


def _domain_error_on(form: Any, field: str, error: DomainError) -> None:
    """A field's own error beside it; a refusal of the action itself (a conflict with the
    referral's state, which may hide the form) at the top of the page."""
    if isinstance(error, ValidationFailed):
        attach_errors(form, error, fallback=field)
    else:
        form.form_errors.append(error.message)


@bp.post("/referral/<reference>/book")
@roles(Role.MANAGER)
def book(reference: str) -> Any:
    """Book the chosen session; a full session puts the person on its waiting list."""
    referral = _referral(reference)
    form = ChooseSessionForm()
    form.session_id.choices = []
    if not form.validate_on_submit():
        return _page(referral, status=422, choose=form)
    session = _session(form.session_id.data)
    try:
        with savepoint():
            if session is None:
                raise ValidationFailed({"session_id": "Choose a session from the list"})
            booking = queries.get_active_booking(referral)
            if booking is not None and request.form.get("confirmed") != "yes":
                # A move gives his place away (to the waiting list) and uses one of his moves:
                # check first. The move is tried and undone, so a refusal shows on the form.
                with discarded():
                    places.transfer_booking(referral=referral, session=session,
                                            actor=acting_user(), now=now_utc())
                return _transfer_check(referral, booking, session, form)
            if booking is not None:
                places.transfer_booking(referral=referral, session=session, actor=acting_user(),
                                          now=now_utc())
                message = "Booking moved"
            elif session.booked_count >= session.capacity:
                waiting_list.join_waiting_list(referral=referral, session=session, actor=acting_user(),
                                           now=now_utc())
                message = "The session is full: added to its waiting list"
            else:
                places.book_place(referral=referral, session=session, actor=acting_user(), now=now_utc())
                message = "Booked"
    except DomainError as error:
        referral = _referral(reference)
        _domain_error_on(form, "session_id", error)
        return _page(referral, status=error.status, choose=form)
    flash(message, "success")
    return redirect(url_for("bookings.referral_booking", reference=referral.reference))


def _transfer_check(referral: Referral, booking: Booking, session: CourseSession,
                    form: ChooseSessionForm) -> Any:
    """The page that asks before a booking is moved: from, to, and what follows."""
    db.session.expire_all()  # the tried move was undone: read the booking as it stands
    return render_template(
        "bookings/transfer_check.html", referral=referral, booking=booking, session=session,
        form=form, transfers_left=queries.transfers_remaining(referral),
        waiting=len(waiting_list.waiting_list(booking.session_id)))


@bp.route("/referral/<reference>/cancel", methods=["GET", "POST"])
@roles(Role.MANAGER)
def cancel(reference: str) -> Any:
    """Check, then cancel the referral's booking: who, which session, what follows; a reason
    is required."""
    referral = _referral(reference)
    booking = queries.get_active_booking(referral)
    if booking is None:
        flash("There is no booking to cancel", "error")
        return redirect(url_for("bookings.referral_booking", reference=referral.reference))
    form = CancelBookingForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                with savepoint():
                    places.cancel_booking(referral=referral, actor=acting_user(), now=now_utc(),
                                          reason=form.reason.data)
            except DomainError as error:
                _domain_error_on(form, "reason", error)
                status = error.status
                referral = _referral(reference)
                booking = queries.get_active_booking(referral) or booking
            else:
                flash("Booking cancelled. He has been sent a message to tell him", "success")
                return redirect(url_for("bookings.referral_booking", reference=referral.reference))
        else:
            status = 422
    return render_template("bookings/cancel.html", referral=referral, booking=booking, form=form,
                           fee=fees.fee_status(referral), now=now_utc()), status


@bp.route("/referral/<reference>/waiting-list/<int:session_id>/leave", methods=["GET", "POST"])
@roles(Role.MANAGER)
def leave_waiting_list(reference: str, session_id: int) -> Any:
    """GET: check before taking him out of the line (he loses his place); POST: take him out."""
    referral = _referral(reference)
    if request.method == "GET":
        entry = next(((e, position) for e, position in waiting_list.waiting_positions(referral)
                      if e.session_id == session_id), None)
        if entry is None:
            raise NotFound("Not on that waiting list")
        return render_template("bookings/leave_waiting_list.html", referral=referral,
                               entry=entry[0], position=entry[1], form=ConfirmForm())
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("bookings.referral_booking", reference=referral.reference))
    waiting_list.leave_waiting_list(referral=referral, session_id=session_id, actor=acting_user(),
                                now=now_utc())
    flash("Taken off the waiting list", "success")
    return redirect(url_for("bookings.referral_booking", reference=referral.reference))


def _nothing_owed(referral: Referral, form: Any) -> bool:
    """True, with the reason at the top of the page, when nothing is owed (the fee paid or
    waived, or the case ended): the page then shows no payment or waiver form to put a field's
    error beside."""
    fee = fees.fee_status(referral)
    if fee.still_owed_pence > 0:
        return False
    form.form_errors.append("Nothing is owed: the case has ended" if fee.has_ended and
                            not fee.is_waived else
                            "Nothing is owed: the fee has already been paid or waived")
    return True


@bp.post("/referral/<reference>/payments")
@roles(Role.MANAGER)
def record_payment(reference: str) -> Any:
    referral = _referral(reference)
    form = PaymentForm()
    if _nothing_owed(referral, form):
        return _page(referral, status=409, payment=form)
    if form.validate_on_submit():
        pence = pence_from_pounds(form.amount.data)
        try:
            with savepoint():
                if pence is None:
                    raise ValidationFailed({"amount": NOT_AN_AMOUNT})
                fees.record_payment(referral=referral, amount_pence=pence, method=form.method.data,
                                    reference=form.reference.data, actor=acting_user(), now=now_utc())
        except ValidationFailed as error:
            renamed = ValidationFailed({("amount" if k == "amount_pence" else k): m
                                        for k, m in error.errors.items()})
            attach_errors(form, renamed, fallback="amount")
            return _page(_referral(reference), status=422, payment=form)
        flash("Payment recorded", "success")
        return redirect(url_for("bookings.referral_booking", reference=referral.reference))
    if not form.amount.errors and "csrf_token" not in form.errors:
        # The form stopped at a missing method or a long reference: say what is wrong with the
        # amount too, so every problem is shown in one round.
        pence = pence_from_pounds(form.amount.data)
        problem = (NOT_AN_AMOUNT if pence is None else fees.payment_problems(
            referral=referral, amount_pence=pence, method=None, reference=None).get("amount_pence"))
        if problem:
            form.amount.errors = [*form.amount.errors, problem]
    return _page(referral, status=422, payment=form)


@bp.post("/referral/<reference>/waive")
@roles(Role.MANAGER)
def waive(reference: str) -> Any:
    """The reason from the booking page, then a check page (the fee, the reason, what follows);
    its "Waive fee" posts again with `confirmed=yes`, which waives it."""
    referral = _referral(reference)
    form = WaiveForm()
    if _nothing_owed(referral, form):
        return _page(referral, status=409, waive=form)
    if not form.validate_on_submit():
        return _page(referral, status=422, waive=form)
    if request.form.get("confirmed") != "yes":
        return render_template("bookings/waive_check.html", referral=referral, form=form,
                               fee=fees.fee_status(referral),
                               booking=queries.get_active_booking(referral), now=now_utc())
    try:
        with savepoint():
            fees.waive_fee(referral=referral, reason=form.reason.data, actor=acting_user(),
                           now=now_utc())
    except DomainError as error:
        _domain_error_on(form, "reason", error)
        return _page(_referral(reference), status=error.status, waive=form)
    flash("Fee waived", "success")
    return redirect(url_for("bookings.referral_booking", reference=referral.reference))


@bp.route("/referral/<reference>/waiver/reinstate", methods=["GET", "POST"])
@roles(Role.MANAGER)
def reinstate_fee(reference: str) -> Any:
    """GET: check before taking a waiver back (the fee is owed again); POST: take it back."""
    referral = _referral(reference)
    form = ConfirmForm()
    try:
        with savepoint():
            waiver = fees.check_reinstatement(referral=referral, actor=acting_user())
            if request.method == "POST" and form.validate_on_submit():
                owed = fees.reinstate_fee(referral=referral, actor=acting_user(), now=now_utc())
                flash(f"The fee has been reinstated: {format_pounds(owed)} is owed", "success")
                return redirect(url_for("bookings.referral_booking",
                                        reference=referral.reference))
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("bookings.referral_booking", reference=referral.reference))
    status = 400 if request.method == "POST" else 200
    if status == 400:
        form.form_errors.append("The form had expired: check and reinstate the fee again")
    return render_template("bookings/reinstate_check.html", referral=referral, waiver=waiver,
                           form=form, fee=fees.fee_status(referral),
                           booking=queries.get_active_booking(referral), now=now_utc()), status


# A session's waiting list (managers) ------------------------------------------------------

def _entry(session_id: int, entry_id: int) -> Any:
    try:
        return waiting_list.get_entry(session_id=session_id, entry_id=entry_id)
    except NotFound:
        abort(404)


@bp.post("/session/<int:session_id>/waiting-list/<int:entry_id>/promote")
@roles(Role.MANAGER)
def promote_from_waiting_list(session_id: int, entry_id: int) -> Any:
    """Book the person into a free place on the session; refused when it is full."""
    entry = _entry(session_id, entry_id)
    back = redirect(url_for("courses.show_session", session_id=session_id, _anchor="waiting-list"))
    if not ConfirmForm().validate_on_submit():
        abort(400)
    name = entry.referral.person.full_name
    try:
        with savepoint():
            places.promote_entry(entry=entry, actor=acting_user(), now=now_utc())
    except DomainError as error:
        flash(error.message, "error")
        return back
    flash(f"{name} is booked on this session and has been sent a confirmation", "success")
    return back


@bp.route("/session/<int:session_id>/waiting-list/<int:entry_id>/remove",
          methods=["GET", "POST"])
@roles(Role.MANAGER)
def remove_from_waiting_list(session_id: int, entry_id: int) -> Any:
    """Check, then take the person out of the session's line."""
    entry = _entry(session_id, entry_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        name = entry.referral.person.full_name
        waiting_list.remove_from_waiting_list(entry=entry, actor=acting_user(), now=now_utc())
        flash(f"{name} has been taken off the waiting list", "success")
        return redirect(url_for("courses.show_session", session_id=session_id,
                                _anchor="waiting-list"))
    read_referral_audited(reference=entry.referral.reference, actor=acting_user(), now=now_utc())
    return render_template("bookings/waiting_list_remove.html", entry=entry,
                           position=waiting_list.position_of(entry), form=form)


# Cancelling a whole session -------------------------------------------------------------

@bp.route("/session/<int:session_id>/cancel", methods=["GET", "POST"])
@roles(Role.MANAGER)
def cancel_session(session_id: int) -> Any:
    """Cancel a session in three steps: the reason and, for each person booked, rebook onto
    the next session or return; a check page saying what will happen; then the confirmation."""
    session = _session(session_id)
    if session is None:
        raise NotFound("No such session")
    form = CancelSessionForm()
    bookings = queries.list_session_bookings(session.id)
    people = ",".join(str(b.id) for b in sorted(bookings, key=lambda b: b.id))
    choices = {
        b.id: session_cancellation.AfterCancel.REBOOK
        if request.form.get(f"after-{b.id}", session_cancellation.AfterCancel.REBOOK.value)
        == session_cancellation.AfterCancel.REBOOK.value
        else session_cancellation.AfterCancel.RETURN
        for b in bookings
    }
    waiting = waiting_list.waiting_counts([session.id]).get(session.id, 0)
    action = request.form.get("action", "check")
    status = 200
    if bookings:
        record(action="session.view_people", category=AuditCategory.CONSULTATION, now=now_utc(),
               actor=acting_user(), object_type="session", object_id=session.id,
               details={"people": len(bookings), "waiting": waiting})
    if (session.status is SessionStatus.SCHEDULED and request.method == "POST"
            and action != "change"):
        if not form.validate_on_submit():
            status = 422
        elif action == "confirm" and request.form.get("people", "") != people:
            form.form_errors.append("The people booked on this session have changed since you "
                                    "checked: nothing was cancelled. Check again")
            status = 409
            action = "check"
        elif action == "confirm":
            try:
                with savepoint():
                    outcomes = session_cancellation.cancel_session_with_bookings(
                        session=session, reason=form.reason.data or "", choices=choices,
                        actor=acting_user(), now=now_utc())
            except ValidationFailed as error:
                attach_errors(form, error, fallback="reason")
                session = _session(session_id)
                status = 422
            else:
                rebooked = sum(1 for o in outcomes if o.rebooked_on is not None)
                return render_template("bookings/session_cancelled.html", session=session,
                                       outcomes=outcomes, rebooked=rebooked, waiting=waiting)
        if status == 200 or status == 409:
            return render_template("bookings/session_cancel_check.html", session=session,
                                   form=form, bookings=bookings, choices=choices,
                                   waiting=waiting, people=people,
                                   AfterCancel=session_cancellation.AfterCancel), status
    return render_template("bookings/session_cancel.html", session=session, form=form,
                           bookings=bookings, choices=choices, waiting=waiting,
                           AfterCancel=session_cancellation.AfterCancel), status


@bp.route("/session/<int:session_id>/cancel-series", methods=["GET", "POST"])
@roles(Role.MANAGER)
def cancel_series(session_id: int) -> Any:
    """Cancel this session and the later ones of its series: the reason, a check page, then
    the confirmation. Everyone booked is returned to awaiting booking and told."""
    first = _session(session_id)
    if first is None or first.series_key is None:
        raise NotFound("This session is not part of a series")
    sessions = courses_sessions.list_series_sessions(series_key=first.series_key,
                                                     starts_from=first.starts_at)
    ids = [s.id for s in sessions]
    bookings = {s.id: queries.list_session_bookings(s.id) for s in sessions}
    waiting = waiting_list.waiting_counts(ids)
    booked = sum(len(b) for b in bookings.values())
    checked = ";".join(f"{sid}:" + ",".join(str(b.id) for b in sorted(bookings[sid],
                                                                       key=lambda b: b.id))
                       for sid in ids)
    form = CancelSessionForm()
    action = request.form.get("action", "check")
    status = 200
    page = "bookings/series_cancel.html"
    if request.method == "POST" and action != "change" and sessions:
        if not form.validate_on_submit():
            status = 422
        elif action == "confirm" and request.form.get("checked", "") != checked:
            form.form_errors.append("The sessions or the people booked have changed since you "
                                    "checked: nothing was cancelled. Check again")
            status, page = 409, "bookings/series_cancel_check.html"
        elif action == "confirm":
            outcomes = session_cancellation.cancel_series(
                sessions=sessions, reason=form.reason.data or "", actor=acting_user(),
                now=now_utc())
            return render_template("bookings/series_cancelled.html", sessions=sessions,
                                   outcomes=outcomes, waiting=sum(waiting.values()))
        else:
            page = "bookings/series_cancel_check.html"
    if booked:
        record(action="session.view_people", category=AuditCategory.CONSULTATION, now=now_utc(),
               actor=acting_user(), object_type="session", object_id=first.id,
               details={"people": booked, "waiting": sum(waiting.values()), "series": True})
    return render_template(page, first=first, sessions=sessions, form=form, bookings=bookings,
                           booked=booked, waiting=waiting, checked=checked), status


# Auto-allocation --------------------------------------------------------------------------

def _allocation_preview(*, status: int = 200, problem: str | None = None) -> Any:
    with discarded():
        result = allocation.allocate(actor=acting_user(), now=now_utc(), dry_run=True)
    # The preview names everyone who would be booked or could not be: who saw it is audited.
    record(action="booking.allocate_preview", category=AuditCategory.CONSULTATION,
           now=now_utc(), actor=acting_user(),
           details={"placed": len(result.placed), "unplaced": len(result.unplaced),
                    "moved_from_waiting_lists": len(result.moved),
                    **shown_details([r.id for r, _ in result.placed]
                                    + [r.id for r, _ in result.unplaced])})
    return render_template("bookings/allocate.html", result=result, form=ConfirmForm(),
                           problem=problem, shown=ALLOCATION_SHOWN), status


ALLOCATION_SHOWN = 500  # rows of each table on the page; a larger run is confirmed as a whole


@bp.route("/allocate", methods=["GET", "POST"])
@roles(Role.MANAGER)
def allocate() -> Any:
    """GET checks (a dry run listing everyone); POST books the people ticked, if the plan is
    still the one shown, and shows who was booked and who left a waiting list."""
    form = ConfirmForm()
    if request.method != "POST":
        return _allocation_preview()
    if not form.validate_on_submit():
        return _allocation_preview(status=400, problem="The form had expired: check the list "
                                                       "and confirm again")
    chosen = {parsing.query_int(value) for value in request.form.getlist("referral")}
    selected = {value for value in chosen if value is not None}
    if request.form.get("all") == "1":
        selected_or_all: set[int] | None = None
    else:
        selected_or_all = selected
        if not selected:
            return _allocation_preview(status=422, problem="Select at least one person to book")
    try:
        with savepoint():
            result = allocation.allocate(actor=acting_user(), now=now_utc(),
                                         expected=request.form.get("fingerprint", ""),
                                         selected=selected_or_all)
    except allocation.StalePreview as error:
        return _allocation_preview(status=409, problem=error.message)
    return render_template("bookings/allocated.html", result=result, shown=ALLOCATION_SHOWN)


def _outstanding_filters() -> tuple[outstanding.Filters, dict[str, str]]:
    """The list's filters and an error per field that could not be read; a force, programme
    or course state that is not offered is named (and left out), never silently ignored."""
    filters, errors = outstanding.Filters.from_args(request.args)
    offered = {
        "force": ("police force", {str(f.id) for f in referral_queries.list_forces()}),
        "programme": ("programme", {str(p.id) for p in programme_services.list_programmes()}),
        "state": ("course", set(outstanding.STATES))}
    left_out: dict[str, None] = {}
    for name, (what, values) in offered.items():
        value = request.args.get(name) or ""
        if value and value not in values:
            errors[name] = f"Choose the {what} from the list"
            left_out[{"force": "force_id", "programme": "programme_id"}.get(name, name)] = None
    return dataclasses.replace(filters, **left_out), errors


@fees_bp.get("/outstanding")
@roles(Role.MANAGER)
def outstanding_list() -> Any:
    """Everyone booked, or attended, whose fee is still owed: soonest session first."""
    filters, errors = _outstanding_filters()
    try:
        page = outstanding.outstanding_page(filters=filters, now=now_utc(),
                                            after=request.args.get("after"))
    except outstanding.InvalidCursor:
        abort(404)
    outstanding.record_read(filters=filters, shown=[row.referral_id for row in page.rows],
                            actor=acting_user(), now=now_utc())
    args = {key: value for key, value in request.args.items() if key != "after"}
    count = (len(page.rows) if not page.next_cursor and "after" not in request.args
             else outstanding.count_outstanding(now=now_utc(), filters=filters))
    return render_template("bookings/fees_outstanding.html", page=page, filters=filters,
                           count=count, filtered=any(args.values()),
                           errors=errors, args=args, forces=referral_queries.list_forces(),
                           programmes=programme_services.list_programmes(),
                           later_page="after" in request.args), 400 if errors else 200


@fees_bp.get("/outstanding.csv")
@roles(Role.MANAGER)
def outstanding_csv() -> Any:
    """The same list with the same filters, as CSV (docs/DESIGN.md, "CSV: fees outstanding")."""
    filters, errors = _outstanding_filters()
    if errors:
        return listing.back_to_list("fees.outstanding_list")
    outstanding.record_export(filters=filters, actor=acting_user(), now=now_utc())
    document = "".join(outstanding.csv_lines(outstanding.outstanding_rows(filters=filters,
                                                                          now=now_utc())))
    return Response(document.encode("utf-8"), content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="fees-outstanding.csv"',
        "Cache-Control": "no-store"})


def _payment_filters() -> tuple[PaymentFilterForm, payments_list.PaymentFilters, bool]:
    form = PaymentFilterForm(request.args)
    form.force.choices = [SelectChoice("", "All forces")] + [
        SelectChoice(str(fid), name) for fid, name in referral_queries.force_names()]
    if not form.validate():
        return form, payments_list.PaymentFilters(), False
    return form, payments_list.PaymentFilters(
        search=(form.q.data or "").strip(),
        method=PaymentMethod(form.method.data) if form.method.data else None,
        force_id=parsing.query_int(form.force.data),
        date_from=form.date_from.data, date_to=form.date_to.data), True


@fees_bp.get("/payments")
@roles(Role.MANAGER)
def payments() -> Any:
    """Every payment recorded, filtered, a page at a time, named by person and reference."""
    form, filters, valid = _payment_filters()
    shown = listing.listed(
        payments_list.filtered_payments(filters, today=london_today(now_utc())),
        sorts=payments_list.SORTS, default_sort="newest", endpoint="fees.payments",
        csv_endpoint="fees.payments_csv",
        rows=lambda items: [payments_list.PaymentRow.of(row) for row in items])
    form.sort.data = shown.ordering.key
    record(action="payments.view", category=AuditCategory.CONSULTATION, now=now_utc(),
           actor=acting_user(), details=shown_details(
               (item.payment.referral_id for item in shown.page.items),
               filters=filters.for_audit()))
    return render_template(
        "bookings/payments.html", page=shown.page, form=form, ordering=shown.ordering,
        sort_href=shown.sort_href, filtered=not filters.is_empty, csv_href=shown.csv_href,
    ), 200 if valid else 400


@fees_bp.get("/payments.csv")
@roles(Role.MANAGER)
def payments_csv() -> Any:
    """The filtered payments, in the page's order, as CSV; the download is audited."""
    _, filters, valid = _payment_filters()
    if not valid:
        return listing.back_to_list("fees.payments")
    ordering = paging.Ordering.from_args(request.args, payments_list.SORTS, "newest")
    query = payments_list.filtered_payments(filters, today=london_today(now_utc())).order_by(
        *(c.desc() if ordering.descending else c.asc() for c in ordering.sort.columns))
    rows, referral_ids = [], []
    for row in db.session.execute(query):
        item = payments_list.PaymentRow.of(row)
        p = item.payment
        referral_ids.append(p.referral_id)
        rows.append((p.id, listing.london(p.recorded_at), item.name, item.reference,
                     item.force_code, Decimal(p.amount_pence) / 100,
                     Decimal(p.refunded_pence) / 100, p.method.label, p.reference or "",
                     item.recorded_by))
    record(action="payments.export", category=AuditCategory.DISCLOSURE, now=now_utc(),
           actor=acting_user(), details=shown_details(referral_ids, filters=filters.for_audit()))
    return listing.csv_download("payments.csv", payments_list.CSV_HEADER, rows)


def fees_panel(user: Any, now: dt.datetime) -> Panel:
    """The fees outstanding list cut in its two states: each line is that list's own filter,
    both counted in one query over the active bookings."""
    counts, counted_at = counted_recently(
        "fees", lambda: outstanding.count_by_state(now=now), now=now)
    lines = [Line(label, counts[state], "fees.outstanding_list", {"state": state})
             for label, state in (("Attended, fee outstanding", outstanding.ATTENDED),
                                  ("Booked on a course to come, fee not yet paid",
                                   outstanding.BOOKED))]
    description = None
    if counted_at < now:
        description = (f"Counted at {format_london(counted_at, '%-I:%M%p').lower()}: "
                       "these counts are at most a minute old.")
    return Panel("Fees outstanding", lines, description=description)
