"""Pages for police and managers: record a reoffence, or upload a CSV file of them."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, flash, redirect, render_template, url_for

from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role
from diversion.core.errors import NotFound, ValidationFailed
from diversion.core.forms import attach_errors
from diversion.core.timeutils import now_utc
from diversion.core.transactions import discarded, savepoint
from diversion.reoffences import comparison, services
from diversion.reoffences.forms import ConfirmImportForm, ReoffenceForm, UploadForm

bp = Blueprint("reoffences", __name__, url_prefix="/reoffences")

T = TypeVar("T")


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def record_reoffence() -> Any:
    form = ReoffenceForm()
    if form.validate_on_submit():
        data = services.ReoffenceInput(
            pnc_id=form.pnc_id.data or None, family_name=form.family_name.data or None,
            given_names=form.given_names.data or None, date_of_birth=form.date_of_birth.data,
            offence_code=(form.offence_code.data or "").strip().upper(),
            offence_date=form.offence_date.data, outcome=form.outcome.data or "",
            outcome_date=form.outcome_date.data,
            source_reference=(form.source_reference.data or "").strip())
        try:
            with savepoint():
                _, created = services.record_reoffence(data=data, actor=current_actor(),
                                                       now=now_utc())
        except ValidationFailed as error:
            attach_errors(form, error)
        except NotFound as error:
            attach_errors(form, ValidationFailed({error.field or "pnc_id": error.message}))
        else:
            flash("Reoffence recorded" if created else
                  "This reoffence was already recorded: nothing changed", "success")
            return redirect(url_for("reoffences.record_reoffence"))
    return render_template("reoffences/new.html", form=form), 400 if form.errors else 200


def _encode(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def _refuse(form: UploadForm, problems: list[services.RowProblem]) -> None:
    form.file.errors = [f"The file has {_plural(len(problems), 'problem')}: nothing was imported"]


def _checked_upload(check: Callable[[bytes], T]) -> tuple[UploadForm, list[services.RowProblem],
                                                          bytes, T | None]:
    """The upload form and, when a file was sent, its dry run: `check(content)` inside a
    transaction that is thrown away. Returns the form (its errors set), the file's problems,
    the content and the dry run's result (None unless the file is clean)."""
    form = UploadForm()
    if not form.validate_on_submit():
        return form, [], b"", None
    file = form.file.data
    content = file.read() if file else b""
    if not content:
        form.file.errors = ["Select a CSV file"]
        return form, [], content, None
    try:
        with discarded():
            return form, [], content, check(content)
    except services.ImportFailed as error:
        _refuse(form, error.problems)
        return form, error.problems, content, None


def _confirmed_content() -> bytes | None:
    """The checked file a confirmation form carries back (base64), or None if the form or its
    content is not sound (the person is sent to upload it again)."""
    form = ConfirmImportForm()
    try:
        content = base64.b64decode(form.content.data or "", validate=True)
    except (binascii.Error, ValueError):
        content = b""
    return content if form.validate_on_submit() and content else None


def _refused_page(template: str, problems: list[services.RowProblem],
                  columns: tuple[str, ...]) -> Any:
    """A confirmed file that no longer imports (checked again in full): its problems, 400."""
    form = UploadForm()
    _refuse(form, problems)
    return render_template(template, form=form, problems=problems, columns=columns), 400


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@bp.route("/import", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def upload() -> Any:
    """Upload a file: every row is checked and a preview shown; nothing is written yet."""
    form, problems, content, result = _checked_upload(
        lambda content: services.import_reoffences(content=content, actor=current_actor(),
                                                   now=now_utc(), dry_run=True,
                                                   skip_unmatched=True))
    if result is not None:
        confirm = ConfirmImportForm(content=_encode(content), skip_unmatched="y")
        return render_template("reoffences/preview.html", result=result, form=confirm)
    return render_template("reoffences/import.html", form=form, problems=problems,
                           columns=services.COLUMNS), 400 if form.file.errors else 200


@bp.post("/import/confirm")
@roles(Role.POLICE, Role.MANAGER)
def confirm_import() -> Any:
    """Import the previewed file. It is checked again in full: all or nothing."""
    content = _confirmed_content()
    if content is None:
        flash("Upload the file again", "info")
        return redirect(url_for("reoffences.upload"))
    try:
        with savepoint():
            result = services.import_reoffences(content=content, actor=current_actor(),
                                                now=now_utc(), skip_unmatched=True)
    except services.ImportFailed as error:
        return _refused_page("reoffences/import.html", error.problems, services.COLUMNS)
    message = f"Imported {_plural(result.imported, 'reoffence')}"
    if result.unmatched:
        message += f"; skipped {len(result.unmatched)} about nobody on record"
    flash(message, "success")
    return redirect(url_for("reoffences.upload"))


@bp.route("/comparison/import", methods=["GET", "POST"])
@roles(Role.MANAGER)
def upload_comparison() -> Any:
    """Upload a comparison cohort: every row is checked and shown; nothing is written yet."""
    form, problems, content, result = _checked_upload(
        lambda content: comparison.import_comparison_cases(content=content, actor=current_actor(),
                                                           now=now_utc(), dry_run=True))
    if result is not None:
        confirm = ConfirmImportForm(content=_encode(content))
        return render_template("reoffences/comparison_preview.html", result=result, form=confirm)
    return render_template("reoffences/comparison_import.html", form=form, problems=problems,
                           columns=comparison.COLUMNS), 400 if form.file.errors else 200


@bp.post("/comparison/import/confirm")
@roles(Role.MANAGER)
def confirm_comparison_import() -> Any:
    """Import the checked file. It is checked again in full: all or nothing."""
    content = _confirmed_content()
    if content is None:
        flash("Upload the file again", "info")
        return redirect(url_for("reoffences.upload_comparison"))
    try:
        with savepoint():
            result = comparison.import_comparison_cases(content=content, actor=current_actor(),
                                                        now=now_utc())
    except services.ImportFailed as error:
        return _refused_page("reoffences/comparison_import.html", error.problems,
                             comparison.COLUMNS)
    flash(f"Imported {_plural(result.imported, 'comparison case')}", "success")
    return redirect(url_for("reoffences.upload_comparison"))
