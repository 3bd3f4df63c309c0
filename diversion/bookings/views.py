"""Managers' pages: a referral's booking and fee, cancelling a session with its bookings,
and the auto-allocation button."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from wtforms.fields.choices import SelectChoice

from diversion.auth.access import acting_user, roles
from diversion.auth.models import Role
from diversion.bookings import (
    allocation,
    fees,
    outstanding,
    places,
    queries,
    session_cancellation,
    waiting_list,
)
from diversion.bookings.forms import (
    CancelBookingForm,
    CancelSessionForm,
    ChooseSessionForm,
    ConfirmForm,
    PaymentForm,
    WaiveForm,
    pence_from_pounds,
)
from diversion.bookings.models import Booking
from diversion.core.dashboard import Panel
from diversion.core.errors import DomainError, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.forms import attach_errors
from diversion.core.timeutils import now_utc
from diversion.core.transactions import discarded, savepoint
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


@bp.app_template_global()
def session_bookings(session_id: int) -> list[Booking]:
    """Active bookings on a session, for the session page."""
    return queries.list_session_bookings(session_id)


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
    """True, with the reason at the top of the page, when the fee is already paid or waived (the
    page then shows no payment or waiver form to put a field's error beside)."""
    if fees.fee_status(referral).balance_pence > 0:
        return False
    form.form_errors.append("Nothing is owed: the fee has already been paid or waived")
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
                    raise ValidationFailed({"amount": "Enter an amount in pounds, like 110 or 55.50"})
                fees.record_payment(referral=referral, amount_pence=pence, method=form.method.data,
                                    reference=form.reference.data, actor=acting_user(), now=now_utc())
        except ValidationFailed as error:
            renamed = ValidationFailed({("amount" if k == "amount_pence" else k): m
                                        for k, m in error.errors.items()})
            attach_errors(form, renamed, fallback="amount")
            return _page(_referral(reference), status=422, payment=form)
        flash("Payment recorded", "success")
        return redirect(url_for("bookings.referral_booking", reference=referral.reference))
    return _page(referral, status=422, payment=form)


@bp.post("/referral/<reference>/waive")
@roles(Role.MANAGER)
def waive(reference: str) -> Any:
    referral = _referral(reference)
    form = WaiveForm()
    if _nothing_owed(referral, form):
        return _page(referral, status=409, waive=form)
    if form.validate_on_submit():
        try:
            with savepoint():
                fees.waive_fee(referral=referral, reason=form.reason.data, actor=acting_user(),
                               now=now_utc())
        except DomainError as error:
            _domain_error_on(form, "reason", error)
            return _page(_referral(reference), status=error.status, waive=form)
        flash("Fee waived", "success")
        return redirect(url_for("bookings.referral_booking", reference=referral.reference))
    return _page(referral, status=422, waive=form)


# Cancelling a whole session -------------------------------------------------------------

@bp.route("/session/<int:session_id>/cancel", methods=["GET", "POST"])
@roles(Role.MANAGER)
def cancel_session(session_id: int) -> Any:
    """Cancel a session; for each person booked, rebook onto the next session or return."""
    session = _session(session_id)
    if session is None:
        raise NotFound("No such session")
    form = CancelSessionForm()
    bookings = queries.list_session_bookings(session.id)
    if session.status is SessionStatus.SCHEDULED and form.validate_on_submit():
        choices = {
            b.id: session_cancellation.AfterCancel.REBOOK
            if request.form.get(f"after-{b.id}") == session_cancellation.AfterCancel.REBOOK.value
            else session_cancellation.AfterCancel.RETURN
            for b in bookings
        }
        try:
            with savepoint():
                outcomes = session_cancellation.cancel_session_with_bookings(
                    session=session, reason=form.reason.data or "", choices=choices,
                    actor=acting_user(), now=now_utc())
        except ValidationFailed as error:
            attach_errors(form, error, fallback="reason")
            session = _session(session_id)
        else:
            rebooked = sum(1 for o in outcomes if o.rebooked_on is not None)
            flash(f"Session cancelled. {rebooked} rebooked, {len(outcomes) - rebooked} returned "
                  "to awaiting booking; each person has been told", "success")
            return redirect(url_for("courses.show_session", session_id=session_id))
    return render_template("bookings/session_cancel.html", session=session, form=form,
                           bookings=bookings, AfterCancel=session_cancellation.AfterCancel)


# Auto-allocation --------------------------------------------------------------------------

@bp.route("/allocate", methods=["GET", "POST"])
@roles(Role.MANAGER)
def allocate() -> Any:
    """GET previews (a dry run); POST books everyone who can be placed."""
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        result = allocation.allocate(actor=acting_user(), now=now_utc())
        flash(f"Placed {len(result.placed)}; {len(result.unplaced)} could not be placed",
              "success")
    else:
        with discarded():
            result = allocation.allocate(actor=acting_user(), now=now_utc(), dry_run=True)
    return render_template("bookings/allocate.html", result=result, form=form)


def _outstanding_filters() -> tuple[outstanding.Filters, dict[str, str]]:
    return outstanding.Filters.from_args(request.args)


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
    outstanding.record_read(filters=filters, shown=len(page.rows), actor=acting_user(),
                            now=now_utc())
    args = {key: value for key, value in request.args.items() if key != "after"}
    return render_template("bookings/fees_outstanding.html", page=page, filters=filters,
                           errors=errors, args=args, forces=referral_queries.list_forces(),
                           programmes=programme_services.list_programmes(),
                           later_page="after" in request.args)


@fees_bp.get("/outstanding.csv")
@roles(Role.MANAGER)
def outstanding_csv() -> Any:
    """The same list with the same filters, as CSV (docs/DESIGN.md, "CSV: fees outstanding")."""
    filters, _ = _outstanding_filters()
    outstanding.record_export(filters=filters, actor=acting_user(), now=now_utc())
    document = "".join(outstanding.csv_lines(outstanding.outstanding_rows(filters=filters,
                                                                          now=now_utc())))
    return Response(document.encode("utf-8"), content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="fees-outstanding.csv"',
        "Cache-Control": "no-store"})


def fees_panel(user: Any, now: dt.datetime) -> Panel:
    return Panel("Fees", [("Fees outstanding", outstanding.count_outstanding(now=now),
                           "fees.outstanding_list")])
