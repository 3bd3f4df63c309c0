"""The audit log: a row for every read and change of personal data and every security event."""

from __future__ import annotations

from typing import Any

from flask import Flask

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.signals import account_event


def init_app(app: Flask) -> None:
    account_event.connect(record_account_event, weak=False)


def record_account_event(_sender: Any, *, category: str, **event: Any) -> None:
    """Auth's account events go in the audit log like every other feature's."""
    record(category=AuditCategory(category), **event)
