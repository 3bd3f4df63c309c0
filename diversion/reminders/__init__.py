"""Reminders: each programme's reminder plan, and the reminders it schedules for each booking."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from diversion.bookings.signals import booking_transferred, fee_changed, fee_cleared
from diversion.core.jobs import add_job
from diversion.outbox.services import add_resend_context
from diversion.referrals.signals import referral_moved, referrals_moved
from diversion.reminders import rules, session_reminders, triggers, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    referral_moved.connect(triggers.follow_referral, weak=False)
    referrals_moved.connect(triggers.follow_referrals, weak=False)
    booking_transferred.connect(triggers.plan_transferred_booking, weak=False)
    fee_cleared.connect(session_reminders.cancel_fee_reminders, weak=False)
    fee_changed.connect(session_reminders.follow_fee, weak=False)
    add_resend_context(app, rules.FEE_TEMPLATE, session_reminders.fee_reminder_again)
    add_job(app, "plan_reminders", triggers.run_reminder_sweep, every=dt.timedelta(minutes=5),
            description="plan reminders for new bookings; cancel or re-time those of cancelled "
                        "or moved bookings and sessions; booking-deadline messages")
