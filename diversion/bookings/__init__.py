"""Bookings: places on sessions, transfers, cancellations, waiting lists, allocation, fees."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from flask import Flask
from sqlalchemy import String, cast, select

from diversion.auth.models import Role
from diversion.bookings import cli, notices, places, queries, views, waiting_list
from diversion.bookings.models import Booking, BookingStatus, WaitingListEntry
from diversion.core.dashboard import add_panel
from diversion.core.extensions import db
from diversion.courses.sessions import set_people_shown, set_queue_condition, set_waiting_counts
from diversion.outbox.models import OutboxMessage
from diversion.outbox.services import (
    Recipient,
    SubjectPerson,
    add_current_recipient,
    add_related_subjects,
    add_resend_context,
    add_subject_people,
)
from diversion.referrals import contact
from diversion.referrals import queries as referral_queries
from diversion.referrals.signals import referral_moved, referrals_moved
from diversion.referrals.views import add_page_context


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(views.fees_bp)
    add_panel(app, views.fees_panel, roles=(Role.MANAGER,), order=20)
    set_queue_condition(app, waiting_list.has_waiting_list)
    app.cli.add_command(cli.sessions_cli)
    referral_moved.connect(places.follow_referral, weak=False)
    referrals_moved.connect(places.follow_referrals, weak=False)
    add_page_context(app, queries.referral_page_context)
    add_related_subjects(app, "referral", _bookings_of_referral)
    add_subject_people(app, "booking", _people_of_bookings, _bookings_found)
    add_current_recipient(app, "booking", _current_recipient)
    add_resend_context(app, notices.CONFIRMATION, notices.confirmation_again)
    set_waiting_counts(app, waiting_list.waiting_counts)
    set_people_shown(app, _people_on_session)


def _people_on_session(session_id: int, with_waiting: bool) -> list[int]:
    """The referral ids booked on a session (and waiting for it), for the session page's audit
    row: one query."""
    booked = select(Booking.referral_id).where(Booking.session_id == session_id,
                                               Booking.status == BookingStatus.ACTIVE)
    query = booked.union_all(select(WaitingListEntry.referral_id).where(
        WaitingListEntry.session_id == session_id)) if with_waiting else booked
    return sorted(set(db.session.scalars(query)))


def _bookings_of_referral(referral_id: Any) -> tuple[str, Any]:
    """A referral's messages include those about its bookings (reminders, booking notices)."""
    return "booking", select(cast(Booking.id, String)).where(Booking.referral_id == int(referral_id))


def _people_of_bookings(booking_ids: Sequence[str]) -> dict[str, SubjectPerson]:
    """The person of each booking a message is about: two queries, however many bookings."""
    numbers = [int(i) for i in booking_ids if i.isdigit() and len(i) < 18]
    referral_of = dict(db.session.execute(
        select(Booking.id, Booking.referral_id).where(Booking.id.in_(numbers))).all())
    people = referral_queries.referral_people(list(referral_of.values()))
    return {str(booking_id): SubjectPerson(*people[referral_id])
            for booking_id, referral_id in referral_of.items() if referral_id in people}


def _current_recipient(message: OutboxMessage) -> Recipient | None:
    """A failed message about a booking is sent again to its person's current address."""
    booking = notices.booking_of(message)
    return None if booking is None else contact.recipient_for_referral(
        booking.referral_id, message.template)


def _bookings_found(text: str, today: dt.date) -> Any:
    """The bookings of the referrals a name or reference search finds."""
    ids = referral_queries.matching_referral_ids(text, today=today)
    return None if ids is None else select(cast(Booking.id, String)).where(
        Booking.referral_id.in_(ids))
