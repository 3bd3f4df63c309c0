"""Imports every feature's models so the metadata (and Alembic) sees all tables."""

from diversion.audit.models import AuditEvent
from diversion.auth.models import ApiToken, Force, SignInFailure, User
from diversion.notifications.models import OutboxMessage

__all__ = ["ApiToken", "AuditEvent", "Force", "OutboxMessage", "SignInFailure", "User"]
