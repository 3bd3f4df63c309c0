"""Bookings: places on sessions, transfers, cancellations, waiting lists, allocation, fees."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import String, cast, select

from diversion.auth.models import Role
from diversion.bookings import cli, places, queries, views, waiting_list
from diversion.bookings.models import Booking
from diversion.core.dashboard import add_panel
from diversion.courses.sessions import set_waiting_lists
from diversion.outbox.services import add_related_subjects
from diversion.referrals.signals import referral_moved, referrals_moved
from diversion.referrals.views import add_page_context


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(views.fees_bp)
    add_panel(app, views.fees_panel, roles=(Role.MANAGER,))
    app.cli.add_command(cli.sessions_cli)
    referral_moved.connect(places.follow_referral, weak=False)
    referrals_moved.connect(places.follow_referrals, weak=False)
    add_page_context(app, queries.referral_page_context)
    add_related_subjects(app, "referral", _bookings_of_referral)
    set_waiting_lists(counts=waiting_list.waiting_counts, has_queue=waiting_list.has_waiting_list)


def _bookings_of_referral(referral_id: Any) -> tuple[str, Any]:
    """A referral's messages include those about its bookings (reminders, booking notices)."""
    return "booking", select(cast(Booking.id, String)).where(Booking.referral_id == int(referral_id))
