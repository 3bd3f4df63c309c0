"""The managers' messages page: what was sent, what failed, and sending a failed one again."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from jinja2 import TemplateError

from diversion.audit.models import AuditCategory
from diversion.audit.services import record, shown_details
from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role, User
from diversion.core import listing, paging, parsing
from diversion.core.dashboard import Line, Panel
from diversion.core.errors import Conflict
from diversion.core.extensions import db
from diversion.core.timeutils import london_midnight_in_utc, london_today, now_utc
from diversion.core.transactions import savepoint
from diversion.outbox import services
from diversion.outbox.channels import Rendered
from diversion.outbox.dispatcher import render_message, render_subject
from diversion.outbox.forms import CHANNELS, MessageFilterForm
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.rules import failure_in_words

bp = Blueprint("outbox", __name__, url_prefix="/messages")
csv_bp = Blueprint("outbox_csv", __name__)  # /messages.csv, beside the page

def mask_recipient(channel: Channel, recipient: str) -> str:
    """Enough of an address to recognise it, not enough to copy it: j•••@example.org, ••••789."""
    if channel is Channel.EMAIL and "@" in recipient:
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}•••@{domain}"
    return "••••" + recipient[-3:]


SORTS = {
    "newest": paging.Sort("Newest first", (OutboxMessage.id.expression,), descending=True),
    "oldest": paging.Sort("Oldest first", (OutboxMessage.id.expression,)),
    "status": paging.Sort("Status", (OutboxMessage.status.expression, OutboxMessage.id.expression)),
}
CSV_HEADER = ("Message", "Name", "Reference", "Kind", "Channel", "To (masked)", "Status",
              "Due", "Sent", "Attempts", "Last error")


def _filters() -> tuple[MessageFilterForm, services.MessageFilters, bool]:
    """The filters the query string asks for; an unknown status or a bad date is a 400."""
    form = MessageFilterForm(request.args)
    valid = form.validate()
    subject_type = request.args.get("subject_type") or None
    subject_id = request.args.get("subject_id") or None
    if subject_type == "referral" and subject_id and parsing.query_int(subject_id) is None:
        abort(400)
    if not valid:
        return form, services.MessageFilters(subject_type=subject_type, subject_id=subject_id), False
    return form, services.MessageFilters(
        search=(form.q.data or "").strip(),
        kinds=(form.kind.data,) if form.kind.data else (),
        statuses=tuple(MessageStatus(value) for value in form.status.data or ()),
        channels=(Channel(form.channel.data),) if form.channel.data else (),
        date_from=form.date_from.data, date_to=form.date_to.data,
        subject_type=subject_type, subject_id=subject_id), True


def _audit_filters(filters: services.MessageFilters) -> dict[str, Any]:
    """The filters, for an audit row: which were used, never the name searched for."""
    return {
        "search": bool(filters.search), "kinds": list(filters.kinds),
        "statuses": [s.value for s in filters.statuses],
        "channels": [c.value for c in filters.channels],
        "date_from": filters.date_from.isoformat() if filters.date_from else None,
        "date_to": filters.date_to.isoformat() if filters.date_to else None,
        "subject_type": filters.subject_type, "subject_id": filters.subject_id,
    }


def _subject_person(filters: services.MessageFilters) -> services.SubjectPerson | None:
    if filters.subject_type and filters.subject_id:
        key = (filters.subject_type, filters.subject_id)
        return services.people_of([OutboxMessage(subject_type=key[0], subject_id=key[1])]).get(key)
    return None


def preview(message: OutboxMessage) -> str:
    """The subject line of an email (subject lines never name the offence), or "" for a text."""
    if message.channel is not Channel.EMAIL:
        return ""
    try:
        return render_subject(message)
    except (TemplateError, ValueError):
        return ""


@bp.get("")
@roles(Role.MANAGER, Role.ADMIN)
def list_messages() -> Any:
    """Messages filtered and sorted, a page at a time, each named by its person and reference."""
    form, filters, valid = _filters()
    shown = listing.listed(services.filtered_messages(filters, today=london_today(now_utc())),
                           sorts=SORTS, default_sort="newest", endpoint="outbox.list_messages",
                           csv_endpoint="outbox_csv.messages_csv")
    page, ordering = shown.page, shown.ordering
    form.sort.data = ordering.key
    people = services.people_of(page.items)
    if valid:
        # The page names each message's person: who saw which messages, by id.
        record(action="messages.list", category=AuditCategory.CONSULTATION, now=now_utc(),
               actor=current_actor(), object_type="outbox_message", details=shown_details(
                   (m.id for m in page.items), key="messages", filters=_audit_filters(filters),
                   sort=ordering.key, order=ordering.order))
    return render_template(
        "outbox/messages.html", page=page, form=form, filters=filters, ordering=ordering,
        sort_href=shown.sort_href, people=people, subject_person=_subject_person(filters),
        csv_href=shown.csv_href,
        mask_recipient=mask_recipient, kind_label=services.kind_label, preview=preview,
        channels=CHANNELS, filtered=not filters.is_empty, failure_in_words=failure_in_words,
        to_person=services.is_to_person,
        resend_args=[(k, v) for k, v in request.args.items(multi=True)],
    ), 200 if valid else 400


@csv_bp.get("/messages.csv")
@roles(Role.MANAGER, Role.ADMIN)
def messages_csv() -> Any:
    """The filtered messages, in the page's order, as CSV (docs/DESIGN.md "Staff lists")."""
    _, filters, valid = _filters()
    if not valid:
        return listing.back_to_list("outbox.list_messages")
    ordering = paging.Ordering.from_args(request.args, SORTS, "newest")
    query = services.filtered_messages(filters, today=london_today(now_utc()))
    columns = ordering.sort.columns
    query = query.order_by(*(c.desc() if ordering.descending else c.asc() for c in columns))
    messages = list(db.session.scalars(query))
    people = services.people_of(messages)
    record(action="messages.export", category=AuditCategory.DISCLOSURE, now=now_utc(),
           actor=current_actor(), details={"filters": _audit_filters(filters),
                                           "count": len(messages)})
    rows = []
    for m in messages:
        person = people.get((m.subject_type or "", m.subject_id or ""))
        rows.append((m.id, person.name if person else "", person.reference if person else "",
                     services.kind_label(m.template), CHANNELS[m.channel],
                     mask_recipient(m.channel, m.recipient), m.status.value,
                     listing.london(m.due_at), listing.london(m.sent_at), m.attempts,
                     m.last_error or ""))
    return listing.csv_download("messages.csv", CSV_HEADER, rows)


