"""Administration: users, forces, API tokens and the audit log."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from diversion.admin import audit_log as audit_list
from diversion.admin.forms import (
    AuditFilterForm,
    ConfirmForm,
    ForceDomainForm,
    ForceForm,
    NewUserForm,
    ResetPasswordForm,
    TokenForm,
    UserForm,
)
from diversion.audit.models import AuditCategory
from diversion.audit.services import record, shown_details
from diversion.auth import second_factor, services, sessions, shown_once
from diversion.auth.access import acting_user, roles
from diversion.auth.models import Force, Role, User
from diversion.core import listing, paging, parsing
from diversion.core.errors import Conflict, ValidationFailed
from diversion.core.extensions import db
from diversion.core.forms import attach_errors
from diversion.core.timeutils import london_today, now_utc
from diversion.core.transactions import savepoint

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _force_choices() -> list[SelectChoice]:
    return [SelectChoice("", "Not a police officer")] + [
        SelectChoice(f.code, f"{f.name} ({f.code})") for f in services.list_forces()]


def _domain_force(form: UserForm) -> Force | None:
    """The force whose email domain the submitted police address is outside, if any (the page
    then shows the warning and the "I have checked" box)."""
    if request.method != "POST" or form.role.data != Role.POLICE.value or not form.force.data:
        return None
    force = services.get_force_by_code(form.force.data or "")
    return force if services.is_outside_force_domain(form.email.data or "", force) else None


def _every_problem(form: UserForm, user: User | None) -> None:
    """After a refused submission, add the account's other problems (a missing force, a taken
    address, a weak password) beside the fields that have none yet: one round, not several."""
    try:
        role = Role(form.role.data) if form.role.data else None
    except ValueError:
        role = None
    password = form.password.data or "" if isinstance(form, NewUserForm) else None
    problems = services.account_problems(
        email=form.email.data or "", name=form.name.data or "", role=role,
        force=services.get_force_by_code(form.force.data or "") if form.force.data else None,
        domain_checked=bool(form.domain_checked.data), password=password, user=user)
    for name, message in problems.items():
        field = getattr(form, name)
        if not field.errors:
            field.errors = [*list(field.errors or []), message]


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/users")
@roles(Role.ADMIN)
def list_users() -> Any:
    """Every account, active first; `?status=active` or `?status=deactivated` (the dashboard's
    links) shows those only."""
    query = select(User).order_by(User.is_active_account.desc(), User.name)
    status = request.args.get("status")
    if status in ("active", "deactivated"):
        query = query.where(User.is_active_account.is_(status == "active"))
    else:
        status = None
    users = list(db.session.scalars(query))
    return render_template("admin/users.html", users=users, status=status,
                           delayed=services.list_delayed_users(users, now=now_utc()))


@bp.route("/users/new", methods=["GET", "POST"])
@roles(Role.ADMIN)
def create_user() -> Any:
    form = NewUserForm()
    form.force.choices = _force_choices()
    if form.validate_on_submit():
        try:
            with savepoint():
                user = services.create_user(
                    email=form.email.data or "", name=form.name.data or "",
                    role=Role(form.role.data), password=form.password.data or "",
                    force=services.get_force_by_code(form.force.data or "") if form.force.data else None,
                    actor=acting_user(), now=now_utc(), domain_checked=bool(form.domain_checked.data),
                )
        except ValidationFailed as error:
            attach_errors(form, error)
        else:
            flash(f"Account created for {user.name}", "success")
            return redirect(url_for("admin.list_users"))
    if request.method == "POST":
        _every_problem(form, None)
    return render_template("admin/user_form.html", form=form, user=None,
                           domain_force=_domain_force(form))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles(Role.ADMIN)
def edit_user(user_id: int) -> Any:
    user = _user_or_404(user_id)
    form = UserForm(obj=None if request.method == "POST" else user)
    form.force.choices = _force_choices()
    if request.method == "GET":
        form.role.data = user.role.value
        form.force.data = user.force.code if user.force else ""
    if form.validate_on_submit():
        try:
            with savepoint():
                services.update_user(
                    user=user, email=form.email.data or "", name=form.name.data or "",
                    role=Role(form.role.data),
                    force=services.get_force_by_code(form.force.data or "") if form.force.data else None,
                    actor=acting_user(), now=now_utc(), domain_checked=bool(form.domain_checked.data),
                )
        except ValidationFailed as error:
            user = _user_or_404(user_id)
            attach_errors(form, error)
        else:
            flash(f"Changes to {user.name}'s account saved", "success")
            return redirect(url_for("admin.list_users"))
    if request.method == "POST":
        _every_problem(form, user)
    return render_template("admin/user_form.html", form=form, user=user,
                           confirm=ConfirmForm(), reset=ResetPasswordForm(formdata=None),
                           domain_force=_domain_force(form),
                           sign_in_delay=services.get_sign_in_delay(user, now=now_utc()),
                           second_factor_on=second_factor.has_second_factor(user),
                           open_sessions=_open_sessions(user))


@bp.route("/users/<int:user_id>/active", methods=["GET", "POST"])
@roles(Role.ADMIN)
def set_user_active(user_id: int) -> Any:
    """GET: check before deactivating (signed out at once, tokens stop); POST: (de)activate."""
    user = _user_or_404(user_id)
    form = ConfirmForm()
    if request.method == "GET":
        if not user.is_active_account or user.id == acting_user().id:  # the account page says why
            return redirect(url_for("admin.edit_user", user_id=user_id))
        tokens = [t for t in services.list_api_tokens() if t.user_id == user.id and not t.revoked_at]
        return render_template("admin/deactivate.html", user=user, tokens=tokens, confirm=form,
                               open_sessions=_open_sessions(user))
    if not form.validate_on_submit():
        abort(400)
    activate = request.form.get("active") == "yes"
    try:
        with savepoint():
            services.set_active(user=user, active=activate, actor=acting_user(), now=now_utc())
    except ValidationFailed as error:
        flash(next(iter(error.errors.values())), "error")
    else:
        flash(f"{user.name}'s account {'reactivated' if activate else 'deactivated'}", "success")
    return redirect(url_for("admin.edit_user", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
@roles(Role.ADMIN)
def reset_user_password(user_id: int) -> Any:
    user = _user_or_404(user_id)
    reset = ResetPasswordForm()
    if reset.validate_on_submit():
        try:
            with savepoint():
                services.reset_password(user=user, new_password=reset.password.data or "",
                                        actor=acting_user(), now=now_utc())
        except ValidationFailed as error:
            user = _user_or_404(user_id)
            attach_errors(reset, error)
        else:
            flash(f"{user.name}'s password has been reset and their sessions ended", "success")
            return redirect(url_for("admin.edit_user", user_id=user_id))
    form = UserForm(obj=user)
    form.force.choices = _force_choices()
    form.role.data = user.role.value
    form.force.data = user.force.code if user.force else ""
    return render_template("admin/user_form.html", form=form, user=user,
                           confirm=ConfirmForm(), reset=reset, domain_force=None,
                           sign_in_delay=services.get_sign_in_delay(user, now=now_utc()),
                           second_factor_on=second_factor.has_second_factor(user),
                           open_sessions=_open_sessions(user)), 200


@bp.post("/users/<int:user_id>/unlock")
@roles(Role.ADMIN)
def unlock_user(user_id: int) -> Any:
    """Forget the failed sign-ins counted against an account (audited): its next sign-in from
    any browser is checked at once. Nothing is lost by it, so there is no check page."""
    user = _user_or_404(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.unlock_sign_in(user=user, actor=acting_user(), now=now_utc())
    flash(f"{user.name} can sign in again now", "success")
    return redirect(url_for("admin.edit_user", user_id=user_id))


@bp.route("/users/<int:user_id>/second-factor/reset", methods=["GET", "POST"])
@roles(Role.ADMIN)
def reset_second_factor(user_id: int) -> Any:
    """GET: check before removing someone's authenticator and recovery codes; POST: remove them
    (audited) and end their sessions. They set up a new one at their next sign-in."""
    user = _user_or_404(user_id)
    form = ConfirmForm()
    if request.method == "GET":
        if not second_factor.has_second_factor(user):
            flash(f"{user.name} has no second factor set up", "info")
            return redirect(url_for("admin.edit_user", user_id=user_id))
        return render_template("admin/reset_second_factor.html", user=user, confirm=form,
                               left=second_factor.recovery_codes_left(user))
    if not form.validate_on_submit():
        abort(400)
    second_factor.reset_second_factor(user=user, actor=acting_user(), now=now_utc())
    flash(f"{user.name}'s second factor has been reset and their sessions ended. They set up a "
          "new authenticator app when they next sign in", "success")
    return redirect(url_for("admin.edit_user", user_id=user_id))


def _open_sessions(user: User) -> int:
    return sessions.count_live(user, now=now_utc(), limits=sessions.limits_from(current_app.config))


@bp.route("/users/<int:user_id>/sessions/end", methods=["GET", "POST"])
@roles(Role.ADMIN)
def end_user_sessions(user_id: int) -> Any:
    """GET: check before signing someone out everywhere; POST: end every session of theirs
    (audited). Their password and second factor are unchanged."""
    user = _user_or_404(user_id)
    form = ConfirmForm()
    if request.method == "GET":
        return render_template("admin/end_sessions.html", user=user, confirm=form,
                               open_sessions=_open_sessions(user))
    if not form.validate_on_submit():
        abort(400)
    ended = sessions.end_all_audited(user, now=now_utc(), actor=acting_user(),
                                     address=(request.remote_addr or "unknown")[:64],
                                     reason="ended_by_admin")
    flash(f"{user.name} has been signed out of {ended} session{'' if ended == 1 else 's'}",
          "success")
    return redirect(url_for("admin.edit_user", user_id=user_id))


@bp.route("/forces", methods=["GET", "POST"])
@roles(Role.ADMIN)
def list_forces() -> Any:
    form = ForceForm()
    if form.validate_on_submit():
        try:
            with savepoint():
                force = services.create_force(code=form.code.data or "", name=form.name.data or "",
                                              email_domain=form.email_domain.data,
                                              actor=acting_user(), now=now_utc())
        except (ValidationFailed, Conflict) as error:
            if isinstance(error, ValidationFailed):
                attach_errors(form, error)
            else:
                form.code.errors = [*form.code.errors, error.message]
        else:
            flash(f"{force.name} added", "success")
            return redirect(url_for("admin.list_forces"))
    if request.method == "POST":  # refused: every problem at once, not one round each
        for name, message in services.force_problems(
                code=form.code.data or "", name=form.name.data or "",
                email_domain=form.email_domain.data).items():
            field = getattr(form, name)
            if not field.errors:
                field.errors = [*list(field.errors or []), message]
    counts = dict(db.session.execute(
        select(User.force_id, func.count()).where(User.force_id.is_not(None)).group_by(User.force_id)
    ).all())
    forces = services.list_forces()
    return render_template("admin/forces.html", form=form, forces=forces, counts=counts)


@bp.route("/forces/<int:force_id>", methods=["GET", "POST"])
@roles(Role.ADMIN)
def edit_force(force_id: int) -> Any:
    """Set the domain the force's officers' email addresses end in."""
    force = db.session.get(Force, force_id)
    if force is None:
        abort(404)
    form = ForceDomainForm(data={"email_domain": force.email_domain or ""})
    if form.validate_on_submit():
        try:
            with savepoint():
                services.set_force_email_domain(force=force, email_domain=form.email_domain.data,
                                                actor=acting_user(), now=now_utc())
        except ValidationFailed as error:
            attach_errors(form, error)
        else:
            flash(f"{force.name} saved", "success")
            return redirect(url_for("admin.list_forces"))
    return render_template("admin/force_form.html", form=form, force=force)


@bp.route("/tokens", methods=["GET", "POST"])
@roles(Role.ADMIN)
def list_tokens() -> Any:
    form = TokenForm()
    users = list(db.session.scalars(select(User).where(User.is_active_account.is_(True))
                                    .order_by(User.name)))
    form.user.choices = [SelectChoice("", "Choose an account")] + [
        SelectChoice(str(u.id), f"{u.name} ({u.role.label})") for u in users]
    if form.validate_on_submit():
        user_id = parsing.query_int(form.user.data)
        user = db.session.get(User, user_id) if user_id else None
        if user is None:
            form.user.errors = ["Select the account the token acts as"]
        else:
            try:
                with savepoint():
                    token, secret = services.create_api_token(
                        user=user, actor=acting_user(), now=now_utc(),
                        expires_in_days=form.expires_in_days)
            except Conflict as error:
                form.user.errors = [error.message]
            else:
                # Post/redirect/get: reloading the page that shows the secret makes no other.
                shown_once.hold(f"api_token:{token.id}", secret, user=acting_user())
                return redirect(url_for("admin.list_tokens", created=token.id))
    tokens = services.list_api_tokens()
    created_id = parsing.query_int(request.args.get("created")) if request.method == "GET" else None
    created = next((t for t in tokens if t.id == created_id), None)
    new_token = (shown_once.take(f"api_token:{created.id}", user=acting_user())
                 if created is not None else None)
    return render_template("admin/tokens.html", form=form, tokens=tokens, new_token=new_token,
                           created=created, confirm=ConfirmForm(), now=now_utc())


@bp.route("/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@roles(Role.ADMIN)
def revoke_token(token_id: int) -> Any:
    """GET: check the token (its account, when it was last used); POST: revoke it."""
    token = services.get_api_token(token_id)
    if request.method == "GET":
        if token.revoked_at:
            flash(f"Token {token.prefix}… is already revoked", "success")
            return redirect(url_for("admin.list_tokens"))
        return render_template("admin/revoke_token.html", token=token, confirm=ConfirmForm())
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.revoke_api_token(token=token, actor=acting_user(), now=now_utc())
    flash(f"Token {token.prefix}… revoked", "success")
    return redirect(url_for("admin.list_tokens"))


AUDIT_CSV_HEADER = ("Event", "When", "User", "Action", "Action code", "Category", "About",
                    "Name", "Reference", "Object type", "Object id", "Address", "Details",
                    "Referrals shown")


def _audit_filters() -> tuple[AuditFilterForm, audit_list.AuditFilters, bool]:
    form = AuditFilterForm(request.args)
    users = list(db.session.scalars(select(User).order_by(User.name)))
    form.user.choices = [SelectChoice("", "Anyone")] + [SelectChoice(str(u.id), u.name) for u in users]
    form.action.choices = [SelectChoice("", "Any action")] + [
        SelectChoice(value, label) for value, label in audit_list.action_choices()]
    valid = form.validate()
    if not valid:
        return form, audit_list.AuditFilters(), False
    action = (form.action.data or "").strip()
    return form, audit_list.AuditFilters(
        search=(form.q.data or "").strip(), user_id=parsing.query_int(form.user.data),
        action=action[:64], category=AuditCategory(form.category.data) if form.category.data else None,
        date_from=form.date_from.data, date_to=form.date_to.data), True


@bp.get("/audit")
@roles(Role.ADMIN)
def audit_log() -> Any:
    """Who did what, named: the actor, the action in words, the person and reference."""
    form, filters, valid = _audit_filters()
    if filters.action and filters.action not in dict(audit_list.action_choices()):
        form.action.choices.append(SelectChoice(filters.action, f"Starting “{filters.action}”"))
    shown = listing.listed(audit_list.filtered_events(filters, today=london_today(now_utc())),
                           sorts=audit_list.SORTS, default_sort="newest",
                           endpoint="admin.audit_log", csv_endpoint="admin.audit_csv")
    page, ordering = shown.page, shown.ordering
    form.sort.data = ordering.key
    if valid:
        # The page names people: reading the audit log is itself a consultation.
        record(action="audit.view", category=AuditCategory.CONSULTATION, now=now_utc(),
               actor=acting_user(), object_type="audit_event", details=shown_details(
                   (e.id for e in page.items), key="events", filters=filters.for_audit(),
                   sort=ordering.key, order=ordering.order))
    return render_template(
        "admin/audit.html", page=page, form=form, ordering=ordering, sort_href=shown.sort_href,
        actors=audit_list.actor_names(page.items), named=audit_list.name_objects(page.items),
        action_words=audit_list.action_words, summarise=audit_list.summarise,
        filtered=not filters.is_empty, csv_href=shown.csv_href,
    ), 200 if valid else 400


@bp.get("/audit.csv")
@roles(Role.ADMIN)
def audit_csv() -> Any:
    """The filtered events as CSV, in the page's order; the download is itself audited."""
    _, filters, valid = _audit_filters()
    if not valid:
        return listing.back_to_list("admin.audit_log")
    ordering = paging.Ordering.from_args(request.args, audit_list.SORTS, "newest")
    query = audit_list.filtered_events(filters, today=london_today(now_utc()))
    query = query.order_by(*(c.desc() if ordering.descending else c.asc()
                             for c in ordering.sort.columns))
    events = list(db.session.scalars(query))
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(events), 500):
        chunk = events[start:start + 500]
        actors, named = audit_list.actor_names(chunk), audit_list.name_objects(chunk)
        for e in chunk:
            about = named.get((e.object_type or "", e.object_id or ""))
            rows.append((
                e.id, listing.london(e.at), actors.get(e.actor_user_id or 0, e.actor_label),
                audit_list.action_words(e.action), e.action, e.category.value,
                about.kind if about else "", about.name if about else "",
                about.reference if about else "", e.object_type or "", e.object_id or "",
                e.address or "", audit_list.summarise(e.details),
                audit_list.shown_ids(e.details)))
    record(action="audit.export", category=AuditCategory.DISCLOSURE, now=now_utc(),
           actor=acting_user(), details={"filters": filters.for_audit(), "count": len(rows)})
    return listing.csv_download("audit-log.csv", AUDIT_CSV_HEADER, rows)
