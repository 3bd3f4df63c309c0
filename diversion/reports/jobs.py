"""The monthly report sweep (registered in diversion/scheduler/jobs.py as `monthly_report`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from diversion.core.links import external_url
from diversion.core.timeutils import london_today
from diversion.reports.models import ArchivedReport
from diversion.reports.monthly import prepare_monthly_reports


def download_link(archived: ArchivedReport) -> str:
    """The manager-only download page of a stored PDF, as an absolute URL for an email."""
    return external_url("reports.download_monthly", archive_id=archived.id)


def prepare_monthly(*, now: dt.datetime) -> dict[str, Any]:
    """Store last month's PDFs and email every active manager a link (each once)."""
    return prepare_monthly_reports(today=london_today(now), now=now, link_for=download_link)
