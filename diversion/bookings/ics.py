"""The calendar file (RFC 5545) sent with a booking confirmation and offered for download."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from diversion.bookings.models import Booking
from diversion.courses.ical import UID_DOMAIN, CalendarEvent, build_calendar, one_event_calendars
from diversion.courses.models import CourseSession

SUMMARY = "Course booking"  # discreet: never names the offence or the course's subject
CALENDAR_NAME = "Course booking"


def booking_uid(booking_id: int) -> str:
    """The same UID every time a booking is published, so calendars update it in place."""
    return f"booking-{booking_id}@{UID_DOMAIN}"


def session_location(session: CourseSession) -> str:
    """Where a booking's calendar event says it is (the same for every booking of a session)."""
    venue = session.venue
    return "Online (joining link sent by email)" if venue.is_online else ", ".join(
        part for part in (venue.name, venue.address_line_1, venue.address_line_2, venue.town,
                          venue.postcode) if part)


def booking_event(*, booking_id: int, reference: str, starts_at: dt.datetime,
                  ends_at: dt.datetime, location: str, is_cancelled: bool) -> CalendarEvent:
    """A booking's calendar event, from plain values (bulk confirmations build many)."""
    return CalendarEvent(
        uid=booking_uid(booking_id), starts_at=starts_at, ends_at=ends_at,
        summary=SUMMARY, location=location, description=_description(reference),
        is_cancelled=is_cancelled, sequence=1 if is_cancelled else 0)


def _description(reference: str) -> str:
    return (f"Your booking reference is {reference}. "
            "Arrive on time: late arrivals cannot be admitted.")


def new_booking_calendars(*, starts_at: dt.datetime, ends_at: dt.datetime, location: str,
                          now: dt.datetime) -> Callable[[int, str], str]:
    """`(booking id, reference) -> ` the calendar of a new active booking of a session
    (`booking_ics`), for its many bookings (bulk confirmations): what they share made once."""
    calendar = one_event_calendars(
        booking_event(booking_id=0, reference="", starts_at=starts_at, ends_at=ends_at,
                      location=location, is_cancelled=False), now=now, name=CALENDAR_NAME)
    return lambda booking_id, reference: calendar(booking_uid(booking_id),
                                                  _description(reference))


def _event(booking: Booking, *, is_cancelled: bool) -> CalendarEvent:
    session = booking.session
    return booking_event(booking_id=booking.id, reference=booking.referral.reference,
                         starts_at=session.starts_at, ends_at=session.ends_at,
                         location=session_location(session), is_cancelled=is_cancelled)


def booking_ics(booking: Booking, *, now: dt.datetime,
                cancelled: Sequence[Booking] = ()) -> str:
    """A calendar with the booking's event (cancelled if the booking no longer holds a place),
    plus cancelled events for bookings it replaces (a transfer), so calendars drop them."""
    events = [_event(old, is_cancelled=True) for old in cancelled]
    events.append(_event(booking, is_cancelled=not booking.is_active))
    return build_calendar(events, now=now, name=CALENDAR_NAME)