@bp.get("/<int:message_id>")
@roles(Role.MANAGER, Role.ADMIN)
def show_message(message_id: int) -> Any:
    """One message as it was (or will be) sent; reading it is audited."""
    message = services.get_message(message_id)
    person = services.people_of([message]).get((message.subject_type or "", message.subject_id or ""))
    try:
        rendered: Rendered | None = render_message(message)
    except (TemplateError, ValueError):
        rendered = None
    record(action="message.view", category=AuditCategory.CONSULTATION, now=now_utc(),
           actor=current_actor(), object_type="outbox_message", object_id=message.id)
    return render_template("outbox/message.html", message=message, person=person,
                           rendered=rendered, kind_label=services.kind_label,
                           channels=CHANNELS, mask_recipient=mask_recipient,
                           failure_in_words=failure_in_words, to_person=services.is_to_person)


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
    """The list's query string, carried through the resend form as `back_<name>` fields."""
    kept: dict[str, list[str]] = {}
    for key, value in form.items(multi=True):
        if key.startswith("back_") and key[5:6].isalpha() and value:  # never url_for's _options
            kept.setdefault(key[5:], []).append(value)
    return kept


@bp.app_template_global()
def referral_message_counts(referral_id: int) -> dict[str, int]:
    """For the referral page (managers): its messages and its bookings' messages by status."""
    return services.count_for_subject("referral", referral_id)


PANEL_DAYS = 30  # the dashboard counts messages due in the last 30 days (London), today included


def messages_panel(user: User, now: dt.datetime) -> Panel:
    """Messages due in the last 30 days that did not reach their person: each status a line,
    linked to the messages list filtered the same way. A window, so the count reads one range
    of `ix_outbox_messages_status_due_at` whatever the history; older ones stay on the list."""
    first = london_today(now) - dt.timedelta(days=PANEL_DAYS - 1)
    since = {f"date_from-{part}": str(value)
             for part, value in (("day", first.day), ("month", first.month), ("year", first.year))}
    return Panel("Messages not delivered", [
        Line(label, services.count_with_status_query(status, since=london_midnight_in_utc(first)),
             "outbox.list_messages", {"status": status.value, **since})
        for label, status in (
            (f"Failed in the last {PANEL_DAYS} days", MessageStatus.FAILED),
            (f"Expired before they could be sent, last {PANEL_DAYS} days", MessageStatus.EXPIRED))
    ])
