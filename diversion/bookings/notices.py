"""What a booking tells the person: confirmation (with an .ics file by email), cancellation,
being taken off a waiting list. Each is an outbox row whose subject is the booking (the
referral, for a waiting list); nothing is sent without an address.

- `tell(referral=, template=, key=, now=, booking=, subject_id=, extra=None, ics=None)`
- `confirmation_message(booking, now=, replaces=None, from_waiting_list=False)` -> enqueue's
  arguments, or None; `send_confirmation(booking, now=, …)`
- `tell_removed_from_waiting_list(referral=, session=, entry_id=, now=)`
- `allocated_confirmations(placed, now=)`: the same messages for many new bookings (bulk
  allocation), built from plain values (the people as rows) with each session's part worked
  out once
- `session_context(session)`: what a message says about the session
- `deadline_context(referral)`: the date he must complete a course by (`complete_by`)
- `fee_context(reference, owed_pence)`: what a booking confirmation says about a fee still owed
  (the fee reminder's words: `outstanding`, `pays_online`, `pay_url`, `phone`, `hours`), or
  nothing when none is
- `links_context(reference)`: the links in every message to the man (`manage_url`, `pay_url`);
  `links_context_maker()`, `pay_url_maker()`: the same for bulk messages, the link's template
  looked up once (`core.links.external_url_maker`)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from flask import current_app

from diversion.bookings.fees import fee_status
from diversion.bookings.ics import booking_ics, new_booking_calendars, session_location
from diversion.bookings.models import Booking
from diversion.core.extensions import db
from diversion.core.links import external_url, external_url_maker
from diversion.core.timeutils import format_london
from diversion.core.web import service_contact
from diversion.courses.models import CourseSession
from diversion.outbox.models import Channel, OutboxMessage
from diversion.outbox.rules import choose_contact, pounds
from diversion.outbox.services import enqueue
from diversion.referrals.models import Referral

log = logging.getLogger(__name__)


SUBJECT = "booking"


CONFIRMATION = "booking_confirmation"


def _clock(value: dt.datetime) -> str:
    return format_london(value, "%-I:%M%p").lower()


def arrival_context(session: CourseSession) -> dict[str, Any]:
    """When to arrive or join, and the late cut-off after which nobody is let in (the
    programme's `late_cutoff_minutes`, as attendance.rules.late_cutoff_at), in London time."""
    cutoff = session.starts_at + dt.timedelta(minutes=session.programme.late_cutoff_minutes)
    return {"start_time": _clock(session.starts_at), "late_cutoff": _clock(cutoff)}


def deadline_context(referral: Referral) -> dict[str, str]:
    """The date he must complete a course by, for the messages that leave him without a place
    ("You still need to book and complete a course by Friday 30 April 2027")."""
    return {"complete_by": referral.completion_deadline.strftime("%A %-d %B %Y")}


SELF_SERVICE_START = "selfservice.start"


def manage_url(reference: str) -> str:
    """`/book?ref=<REFERENCE>`: the self-service sign-in with his reference filled in (he still
    gives his PIN). The contract with the self-service pages (docs/DESIGN.md, "Links in
    messages")."""
    return external_url(SELF_SERVICE_START, ref=reference)


def pay_url(reference: str) -> str:
    """`/book?ref=<REFERENCE>&then=pay`: as `manage_url`, landing on the fee after sign-in."""
    return external_url(SELF_SERVICE_START, ref=reference, then="pay")


def links_context(reference: str) -> dict[str, str]:
    """The link every message to the man carries to his booking."""
    return {"manage_url": manage_url(reference)}


def links_context_maker() -> Callable[[str], dict[str, str]]:
    """`links_context` for the many references of bulk messages, the link's template looked up
    once."""
    manage = external_url_maker(SELF_SERVICE_START, "ref")
    return lambda reference: {"manage_url": manage(reference)}


def pay_url_maker() -> Callable[[str], str]:
    """`pay_url` for the many references of bulk messages, its template looked up once."""
    return external_url_maker(SELF_SERVICE_START, "ref", then="pay")


FEE_CONTEXT_KEYS = ("outstanding", "pay_url", "pays_online", "phone", "hours")


def booking_of(message: OutboxMessage) -> Booking | None:
    """The booking a message about a booking is about (None for another subject, or a
    booking no longer there)."""
    subject_id = message.subject_id or ""
    if message.subject_type != SUBJECT or not subject_id.isdigit() or len(subject_id) > 18:
        return None
    return db.session.get(Booking, int(subject_id))


def confirmation_again(message: OutboxMessage) -> dict[str, Any]:
    """A booking confirmation sent again (outbox.services.add_resend_context) says what is
    owed now, not what was owed when it failed: he may have paid since."""
    booking = booking_of(message)
    if booking is None:
        return dict(message.context)
    kept = {key: value for key, value in message.context.items() if key not in FEE_CONTEXT_KEYS}
    return {**kept, **fee_context(booking.referral.reference,
                                  fee_status(booking.referral).still_owed_pence)}


def fee_context(reference: str, owed_pence: int, *, contact: Mapping[str, str] | None = None,
                pay: Callable[[str], str] = pay_url) -> dict[str, Any]:
    """A fee still owed when he is booked, in the fee reminder's words: how much
    (`outstanding`, "£150.00") and how to pay: online (`pays_online`, `pay_url`) or by phoning
    the team (`phone`, `hours`). Empty when nothing is owed, so the message says nothing of it
    (as a message queued before these keys existed)."""
    if owed_pence <= 0:
        return {}
    contact = contact or service_contact()
    return {"outstanding": pounds(owed_pence),
            "pay_url": pay(reference),
            "pays_online": current_app.config["SETTINGS"].payment_backend == "govuk_pay",
            "phone": contact["phone"], "hours": contact["hours"]}


def session_context(session: CourseSession) -> dict[str, Any]:
    venue = session.venue
    return {
        "starts_at": format_london(session.starts_at, "%A %-d %B %Y at %-I:%M%p").replace(
            "AM", "am").replace("PM", "pm"),
        "ends_at": format_london(session.ends_at, "%-I:%M%p").replace("AM", "am").replace(
            "PM", "pm"),
        "is_online": venue.is_online,
        "venue_name": venue.name,
        "venue_address": ", ".join(p for p in (venue.address_line_1, venue.address_line_2,
                                               venue.town, venue.postcode) if p),
        "step_free": venue.step_free_access,
    }


def tell(*, referral: Referral, template: str, key: str, now: dt.datetime,
         booking: Booking | None, subject_id: int, extra: Mapping[str, Any] | None = None,
         ics: str | None = None, subject_type: str = SUBJECT) -> None:
    message = _message(referral=referral, template=template, key=key, now=now,
                       booking=booking, subject_id=subject_id, extra=extra, ics=ics)
    if message is not None:
        enqueue(**{**message, "subject_type": subject_type}, now=now)


WAITING_LIST_REMOVED = "waiting_list_removed"


def tell_removed_from_waiting_list(*, referral: Referral, session: CourseSession, entry_id: int,
                                   joined_at: dt.datetime, now: dt.datetime,
                                   course_cancelled: bool = False) -> None:
    """A manager took him out of a session's line, or cancelled the session: he is told, so he
    does not wait for a place that will not come (his leaving it himself, or being booked, tells
    him nothing more). The key names the entry by its id and when he joined: SQLite may give a
    deleted entry's id to a later one, whose notice must not be taken for this one's."""
    key = f"{WAITING_LIST_REMOVED}:{entry_id}:{joined_at:%Y%m%dT%H%M%S%f}"
    tell(referral=referral, template=WAITING_LIST_REMOVED, key=key,
         now=now, booking=None, subject_id=referral.id, subject_type="referral",
         extra={"starts_at": session_context(session)["starts_at"],
                "course_cancelled": course_cancelled, **deadline_context(referral)})


def _message(*, referral: Referral, template: str, key: str, now: dt.datetime,
             booking: Booking | None, subject_id: int, extra: Mapping[str, Any] | None = None,
             ics: str | None = None) -> dict[str, Any] | None:
    """The outbox message telling the person something (enqueue's arguments), or None when
    there is no address to send it to."""
    person = referral.person
    contact = choose_contact(preferred=person.preferred_contact, email=person.email,
                             mobile=person.mobile)
    if contact is None:
        log.info("no email or mobile to send %s for booking %s", template, subject_id)
        return None
    channel, recipient = contact
    given = referral.person.given_names.split()
    context: dict[str, Any] = {"reference": referral.reference,
                               "given_name": given[0] if given else "",
                               **links_context(referral.reference)}
    if booking is not None:
        context.update(session_context(booking.session))
    context.update(extra or {})
    if ics and channel is Channel.EMAIL:
        context["ics"] = ics
    return {"dedupe_key": key, "channel": channel, "recipient": recipient, "template": template,
            "due_at": now, "context": context, "subject_type": SUBJECT, "subject_id": subject_id,
            "expires_at": booking.session.starts_at if booking is not None else None}


def confirmation_message(booking: Booking, *, now: dt.datetime, replaces: Booking | None = None,
                         from_waiting_list: bool = False) -> dict[str, Any] | None:
    return _message(referral=booking.referral, template=CONFIRMATION,
                    key=f"booking-confirmation:{booking.id}", now=now, booking=booking,
                    subject_id=booking.id,
                    extra={"is_change": replaces is not None,
                           "from_waiting_list": from_waiting_list,
                           **arrival_context(booking.session),
                           **fee_context(booking.referral.reference,
                                         fee_status(booking.referral).still_owed_pence)},
                    ics=booking_ics(booking, now=now, cancelled=[replaces] if replaces else []))


def send_confirmation(booking: Booking, *, now: dt.datetime, replaces: Booking | None = None,
                      from_waiting_list: bool = False) -> None:
    message = confirmation_message(booking, now=now, replaces=replaces,
                                   from_waiting_list=from_waiting_list)
    if message is not None:
        enqueue(**message, now=now)


def allocated_confirmations(placed: Sequence[tuple[int, str, Any, CourseSession]], *,
                            now: dt.datetime, owed: Mapping[str, int] | None = None
                            ) -> Iterator[dict[str, Any]]:
    """`confirmation_message` of many new active bookings, each given as (booking id, the
    referral's reference, his person or a row of its given_names, preferred_contact, email and
    mobile, session): the same messages, the session's part (and calendar) worked out once per
    session rather than once per booking. Bookings with no address to send to are left out.

    The sessions' parts are read here, at the call; the messages are then made one by one as
    they are asked for (a bulk write sends each part while the next is made) from plain values
    only: nothing is read from the database while a COPY holds the connection. `owed`: each
    reference's fee still owed, in pence (`fees.balances`, read by the caller beforehand)."""
    parts: dict[int, tuple[dict[str, Any], Callable[[int, str], str], dt.datetime]] = {}
    for _, _, _, session in placed:
        if session.id not in parts:
            parts[session.id] = ({**session_context(session), "is_change": False,
                                  "from_waiting_list": False, **arrival_context(session)},
                                 new_booking_calendars(
                                     starts_at=session.starts_at, ends_at=session.ends_at,
                                     location=session_location(session), now=now),
                                 session.starts_at)
    return _confirmations([(booking_id, reference, person, parts[session.id])
                           for booking_id, reference, person, session in placed], now=now,
                          owed=owed or {})


def _confirmations(placed: list[tuple[int, str, Any, tuple[dict[str, Any],
                                                          Callable[[int, str], str],
                                                          dt.datetime]]], *,
                   now: dt.datetime, owed: Mapping[str, int]) -> Iterator[dict[str, Any]]:
    links = links_context_maker()
    pay, team = pay_url_maker(), service_contact()
    for booking_id, reference, person, (about_session, calendar, starts_at) in placed:
        contact = choose_contact(preferred=person.preferred_contact, email=person.email,
                                 mobile=person.mobile)
        if contact is None:
            log.info("no email or mobile to send %s for booking %s", CONFIRMATION, booking_id)
            continue
        channel, recipient = contact
        given = person.given_names.split()
        context: dict[str, Any] = {"reference": reference, "given_name": given[0] if given else "",
                                   **links(reference), **about_session,
                                   **fee_context(reference, owed.get(reference, 0),
                                                 contact=team, pay=pay)}
        if channel is Channel.EMAIL:
            context["ics"] = calendar(booking_id, reference)
        yield {"dedupe_key": f"booking-confirmation:{booking_id}", "channel": channel,
               "recipient": recipient, "template": CONFIRMATION, "due_at": now,
               "context": context, "subject_type": SUBJECT, "subject_id": booking_id,
               "expires_at": starts_at}
