"""The audit log page: events named in words, their objects named by person and reference.

Audit rows never hold personal data in their details (docs/data-protection.md); the page joins
the names in when it shows a page: one batched query per kind of object, however many rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, exists, false, func, or_, select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.auth.models import User
from diversion.bookings.models import Booking
from diversion.core import paging
from diversion.core.extensions import db
from diversion.core.timeutils import london_midnight_in_utc
from diversion.referrals import queries as referral_queries
from diversion.referrals.models import Referral

SORTS = {
    "newest": paging.Sort("Newest first", (AuditEvent.at.expression, AuditEvent.id.expression),
                          descending=True),
    "oldest": paging.Sort("Oldest first", (AuditEvent.at.expression, AuditEvent.id.expression)),
    "action": paging.Sort("Action", (AuditEvent.action.expression, AuditEvent.id.expression)),
}

AREAS = {
    "auth": "Sign-in", "booking": "Booking", "calendar_feed": "Calendar feed",
    "certificate": "Certificate", "demo": "Demo data", "fee": "Fee", "fees_outstanding": "Fees outstanding",
    "force": "Force", "message": "Message", "messages": "Messages", "payment": "Payment",
    "payments": "Payments", "person": "Person", "programme": "Programme", "referral": "Referral",
    "register": "Register", "reminder_plan": "Reminder plan", "reoffence": "Reoffence",
    "report": "Report", "selfservice": "Self-service", "session": "Session", "token": "API token",
    "user": "User account", "venue": "Venue", "waiting_list": "Waiting list", "audit": "Audit log",
    "attendees": "Attendees",
}
WORDS = {
    "auth.sign_in": "Signed in", "auth.sign_in_failed": "Sign-in failed",
    "auth.sign_in_throttled": "Sign-in refused: too many tries", "auth.sign_out": "Signed out",
    "auth.password_change": "Changed their password",
    "booking.create": "Booked a place", "booking.cancel": "Cancelled a booking",
    "booking.transfer": "Moved a booking", "booking.allocate": "Allocated places",
    "fee.payment": "Recorded a payment", "fee.refund": "Refunded a payment", "fee.waive": "Waived a fee",
    "fee.waiver_reinstated": "Reinstated a waived fee",
    "fees_outstanding.view": "Viewed fees outstanding",
    "fees_outstanding.export": "Downloaded fees outstanding",
    "message.resend": "Sent a message again", "message.view": "Read a message",
    "messages.export": "Downloaded messages", "payments.export": "Downloaded payments",
    "payments.view": "Viewed payments",
    "audit.export": "Downloaded the audit log", "attendees.export": "Downloaded a session's attendees",
    "person.create": "Added a person", "person.update": "Changed a person's details",
    "person.matches_view": "Saw people on record who may be the person referred",
    "person.contact_view": "Opened a person's contact details to change them",
    "person.contact_change": "Changed a person's contact details",
    "referral.create": "Made a referral", "referral.view": "Viewed a referral",
    "referral.import": "Imported referrals", "referral.pin_reissue": "Issued a new PIN",
    "register.view": "Viewed a register", "register.save": "Saved a register",
    "register.submit": "Submitted a register", "session.view_people": "Viewed who is booked",
    "user.create": "Created an account", "user.update": "Changed an account",
    "user.activate": "Reactivated an account", "user.deactivate": "Deactivated an account",
    "user.password_reset": "Reset a password", "token.create": "Created an API token",
    "token.revoke": "Revoked an API token",
    # Reads of lists and searches (docs/DESIGN.md "audit of reads")
    "referral.list": "Listed or searched referrals",
    "referral.api_list": "Listed referrals through the API",
    "referral.export": "Downloaded referrals", "messages.list": "Listed messages",
    "audit.view": "Read the audit log", "booking.allocate_preview": "Previewed an allocation",
    "selfservice.locked_view": "Listed locked booking pages",
    "person.subject_access_check": "Opened a subject access export",
    "person.subject_access_export": "Downloaded a subject access export",
}


def action_words(action: str) -> str:
    """"referral.view" -> "Viewed a referral"; an action without words: "Referral: withdrawn"."""
    if action in WORDS:
        return WORDS[action]
    area, _, verb = action.partition(".")
    return f"{AREAS.get(area, area.replace('_', ' ').capitalize())}: {verb.replace('_', ' ')}"


def action_choices() -> list[tuple[str, str]]:
    """The action filter: every area (any of its actions), then the actions with words."""
    areas = [(f"{key}.", f"{label} (any)") for key, label in sorted(AREAS.items(), key=lambda kv: kv[1])]
    return areas + sorted(((key, label) for key, label in WORDS.items()), key=lambda kv: kv[1])


@dataclass(frozen=True)
class AuditFilters:
    search: str = ""  # a person's family name or a referral reference
    user_id: int | None = None
    action: str = ""  # a prefix: "referral." or "referral.view"
    category: AuditCategory | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @property
    def is_empty(self) -> bool:
        return self == AuditFilters()

    def for_audit(self) -> dict[str, Any]:
        """The filters, for the export's own audit row: never the name searched for."""
        return {"search": bool(self.search), "user_id": self.user_id, "action": self.action or None,
                "category": self.category.value if self.category else None,
                "date_from": self.date_from.isoformat() if self.date_from else None,
                "date_to": self.date_to.isoformat() if self.date_to else None}


