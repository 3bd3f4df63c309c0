"""The managers' messages page: what was sent, what failed, and sending a failed one again."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role, User
from diversion.core import parsing
from diversion.core.dashboard import Line, Panel
from diversion.core.errors import Conflict
from diversion.core.timeutils import now_utc
from diversion.core.transactions import savepoint
from diversion.outbox import services
from diversion.outbox.models import Channel, MessageStatus

bp = Blueprint("outbox", __name__, url_prefix="/messages")

PAGE_SIZE = 50


def mask_recipient(channel: Channel, recipient: str) -> str:
    """Enough of an address to recognise it, not enough to copy it: j•••@example.org, ••••789."""
    if channel is Channel.EMAIL and "@" in recipient:
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}•••@{domain}"
    return "••••" + recipient[-3:]


@bp.get("")
@roles(Role.MANAGER, Role.ADMIN)
def list_messages() -> Any:
    status_value = request.args.get("status") or None
    try:
        status = MessageStatus(status_value) if status_value else None
    except ValueError:
        abort(400)
    before = parsing.query_int(request.args.get("before"))
    subject_type = request.args.get("subject_type") or None
    subject_id = request.args.get("subject_id") or None
    if subject_type == "referral" and subject_id and parsing.query_int(subject_id) is None:
        abort(400)
    page = services.list_messages(status=status, subject_type=subject_type,
                                  subject_id=subject_id, before=before, limit=PAGE_SIZE)
    return render_template(
        "outbox/messages.html", page=page, status=status, statuses=list(MessageStatus),
        subject_type=subject_type, subject_id=subject_id, before=before,
        mask_recipient=mask_recipient,
    )


@bp.post("/<int:message_id>/resend")
@roles(Role.MANAGER, Role.ADMIN)
def resend(message_id: int) -> Any:
    try:
        with savepoint():
            copy = services.resend_message(message_id=message_id, actor=current_actor(),
                                           now=now_utc())
    except Conflict as error:
        flash(error.message, "error")
    else:
        flash(f"Message {message_id} will be sent again as message {copy.id}", "success")
    return redirect(url_for("outbox.list_messages", **_filters_from(request.form)))


def _filters_from(form: Any) -> dict[str, Any]:
    return {key: form[key] for key in ("status", "subject_type", "subject_id") if form.get(key)}


@bp.app_template_global()
def referral_message_counts(referral_id: int) -> dict[str, int]:
    """For the referral page (managers): its messages and its bookings' messages by status."""
    return services.count_for_subject("referral", referral_id)


def messages_panel(user: User, now: dt.datetime) -> Panel:
    """Messages that did not reach their person: each status a line, linked to the messages
    list filtered by it (`ix_outbox_messages_status_id`: one index range each)."""
    return Panel("Messages not delivered", [
        Line(label, services.count_with_status(status), "outbox.list_messages",
             {"status": status.value})
        for label, status in (("Failed", MessageStatus.FAILED),
                              ("Expired before they could be sent", MessageStatus.EXPIRED))
    ])
