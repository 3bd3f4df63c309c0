"""Pages for venues, sessions, the month calendar, facilitators' sessions and calendar feeds."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from wtforms import Field
from wtforms.fields.choices import SelectChoice

from diversion.audit.models import AuditCategory
from diversion.audit.services import record, shown_details
from diversion.auth import shown_once
from diversion.auth.access import acting_user, public, roles
from diversion.auth.models import Role, User
from diversion.core import parsing
from diversion.core.dashboard import Line, Panel
from diversion.core.errors import Conflict, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.forms import attach_errors
from diversion.core.links import external_url
from diversion.core.timeutils import london_midnight_in_utc, london_today, now_utc, to_london
from diversion.core.transactions import savepoint
from diversion.courses import facilitators as courses_facilitators
from diversion.courses import feeds as courses_feeds
from diversion.courses import planning
from diversion.courses import sessions as courses_sessions
from diversion.courses import venues as courses_venues
from diversion.courses.forms import (
    FOLDS,
    FREQUENCIES,
    ConfirmForm,
    SessionEditForm,
    SessionFilterForm,
    SessionForm,
    VenueForm,
)
from diversion.courses.ical import CalendarEvent, build_calendar, session_uid
from diversion.courses.models import CourseSession, SessionStatus, Venue
from diversion.courses.rules import Frequency
from diversion.programmes import services as programme_services

bp = Blueprint("courses", __name__)
PAGE_SIZE = 50


# Venues -------------------------------------------------------------------------------------

def _venue_details(form: VenueForm) -> courses_venues.VenueDetails:
    return courses_venues.VenueDetails(
        name=form.name.data or "", capacity=form.capacity.data,
        address_line_1=form.address_line_1.data or "", address_line_2=form.address_line_2.data or "",
        town=form.town.data or "", postcode=form.postcode.data or "",
        step_free_access=bool(form.step_free_access.data), notes=form.notes.data or "",
        is_online=form.is_online.data == "yes", joining_link=form.joining_link.data or "")


def _venue_or_404(venue_id: int) -> Venue:
    try:
        return courses_venues.get_venue(venue_id)
    except NotFound:
        abort(404)


@bp.get("/venues")
@roles(Role.MANAGER)
def list_venues() -> Any:
    return render_template("courses/venues.html", venues=courses_venues.list_venues())


@bp.route("/venues/new", methods=["GET", "POST"])
@roles(Role.MANAGER)
def create_venue() -> Any:
    form = VenueForm()
    if form.validate_on_submit():
        try:
            with savepoint():
                venue = courses_venues.create_venue(details=_venue_details(form), actor=acting_user(),
                                              now=now_utc())
        except ValidationFailed as error:
            attach_errors(form, error)
        else:
            flash(f"{venue.name} added", "success")
            return redirect(url_for("courses.list_venues"))
    return render_template("courses/venue_form.html", form=form, venue=None)


@bp.route("/venues/<int:venue_id>", methods=["GET", "POST"])
@roles(Role.MANAGER)
def edit_venue(venue_id: int) -> Any:
    venue = _venue_or_404(venue_id)
    form = VenueForm(obj=None if request.method == "POST" else venue)
    if request.method == "GET":
        form.is_online.data = "yes" if venue.is_online else "no"
    if form.validate_on_submit():
        try:
            with savepoint():
                courses_venues.update_venue(venue=venue, details=_venue_details(form), actor=acting_user(),
                                      now=now_utc())
        except ValidationFailed as error:
            venue = _venue_or_404(venue_id)
            attach_errors(form, error)
        else:
            flash(f"Changes to {venue.name} saved", "success")
            return redirect(url_for("courses.list_venues"))
    return render_template("courses/venue_form.html", form=form, venue=venue)


# Sessions: create, change, cancel -----------------------------------------------------------

def _venue_choices() -> list[SelectChoice]:
    return [SelectChoice("", "Select a venue")] + [
        SelectChoice(str(v.id), f"{v.name} ({v.place}, {v.capacity} places)")
        for v in courses_venues.list_venues()]


def _programme_choices() -> list[SelectChoice]:
    return [SelectChoice(str(pid), name) for pid, name in programme_services.programme_names()]


def _facilitator_choices() -> list[SelectChoice]:
    return [SelectChoice(u.id, u.name) for u in courses_facilitators.list_facilitators()]


def _session_or_404(session_id: int) -> CourseSession:
    try:
        session = courses_sessions.get_session(session_id)
    except NotFound:
        abort(404)
    user = acting_user()
    # A facilitator sees only the sessions they run; others do not exist for them.
    if user.role is Role.FACILITATOR and not courses_facilitators.is_facilitating(session, user):
        abort(404)
    return session


def _clash_messages(error: Conflict) -> list[str]:
    return [c["message"] for c in error.extra.get("clashes", [])] or [error.message]


def _form_status(form: SessionForm | SessionEditForm, clashes: list[str]) -> int:
    """409 for clashes, 422 for a form refused (or a time to be made clear), else 200."""
    if clashes:
        return 409
    return 422 if request.method == "POST" and form.errors else 200


def _folds(form: SessionForm | SessionEditForm) -> dict[str, int | None]:
    """The answers to "which 01:30 do you mean?", as datetime folds (None when not asked)."""
    return {"start_fold": FOLDS.get(form.start_fold.data or ""),
            "end_fold": FOLDS.get(form.end_fold.data or "")}


def _which_time(form: SessionForm | SessionEditForm,
                ambiguous: dict[str, tuple[dt.date, dt.time]] | None = None) -> list[str]:
    """Name the choices of the fold questions to ask: those of times found ambiguous now,
    and those already answered (kept while other errors are put right). Returns their names."""
    asked = []
    for name, field in (("start_time", form.start_fold), ("end_time", form.end_fold)):
        found = (ambiguous or {}).get(name)
        time_field = getattr(form, name)
        if found is None and not field.data:
            continue
        wall = f"{found[1]:%H:%M}" if found else (
            f"{time_field.time:%H:%M}" if time_field.time else time_field.data)
        field.label.text = f"Which {wall} do you mean?"
        field.choices = [SelectChoice("first", f"{wall} BST (first)"),
                         SelectChoice("second", f"{wall} GMT (second)")]
        if found:
            field.description = (f"The clocks go back at 02:00 on {found[0]:%-d %B %Y}, so "
                                  f"{wall} happens twice that night")
            field.errors = [f"{wall} happens twice on {found[0]:%-d %B %Y}: "
                            f"choose which {wall} you mean"]
        asked.append(field.name)
    return asked


@bp.route("/sessions/new", methods=["GET", "POST"])
@roles(Role.MANAGER)
def create_sessions() -> Any:
    form = SessionForm()
    form.programme.choices = _programme_choices()
    form.venue.choices = _venue_choices()
    form.facilitators.choices = _facilitator_choices()
    clashes: list[str] = []
    ask: list[str] = []
    action = request.form.get("action", "")
    if action != "change" and form.validate_on_submit():
        programme = programme_services.get_programme(int(form.programme.data or 0))
        venue = db.session.get(Venue, int(form.venue.data or 0))
        frequency = Frequency(form.frequency.data)
        is_series = frequency is not Frequency.ONCE
        assert venue is not None
        assert form.first_day.data and form.start_time.time and form.end_time.time
        plan: dict[str, Any] = dict(
            venue=venue, first_day=form.first_day.data,
            start_time=form.start_time.time, end_time=form.end_time.time,
            capacity=form.capacity.data,
            facilitators=courses_facilitators.facilitators_by_id(form.facilitators.data or []),
            frequency=frequency,
            until=form.until.data if is_series and form.ends.data == "until" else None,
            count=form.count.data if is_series and form.ends.data == "count" else None,
            now=now_utc(), **_folds(form))
        try:
            with savepoint():
                if is_series and action != "create":
                    preview = planning.preview_sessions(**plan)
                else:
                    created = planning.create_sessions(programme=programme, actor=acting_user(),
                                                       **plan)
        except planning.AmbiguousTimes as error:
            ask = _which_time(form, error.ambiguous)
        except ValidationFailed as error:
            attach_errors(form, error)
        except Conflict as error:
            clashes = _clash_messages(error)
        else:
            if is_series and action != "create":
                fields = [(k, v) for k, values in request.form.lists() for v in values
                          if k not in {"csrf_token", "action"}]
                return render_template("courses/series_preview.html", form=form,
                                       preview=preview, programme=programme, venue=venue,
                                       fields=fields, facilitators=plan["facilitators"],
                                       frequency_label=dict(
                                           (c.value, c.label) for c in FREQUENCIES
                                       ).get(frequency.value, frequency.value))
            count = len(created.sessions)
            message = f"{count} session{'s' if count != 1 else ''} created"
            if created.skipped:
                message += ". Skipped bank holidays: " + ", ".join(
                    f"{day:%-d %B %Y} ({name})" for day, name in created.skipped)
            flash(message, "success")
            return redirect(url_for("courses.list_sessions"))
    return render_template("courses/session_form.html", form=form, clashes=clashes,
                           session=None, ask=ask or _which_time(form)), _form_status(form, clashes)


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@roles(Role.MANAGER)
def edit_session(session_id: int) -> Any:
    session = _session_or_404(session_id)
    if session.status is not SessionStatus.SCHEDULED:
        flash(f"This session is {session.status.value} and cannot be changed", "error")
        return redirect(url_for("courses.show_session", session_id=session.id))
    form = SessionEditForm()
    form.venue.choices = _venue_choices()
    form.facilitators.choices = _facilitator_choices()
    if request.method == "GET":
        starts, ends = to_london(session.starts_at), to_london(session.ends_at)
        form.venue.data = str(session.venue_id)
        form.first_day.process(None, starts.date())
        form.start_time.data = f"{starts:%H:%M}"
        form.end_time.data = f"{ends:%H:%M}"
        form.capacity.data = session.capacity
        form.facilitators.data = [u.id for u in session.facilitators]
    clashes: list[str] = []
    ask: list[str] = []
    if form.validate_on_submit():
        venue = db.session.get(Venue, int(form.venue.data or 0))
        assert venue is not None
        assert form.first_day.data and form.start_time.time and form.end_time.time
        try:
            with savepoint():
                planning.update_session(
                    session=session, venue=venue, day=form.first_day.data,
                    start_time=form.start_time.time, end_time=form.end_time.time,
                    capacity=form.capacity.data,
                    facilitators=courses_facilitators.facilitators_by_id(form.facilitators.data or []),
                    actor=acting_user(), now=now_utc(), **_folds(form))
        except planning.AmbiguousTimes as error:
            session = _session_or_404(session_id)
            ask = _which_time(form, error.ambiguous)
        except ValidationFailed as error:
            session = _session_or_404(session_id)
            attach_errors(form, error)
        except Conflict as error:
            session = _session_or_404(session_id)
            clashes = _clash_messages(error)
        else:
            flash("Session changed", "success")
            return redirect(url_for("courses.show_session", session_id=session.id))
    return render_template("courses/session_form.html", form=form, clashes=clashes,
                           session=session, ask=ask or _which_time(form)), _form_status(form,
                                                                                  clashes)


@bp.route("/sessions/<int:session_id>/cancel", methods=["GET", "POST"])
@roles(Role.MANAGER)
def cancel_session(session_id: int) -> Any:
    """The old address: cancelling is done in one place, where the people booked are dealt with
    (rebooked or returned, and told). Nothing is cancelled here, whatever the method."""
    _session_or_404(session_id)
    return redirect(url_for("bookings.cancel_session", session_id=session_id),
                    code=303 if request.method == "POST" else 301)


@bp.get("/sessions/<int:session_id>")
@roles(Role.MANAGER, Role.FACILITATOR)
def show_session(session_id: int) -> Any:
    session = _session_or_404(session_id)
    booked = courses_sessions.booked_counts([session.id]).get(session.id, 0)
    # Managers also see the waiting list (facilitators see the people booked, nothing else).
    waiting = (courses_sessions.waiting_counts([session.id]).get(session.id, 0)
               if acting_user().role is Role.MANAGER else 0)
    if booked or waiting:
        # The page lists the names and needs of the people booked and waiting: who saw them
        # is audited.
        shown = courses_sessions.people_shown(session.id,
                                              with_waiting=acting_user().role is Role.MANAGER)
        record(action="session.view_people", category=AuditCategory.CONSULTATION, now=now_utc(),
               actor=acting_user(), object_type="session", object_id=session.id,
               details={"people": booked, "waiting": waiting, **shown_details(shown)})
    return render_template("courses/session.html", session=session,
                           row=courses_sessions.SessionRow(session, booked, waiting),
                           confirm=ConfirmForm())


# Sessions: list and calendar ----------------------------------------------------------------

FULL_WITH_QUEUE = "queue"  # ?queue=1: full sessions with a waiting list


@bp.get("/sessions")
@roles(Role.MANAGER)
def list_sessions() -> Any:
    form = SessionFilterForm(request.args)
    form.venue.choices = [SelectChoice("", "Any")] + [SelectChoice(str(v.id), v.name)
                                                      for v in courses_venues.list_venues()]
    form.programme.choices = [SelectChoice("", "Any"), *_programme_choices()]
    today = london_today(now_utc())
    has_filter = any(f"from_day-{p}" in request.args for p in ("day", "month", "year"))
    if not has_filter:
        form.from_day.process(None, today)
    # Every problem is named in the error summary (400); a field in error is left out (a
    # "from" in error: from today, the page's default), the others apply, as on the referrals
    # list.
    valid = form.validate()

    def ok(field: Field) -> Any:
        return field.data if not field.errors else None

    status = ok(form.status)
    where = courses_sessions.SessionFilter(
        from_day=form.from_day.data if has_filter and not form.from_day.errors else today,
        to_day=ok(form.to_day),
        venue_id=parsing.query_int(ok(form.venue)),
        programme_id=parsing.query_int(ok(form.programme)),
        status=SessionStatus(status) if status else None,
        full_with_queue=request.args.get(FULL_WITH_QUEUE) == "1")
    page = courses_sessions.list_sessions(where=where, page=parsing.query_page(request.args.get("page")),
                                          per_page=PAGE_SIZE, with_waiting=True)
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("courses/sessions.html", form=form, page=page, args=args,
                           full_with_queue=where.full_with_queue), 200 if valid else 400


def _month_arg(today: dt.date) -> dt.date:
    try:
        year, month = parsing.parse_month(request.args.get("month", ""))
    except parsing.ParseError:
        return today.replace(day=1)
    return dt.date(year, month, 1)


def _month_weeks(first: dt.date, rows: list[courses_sessions.SessionRow]) -> list[list[dict[str, Any]]]:
    by_day: dict[dt.date, list[courses_sessions.SessionRow]] = {}
    for row in rows:
        by_day.setdefault(to_london(row.session.starts_at).date(), []).append(row)
    return [[{"date": day, "in_month": day.month == first.month, "rows": by_day.get(day, [])}
             for day in week]
            for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year,
                                                                            first.month)]


def _render_calendar(facilitator_id: int | None, endpoint: str) -> Any:
    today = london_today(now_utc())
    first = _month_arg(today)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    rows = courses_sessions.sessions_between(start=london_midnight_in_utc(first),
                                             end=london_midnight_in_utc(following),
                                             facilitator_id=facilitator_id,
                                             with_waiting=facilitator_id is None)
    return render_template("courses/calendar.html", month=first, today=today,
                           weeks=_month_weeks(first, rows), count=len(rows), endpoint=endpoint,
                           previous=previous, following=following)


@bp.get("/sessions/calendar")
@roles(Role.MANAGER)
def calendar_month() -> Any:
    return _render_calendar(None, "courses.calendar_month")


# Facilitators -------------------------------------------------------------------------------

NEW_FEED = "calendar_feed"  # what shown_once holds a new address's token as


@bp.get("/my-sessions")
@roles(Role.FACILITATOR)
def my_sessions() -> Any:
    user = acting_user()
    page = courses_sessions.list_sessions(
        where=courses_sessions.SessionFilter(starts_from=now_utc(), facilitator_id=user.id),
        page=parsing.query_page(request.args.get("page")), per_page=PAGE_SIZE)
    # ?feed=new: the page a new address was made for shows it once (see reset_calendar_feed).
    just_made = request.args.get("feed") == "new"
    token = shown_once.take(NEW_FEED, user=user) if just_made else None
    return render_template("courses/my_sessions.html", page=page,
                           has_feed=courses_feeds.get_calendar_feed(user) is not None,
                           confirm=ConfirmForm(),
                           new_feed_url=token and external_url("courses.calendar_feed",
                                                               token=token),
                           feed_gone=just_made and token is None)


@bp.get("/my-sessions/calendar")
@roles(Role.FACILITATOR)
def my_calendar() -> Any:
    return _render_calendar(acting_user().id, "courses.my_calendar")


@bp.route("/my-sessions/calendar-feed", methods=["GET", "POST"])
@roles(Role.FACILITATOR)
def reset_calendar_feed() -> Any:
    """GET: the check page before a new address replaces one (the old one stops working);
    POST: make the address."""
    form = ConfirmForm()
    user = acting_user()
    if request.method == "GET":
        if courses_feeds.get_calendar_feed(user) is None:
            return redirect(url_for("courses.my_sessions"))
        return render_template("courses/calendar_feed_reset.html", confirm=form)
    if not form.validate_on_submit():
        abort(400)
    token = courses_feeds.reset_calendar_feed(user=user, actor=user, now=now_utc())
    # Post/redirect/get: the next page shows the address once (the database keeps a digest),
    # and reloading it makes no other.
    shown_once.hold(NEW_FEED, token, user=user)
    return redirect(url_for("courses.my_sessions", feed="new", _anchor="calendar-feed"))


@bp.get("/calendar/<token>.ics")
@public
def calendar_feed(token: str) -> Any:
    """A facilitator's sessions for calendar apps; the secret address is the credential."""
    now = now_utc()
    user = courses_feeds.user_for_calendar_token(token, now=now)
    if user is None:
        abort(404)
    events = [
        CalendarEvent(
            uid=session_uid(s.id), starts_at=s.starts_at, ends_at=s.ends_at,
            summary=f"{s.programme.name} (facilitating)",
            location="Online" if s.venue.is_online else ", ".join(
                part for part in (s.venue.name, s.venue.address_line_1, s.venue.town,
                                  s.venue.postcode) if part),
            description=external_url("courses.show_session", session_id=s.id),
            is_cancelled=s.status is SessionStatus.CANCELLED,
        )
        for s in courses_feeds.feed_sessions(user=user, now=now)
    ]
    body = build_calendar(events, now=now, name="Diversion: my sessions")
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Disposition": 'inline; filename="sessions.ics"'})