def about_referrals(referral_ids: Select[Any]) -> ColumnElement[bool]:
    """Events about these referrals, their people or their bookings (one condition)."""
    text_ids = select(cast(Referral.id, String)).where(Referral.id.in_(referral_ids))
    people = select(cast(Referral.person_id, String)).where(Referral.id.in_(referral_ids))
    bookings = select(cast(Booking.id, String)).where(Booking.referral_id.in_(referral_ids))
    return or_(and_(AuditEvent.object_type == "referral", AuditEvent.object_id.in_(text_ids)),
               and_(AuditEvent.object_type == "person", AuditEvent.object_id.in_(people)),
               and_(AuditEvent.object_type == "booking", AuditEvent.object_id.in_(bookings)))


def showed_referrals(referral_ids: Select[Any]) -> ColumnElement[bool]:
    """Lists, searches and exports whose audit row names one of these referrals among those it
    showed (`details["shown"]`, referral ids: diversion.audit.services.shown_details)."""
    if db.session.get_bind().dialect.name == "postgresql":
        shown = func.json_array_elements_text(AuditEvent.details["shown"]).table_valued(
            "value").alias("shown")
        wanted: Select[Any] = select(cast(Referral.id, String)).where(Referral.id.in_(referral_ids))
    else:
        shown = func.json_each(AuditEvent.details, "$.shown").table_valued("value").alias("shown")
        wanted = referral_ids
    return exists(select(1).select_from(shown).where(shown.c.value.in_(wanted)))


def filtered_events(filters: AuditFilters, *, today: dt.date) -> Select[Any]:
    query = select(AuditEvent)
    if filters.search:
        ids = referral_queries.matching_referral_ids(filters.search, today=today)
        query = query.where(false() if ids is None
                            else or_(about_referrals(ids), showed_referrals(ids)))
    if filters.user_id is not None:
        query = query.where(AuditEvent.actor_user_id == filters.user_id)
    if filters.action:
        query = query.where(AuditEvent.action.startswith(filters.action, autoescape=True))
    if filters.category is not None:
        query = query.where(AuditEvent.category == filters.category)
    if filters.date_from is not None:
        query = query.where(AuditEvent.at >= london_midnight_in_utc(filters.date_from))
    if filters.date_to is not None:
        query = query.where(AuditEvent.at < london_midnight_in_utc(filters.date_to + dt.timedelta(days=1)))
    return query


