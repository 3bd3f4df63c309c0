"""The register: attendance taken on the day, outcomes back to the referral, certificates."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from diversion.attendance import certificates, jobs, views
from diversion.attendance import outcomes as attendance_outcomes
from diversion.attendance.certificates import certificate_attachment
from diversion.auth.models import Role
from diversion.bookings.signals import fee_cleared
from diversion.core.dashboard import add_panel
from diversion.core.jobs import add_job
from diversion.outbox.dispatcher import add_attachment_maker
from diversion.referrals.signals import referral_moved, referrals_moved


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    add_panel(app, views.registers_panel, roles=(Role.MANAGER,), order=30)
    add_panel(app, views.facilitator_registers_panel, roles=(Role.FACILITATOR,), order=30)
    fee_cleared.connect(attendance_outcomes.complete_after_fee, weak=False)
    add_attachment_maker(app, "completion_certificate", certificate_attachment)
    referral_moved.connect(certificates.follow_referral, weak=False)
    referrals_moved.connect(certificates.follow_referrals, weak=False)
    add_job(app, "grace_window", jobs.run_grace_window, every=dt.timedelta(hours=1),
            description="missed referrals whose grace window has closed become not completed")
    add_job(app, "deadline", jobs.run_deadline, every=dt.timedelta(hours=1),
            description="complete attendees whose fee is cleared; close referrals past the "
                        "completion deadline")