# Dashboard panels ---------------------------------------------------------------------------

def facilitator_panel(user: User, now: dt.datetime) -> Panel:
    upcoming = courses_sessions.count_sessions_query(where=courses_sessions.SessionFilter(
        starts_from=now, facilitator_id=user.id, status=SessionStatus.SCHEDULED))
    return Panel("Sessions", [Line("Upcoming sessions you run", upcoming, "courses.my_sessions",
                                   none_text="None")], summary=True)


def manager_panel(user: User, now: dt.datetime) -> Panel:
    """Full sessions with people waiting: a place to add, or a session to open beside it. The
    count is the sessions list's own filter (from today, as the list starts)."""
    full = courses_sessions.count_sessions_query(where=courses_sessions.SessionFilter(
        from_day=london_today(now), full_with_queue=True))
    return Panel("Sessions", [Line("Full sessions with a waiting list", full,
                                   "courses.list_sessions", {FULL_WITH_QUEUE: "1"})])


def manager_summary_panel(user: User, now: dt.datetime) -> Panel:
    first = london_today(now).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    this_month = courses_sessions.count_sessions_query(where=courses_sessions.SessionFilter(
        starts_from=london_midnight_in_utc(first),
        starts_before=london_midnight_in_utc(following), status=SessionStatus.SCHEDULED))
    return Panel("Sessions this month", [Line("Sessions this month", this_month,
                                              "courses.calendar_month", none_text="None")],
                 summary=True)