@dataclass(frozen=True)
class Named:
    """What an event is about, for people: "SMITH, John" and "AB12CD34", linked to the referral."""

    kind: str  # "Referral", "Person", "Booking", "User account" ...
    name: str
    reference: str = ""  # a referral reference: the link goes to /referrals/<reference>
    user_id: int | None = None  # a user account: the link goes to its admin page


def _ints(values: set[str]) -> list[int]:
    return sorted(int(v) for v in values if v.isdigit() and len(v) < 18)


def name_objects(events: Sequence[AuditEvent]) -> dict[tuple[str, str], Named]:
    """Name each event's object: at most one query per kind of object, however many events."""
    wanted: dict[str, set[str]] = {}
    for event in events:
        if event.object_type and event.object_id:
            wanted.setdefault(event.object_type, set()).add(event.object_id)
    named: dict[tuple[str, str], Named] = {}
    referral_ids = _ints(wanted.get("referral", set()))
    booking_of = dict(db.session.execute(
        select(Booking.id, Booking.referral_id).where(Booking.id.in_(_ints(wanted.get("booking", set())))))
        .all()) if wanted.get("booking") else {}
    person_ids = _ints(wanted.get("person", set()))
    referral_of_person: dict[int, int] = {}
    if person_ids:  # a person is named with their newest referral
        for person_id, referral_id in db.session.execute(
                select(Referral.person_id, Referral.id).where(Referral.person_id.in_(person_ids))
                .order_by(Referral.id)):
            referral_of_person[person_id] = referral_id
    people = referral_queries.referral_people(
        referral_ids + list(booking_of.values()) + list(referral_of_person.values()))
    for referral_id in referral_ids:
        if referral_id in people:
            name, reference = people[referral_id]
            named[("referral", str(referral_id))] = Named("Referral", name, reference)
    for booking_id, referral_id in booking_of.items():
        if referral_id in people:
            name, reference = people[referral_id]
            named[("booking", str(booking_id))] = Named("Booking", name, reference)
    for person_id, referral_id in referral_of_person.items():
        name, reference = people[referral_id]
        named[("person", str(person_id))] = Named("Person", name, reference)
    user_ids = _ints(wanted.get("user", set()))
    if user_ids:
        for user_id, user_name in db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids))):
            named[("user", str(user_id))] = Named("User account", user_name, user_id=user_id)
    return named


def actor_names(events: Sequence[AuditEvent]) -> dict[int, str]:
    return referral_queries.user_names([e.actor_user_id for e in events])


# The keys under which a list's audit row holds the ids it showed (audit.services.shown_details).
SHOWN_KEYS = {"shown": "referral", "messages": "message", "events": "event"}


def shown_ids(details: dict[str, Any]) -> str:
    """The referral ids a list, search or export showed, for the CSV ("12 15 19")."""
    shown = details.get("shown")
    return " ".join(str(i) for i in shown) if isinstance(shown, list) else ""


def summarise(details: dict[str, Any]) -> str:
    """The details in a line: "changed: name, email; count: 3" (details hold no personal data).
    The ids a list showed are counted here ("shown: 25 referrals"); the CSV lists the referral
    ids in a column of their own (`shown_ids`)."""
    parts = []
    for key, value in details.items():
        if value is False or value in (None, "", [], {}):
            continue
        if value is True:
            value = "yes"
        if key in SHOWN_KEYS and isinstance(value, list):
            noun = SHOWN_KEYS[key]
            parts.append(f"shown: {len(value)} {noun if len(value) == 1 else noun + 's'}")
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k.replace('_', ' ')} {'yes' if v is True else v}"
                              for k, v in value.items() if v not in (None, "", [], False))
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value in ("", None):
            continue
        parts.append(f"{key.replace('_', ' ')}: {value}")
    text = "; ".join(parts)
    return text if len(text) <= 200 else text[:199] + "…"
