"""Imports every feature's models so the metadata (and Alembic) sees all tables."""

from diversion.attendance.models import Register, RegisterChange, RegisterEntry
from diversion.audit.models import AuditEvent
from diversion.auth.models import ApiToken, Force, RefusedAttempt, User
from diversion.bookings.models import Booking, FeeWaiver, Payment, WaitingListEntry
from diversion.courses.models import CalendarFeed, CourseSession, Venue
from diversion.outbox.models import BookingReminderState, OutboxMessage, ReminderPlanItem
from diversion.payments.models import OnlinePayment, OnlineRefund
from diversion.programmes.models import Programme
from diversion.referrals.models import Person, Referral, ReferralDraft, ReferralEvent
from diversion.reoffences.models import ComparisonCase, Reoffence
from diversion.reports.models import ArchivedReport
from diversion.selfservice.models import PersonSession, SelfServiceLock

__all__ = ["Register", "RegisterChange", "RegisterEntry",
           "PersonSession", "SelfServiceLock",
           "Booking", "FeeWaiver", "Payment", "WaitingListEntry",
           "ArchivedReport", "ComparisonCase", "Reoffence", "OnlinePayment", "OnlineRefund",
           "BookingReminderState", "ReminderPlanItem",
           "ApiToken", "AuditEvent", "Force", "OutboxMessage", "RefusedAttempt", "User",
           "Programme", "Person", "Referral", "ReferralDraft", "ReferralEvent",
           "CalendarFeed", "CourseSession", "Venue"]
