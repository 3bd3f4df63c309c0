"""Pages for police and managers: record a reoffence, or upload a CSV file of them."""

from __future__ import annotations

import base64
import binascii
from typing import Any

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


@bp.route("/import", methods=["GET", "POST"])
@roles(Role.POLICE, Role.MANAGER)
def upload() -> Any:
    """Upload a file: every row is checked and a preview shown; nothing is written yet."""
    form = UploadForm()
    problems: list[services.RowProblem] = []
    if form.validate_on_submit():
        file = form.file.data
        content = file.read() if file else b""
        if not content:
            form.file.errors = ["Select a CSV file"]
        else:
            try:
                with discarded():
                    result = services.import_reoffences(content=content, actor=current_actor(),
                                                        now=now_utc(), dry_run=True,
                                                        skip_unmatched=True)
            except services.ImportFailed as error:
                problems = error.problems
                form.file.errors = [f"The file has {len(problems)} problem"
                                    f"{'' if len(problems) == 1 else 's'}: nothing was imported"]
            if not problems:
                confirm = ConfirmImportForm(content=_encode(content), skip_unmatched="y")
                return render_template("reoffences/preview.html", result=result, form=confirm)
    return render_template("reoffences/import.html", form=form, problems=problems,
                           columns=services.COLUMNS), 400 if form.file.errors else 200


@bp.post("/import/confirm")
@roles(Role.POLICE, Role.MANAGER)
def confirm_import() -> Any:
    """Import the previewed file. It is checked again in full: all or nothing."""
    form = ConfirmImportForm()
    try:
        content = base64.b64decode(form.content.data or "", validate=True)
    except (binascii.Error, ValueError):
        content = b""
    if not form.validate_on_submit() or not content:
        flash("Upload the file again", "info")
        return redirect(url_for("reoffences.upload"))
    try:
        with savepoint():
            result = services.import_reoffences(content=content, actor=current_actor(),
                                                now=now_utc(), skip_unmatched=True)
    except services.ImportFailed as error:
        return render_template("reoffences/import.html", form=UploadForm(),
                               problems=error.problems, columns=services.COLUMNS), 400
    message = f"Imported {result.imported} reoffence{'' if result.imported == 1 else 's'}"
    if result.unmatched:
        message += f"; skipped {len(result.unmatched)} about nobody on record"
    flash(message, "success")
    return redirect(url_for("reoffences.upload"))


@bp.route("/comparison/import", methods=["GET", "POST"])
@roles(Role.MANAGER)
def upload_comparison() -> Any:
    """Upload a comparison cohort: every row is checked and shown; nothing is written yet."""
    form = UploadForm()
    problems: list[services.RowProblem] = []
    if form.validate_on_submit():
        file = form.file.data
        content = file.read() if file else b""
        if not content:
            form.file.errors = ["Select a CSV file"]
        else:
            try:
                with discarded():
                    result = comparison.import_comparison_cases(
                        content=content, actor=current_actor(), now=now_utc(), dry_run=True)
            except services.ImportFailed as error:
                problems = error.problems
                form.file.errors = [f"The file has {len(problems)} problem"
                                    f"{'' if len(problems) == 1 else 's'}: nothing was imported"]
            if not problems:
                confirm = ConfirmImportForm(content=_encode(content))
                return render_template("reoffences/comparison_preview.html", result=result,
                                       form=confirm)
    return render_template("reoffences/comparison_import.html", form=form, problems=problems,
                           columns=comparison.COLUMNS), 400 if form.file.errors else 200


@bp.post("/comparison/import/confirm")
@roles(Role.MANAGER)
def confirm_comparison_import() -> Any:
    """Import the checked file. It is checked again in full: all or nothing."""
    form = ConfirmImportForm()
    try:
        content = base64.b64decode(form.content.data or "", validate=True)
    except (binascii.Error, ValueError):
        content = b""
    if not form.validate_on_submit() or not content:
        flash("Upload the file again", "info")
        return redirect(url_for("reoffences.upload_comparison"))
    try:
        with savepoint():
            result = comparison.import_comparison_cases(content=content, actor=current_actor(),
                                                        now=now_utc())
    except services.ImportFailed as error:
        form = UploadForm()
        form.file.errors = [f"The file has {len(error.problems)} problem"
                            f"{'' if len(error.problems) == 1 else 's'}: nothing was imported"]
        return render_template("reoffences/comparison_import.html", form=form,
                               problems=error.problems, columns=comparison.COLUMNS), 400
    flash(f"Imported {result.imported} comparison case{'' if result.imported == 1 else 's'}",
          "success")
    return redirect(url_for("reoffences.upload_comparison"))
