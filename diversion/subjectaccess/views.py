"""The subject access export: a check page, then the download as JSON or a tagged PDF.

Managers and admins only (both see every force's referrals); police and facilitators get 403.
Each download writes a DISCLOSURE audit row (`person.subject_access_export`, with the format).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, render_template, url_for

from diversion.auth.access import acting_user, roles
from diversion.auth.models import Role
from diversion.core.pdf import render_pdf
from diversion.core.timeutils import now_utc
from diversion.referrals.models import Referral
from diversion.subjectaccess import services
from diversion.subjectaccess.forms import ExportForm

bp = Blueprint("subjectaccess", __name__, url_prefix="/subject-access")

TITLE = "Subject access export"
EXPORTERS = (Role.MANAGER, Role.ADMIN)


@bp.route("/<reference>", methods=["GET", "POST"])
@roles(*EXPORTERS)
def export(reference: str) -> Any:
    actor, now = acting_user(), now_utc()
    referral, person = services.find_person(reference, actor)
    form = ExportForm()
    if not form.validate_on_submit():
        status = 400 if form.errors else 200
        if status == 200:
            services.record_check_viewed(person=person, referral_id=referral.id, actor=actor,
                                         now=now)
        return render_template("subjectaccess/check.html", form=form, referral=referral,
                               person=person, last=services.last_export(person.id)), status
    fmt = str(form.format.data)
    data = services.gather(person, now=now)
    services.record_export(person=person, actor=actor, now=now, fmt=fmt)
    filename = f"subject-access-{referral.reference}-{now:%Y-%m-%d}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"',
               "Cache-Control": "no-store"}
    if fmt == "json":
        return Response(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                        mimetype="application/json", headers=headers)
    pdf = render_pdf("subjectaccess/export_pdf.html", title=TITLE, data=data, generated_at=now,
                     parameters=[("Person", f"{person.given_names} {person.family_name}"),
                                 ("Requested through referral", referral.reference),
                                 ("Made by", actor.name)])
    return Response(pdf, mimetype="application/pdf", headers=headers)


def referral_page_context(referral: Referral) -> dict[str, Any]:
    """The referral page's "Subject access export" action and when the last one was made,
    for those who may export (police see neither, and cost no query)."""
    if acting_user().role not in EXPORTERS:
        return {}
    return {"subject_access": {
        "url": url_for("subjectaccess.export", reference=referral.reference),
        "last": services.last_export(referral.person_id)}}
