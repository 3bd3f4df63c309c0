"""Upload a CSV file of referrals: check it, preview it, then confirm the import.

The uploaded file waits for the confirm step in the instance folder under a random name that
carries the uploader's id (never in the session cookie), dated by the app's clock; it is removed
once confirmed, and any file older than an hour is removed by the scheduler's "referral_uploads"
job (`remove_expired_uploads`) and, in case the scheduler is not running, at the next upload or
confirm.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_wtf.file import FileField
from wtforms import HiddenField

from diversion.auth.access import acting_user, roles
from diversion.auth.models import Role, User
from diversion.core.forms import Form
from diversion.core.timeutils import now_utc
from diversion.core.transactions import discarded, savepoint
from diversion.referrals import imports

bp = Blueprint("imports", __name__, url_prefix="/import")

KEEP_FOR = dt.timedelta(hours=1)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
CSV_TYPES = {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel",
             "application/octet-stream", ""}


class UploadForm(Form):
    file = FileField("Upload a CSV file")


class ConfirmForm(Form):
    token = HiddenField()


def _folder() -> Path:
    folder = Path(current_app.instance_path) / "referral_imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(token: str, user: User) -> Path | None:
    if not _TOKEN.match(token or ""):
        return None
    return _folder() / f"{user.id}-{token}.csv"


def remove_expired_uploads(*, now: dt.datetime) -> dict[str, int]:
    """Remove every uploaded file waiting for its confirm step for over an hour (a job)."""
    cutoff = (now - KEEP_FOR).timestamp()
    removed = 0
    for path in _folder().glob("*.csv"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another worker removed it first
    return {"uploads_removed": removed}


def _remove_expired(now: dt.datetime) -> None:
    remove_expired_uploads(now=now)


def _render_upload(form: UploadForm, problems: list[imports.RowProblem], status: int) -> Any:
    return render_template("referrals/import_upload.html", form=form, problems=problems,
                           user=acting_user(),
                           required=imports.REQUIRED_COLUMNS + imports.NEW_REFERRAL_COLUMNS,
                           optional=imports.OPTIONAL_COLUMNS,
                           max_mb=imports.MAX_BYTES // (1024 * 1024),
                           max_rows=imports.MAX_ROWS), status


@bp.get("")
@roles(Role.POLICE, Role.MANAGER)
def upload() -> Any:
    return _render_upload(UploadForm(), [], 200)


@bp.post("")
@roles(Role.POLICE, Role.MANAGER)
def check_upload() -> Any:
    """Check every row and show a preview; nothing is written yet."""
    form = UploadForm()
    user, now = acting_user(), now_utc()
    _remove_expired(now)
    if not form.validate_on_submit():
        return _render_upload(form, [], 400)
    file = form.file.data
    if file is None or not file.filename:
        form.file.errors = ["Select a CSV file"]
        return _render_upload(form, [], 400)
    if (not file.filename.lower().endswith(".csv")
            or (file.mimetype or "").lower() not in CSV_TYPES):
        form.file.errors = ["The selected file must be a CSV file"]
        return _render_upload(form, [], 400)
    content = file.stream.read(imports.MAX_BYTES + 1)
    if not content:
        form.file.errors = ["The selected file is empty"]
        return _render_upload(form, [], 400)
    try:
        with discarded():
            result = imports.import_referrals(content=content, actor=user, now=now, dry_run=True,
                                              via="upload")
    except imports.ImportFailed as error:
        problems = error.problems
        if len(problems) == 1 and problems[0].column == "file":
            # Not a readable CSV file at all: one message beside the field says it.
            message = _sentence(problems[0].message)
            if problems[0].line > 1:  # where to look: the first character it could not read
                message += f" (the problem starts on row {problems[0].line})"
            form.file.errors = [message]
            return _render_upload(form, [], 400)
        form.file.errors = [_summary(problems)]
        return _render_upload(form, problems, 400)
    token = secrets.token_urlsafe(24)
    path = _path(token, user)
    assert path is not None
    path.write_bytes(content)
    # Dated by the app's clock, which is the one the sweep reads.
    os.utime(path, (now.timestamp(), now.timestamp()))
    return render_template("referrals/import_preview.html", result=result,
                           form=ConfirmForm(token=token), filename=file.filename)


@bp.post("/confirm")
@roles(Role.POLICE, Role.MANAGER)
def confirm() -> Any:
    """Import the previewed file. It is checked again in full: all or nothing."""
    form = ConfirmForm()
    user, now = acting_user(), now_utc()
    _remove_expired(now)
    path = _path(form.token.data or "", user) if form.validate_on_submit() else None
    if path is None or not path.exists():
        flash("The file has expired or was already imported. Upload it again", "info")
        return redirect(url_for("referrals.imports.upload"))
    content = path.read_bytes()
    path.unlink(missing_ok=True)
    try:
        with savepoint():
            result = imports.import_referrals(content=content, actor=user, now=now, via="upload")
    except imports.ImportFailed as error:
        upload_form = UploadForm()
        upload_form.file.errors = [_summary(error.problems)]
        return _render_upload(upload_form, error.problems, 400)
    message = f"Imported {result.imported} referral{'' if result.imported == 1 else 's'}"
    if result.already_present:
        message += f"; {result.already_present} already imported left alone"
    if result.imported > result.historical:
        message += (". The new referrals have no PIN yet: reissue one for each person from the "
                    "referral's page when you hand them the offer letter")
    flash(message, "success")
    return redirect(url_for("referrals.imports.upload"))


def _summary(problems: list[imports.RowProblem]) -> str:
    count = len(problems)
    return f"The file has {count} problem{'' if count == 1 else 's'}. Nothing was imported"


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]
