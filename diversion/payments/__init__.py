"""Paying the course fee online through GOV.UK Pay (DIVERSION_PAYMENT_BACKEND=govuk_pay).

The man's pages (pay, return) are in selfservice, which calls these services; this feature adds
the reconciliation job, the managers' panel and what the managers' fee section shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask

from diversion.auth.models import Role, User
from diversion.core.dashboard import Line, Panel, add_panel
from diversion.core.jobs import add_job
from diversion.payments import govukpay, services, views
from diversion.referrals.models import Referral


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    add_job(app, "online_payments", reconcile, every=dt.timedelta(minutes=10),
            description="ask GOV.UK Pay about unfinished online payments; apply successes")
    add_panel(app, flagged_panel, roles=(Role.MANAGER,), order=70)
    app.add_template_global(online_payments_of, "online_payments_of")
    app.add_template_global(services.refundable_pence, "online_refundable_pence")
    app.add_template_global(services.list_refunds_of, "online_refunds_of")


def reconcile(*, now: dt.datetime) -> dict[str, int]:
    return services.reconcile_online_payments(client=govukpay.client_from_settings(), now=now)


def online_payments_of(referral: Referral) -> list[Any]:
    """The referral's online payment attempts, for the managers' fee section."""
    return services.list_online_payments(referral)


def flagged_panel(user: User, now: dt.datetime) -> Panel:
    """Managers see online payments that arrived when the fee no longer needed them."""
    return Panel("Online payments", [Line("Paid more than was owed or refund failed: to refund",
                                          services.count_flagged_query(), "payments.flagged")])
