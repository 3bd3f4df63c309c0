"""Imports every feature's models so the metadata (and Alembic) sees all tables."""

from diversion.audit.models import AuditEvent
from diversion.auth.models import ApiToken, Force, SignInFailure, User
from diversion.notifications.models import OutboxMessage
from diversion.programmes.models import Programme
from diversion.referrals.models import Person, Referral, ReferralEvent
from diversion.reoffences.models import Reoffence
from diversion.reports.models import ArchivedReport
from diversion.scheduling.models import CalendarFeed, CourseSession, Venue

__all__ = ["ArchivedReport", "Reoffence",
           "ApiToken", "AuditEvent", "Force", "OutboxMessage", "SignInFailure", "User",
           "Programme", "Person", "Referral", "ReferralEvent",
           "CalendarFeed", "CourseSession", "Venue"]
