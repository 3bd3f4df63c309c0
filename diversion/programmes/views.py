"""Programme settings pages, for administrators."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role
from diversion.core.errors import Conflict, NotFound, ValidationFailed
from diversion.core.forms import attach_errors
from diversion.core.timeutils import now_utc
from diversion.core.transactions import savepoint
from diversion.programmes import services
from diversion.programmes.forms import ProgrammeForm
from diversion.programmes.models import Programme

bp = Blueprint("programmes", __name__, url_prefix="/admin/programmes")


def _settings_from(form: ProgrammeForm) -> services.ProgrammeSettings:
    fee = form.fee.data if form.fee.data is not None else Decimal(0)
    return services.ProgrammeSettings(
        code=form.code.data or "",
        name=form.name.data or "",
        eligible_offence_codes=services.parse_offence_codes(form.eligible_offence_codes.data or ""),
        booking_deadline_days=form.booking_deadline_days.data or 0,
        completion_deadline_months=form.completion_deadline_months.data or 0,
        fee_pence=int((fee * 100).to_integral_value()),
        transfer_limit=form.transfer_limit.data or 0,
        late_cutoff_minutes=form.late_cutoff_minutes.data or 0,
        grace_days=form.grace_days.data or 0,
        duration_minutes=form.duration_minutes.data or 0,
        default_capacity=form.default_capacity.data or 0,
        retention_months=form.retention_months.data or 0,
        referral_warning_days=form.referral_warning_days.data or 0,
        repeat_window_months=form.repeat_window_months.data or 0,
    )


def _fill(form: ProgrammeForm, settings: services.ProgrammeSettings) -> None:
    for name in ("code", "name", "booking_deadline_days", "completion_deadline_months",
                 "transfer_limit", "late_cutoff_minutes", "grace_days", "duration_minutes",
                 "default_capacity", "retention_months", "referral_warning_days",
                 "repeat_window_months"):
        getattr(form, name).data = getattr(settings, name)
    form.eligible_offence_codes.data = "\n".join(settings.eligible_offence_codes)
    form.fee.data = Decimal(settings.fee_pence) / 100


def _save(form: ProgrammeForm, programme: Programme | None) -> Programme | None:
    """Validate and save; None when the form has errors to show."""
    if not form.validate_on_submit():
        return None
    try:
        with savepoint():
            settings = _settings_from(form)
            if programme is None:
                programme = services.create_programme(settings=settings, actor=current_actor(),
                                                      now=now_utc())
            else:
                services.update_programme(programme=programme, settings=settings,
                                          actor=current_actor(), now=now_utc())
    except ValidationFailed as error:
        attach_errors(form, error, fallback="fee")
        return None
    except Conflict as error:
        form.code.errors = [*form.code.errors, error.message]
        return None
    return programme


@bp.get("")
@roles(Role.ADMIN)
def list_programmes() -> Any:
    return render_template("programmes/list.html", programmes=services.list_programmes())


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.ADMIN)
def create_programme() -> Any:
    form = ProgrammeForm()
    if request.method == "GET":
        _fill(form, services.ProgrammeSettings(code="", name=""))
    programme = _save(form, None)
    if programme is not None:
        flash(f"{programme.name} added", "success")
        return redirect(url_for("programmes.list_programmes"))
    return render_template("programmes/form.html", form=form, programme=None)


@bp.route("/<int:programme_id>", methods=["GET", "POST"])
@roles(Role.ADMIN)
def edit_programme(programme_id: int) -> Any:
    try:
        programme = services.get_programme(programme_id)
    except NotFound:
        return render_template("errors/404.html"), 404
    form = ProgrammeForm()
    if request.method == "GET":
        _fill(form, services.settings_of(programme))
    name = programme.name
    if _save(form, programme) is not None:
        flash(f"Settings for {programme.name} saved", "success")
        return redirect(url_for("programmes.list_programmes"))
    return render_template("programmes/form.html", form=form, programme=programme, name=name)
