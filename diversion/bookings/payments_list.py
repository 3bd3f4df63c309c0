"""Every payment recorded against a referral's fee, for managers: filtered, counted, paged, and
as CSV. One query a page: the person, reference, force and recorder are joined in."""

from __future__ import annotations

import datetime as dt
import typing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, select

from diversion.auth.models import Force, User
from diversion.bookings.models import Payment, PaymentMethod
from diversion.core import paging
from diversion.core.timeutils import london_midnight_in_utc
from diversion.referrals import queries as referral_queries
from diversion.referrals.models import Person, Referral

SORTS = {
    "newest": paging.Sort("Newest first", (Payment.recorded_at.expression, Payment.id.expression),
                          descending=True),
    "oldest": paging.Sort("Oldest first", (Payment.recorded_at.expression, Payment.id.expression)),
    "amount": paging.Sort("Amount", (Payment.amount_pence.expression, Payment.id.expression),
                          descending=True),
}
CSV_HEADER = ("Payment", "Recorded", "Name", "Reference", "Force", "Amount (£)", "Refunded (£)",
              "Method", "Payment reference", "Recorded by")


@dataclass(frozen=True)
class PaymentFilters:
    search: str = ""
    method: PaymentMethod | None = None
    force_id: int | None = None
    date_from: dt.date | None = None  # recorded on or after (London)
    date_to: dt.date | None = None

    @property
    def is_empty(self) -> bool:
        return self == PaymentFilters()

    def for_audit(self) -> dict[str, Any]:
        """For the audit row: which filters, never the name searched for."""
        return {"search": bool(self.search), "method": self.method.value if self.method else None,
                "force_id": self.force_id,
                "date_from": self.date_from.isoformat() if self.date_from else None,
                "date_to": self.date_to.isoformat() if self.date_to else None}


@dataclass(frozen=True)
class PaymentRow:
    payment: Payment
    reference: str
    name: str
    force_code: str
    recorded_by: str

    @classmethod
    def of(cls, row: Any) -> PaymentRow:
        payment, reference, family, given, erased_at, force_code, recorder = row
        return cls(payment, reference, referral_queries.display_name(family, given, erased_at is not None),
                   force_code, recorder or "the system")


def filtered_payments(filters: PaymentFilters, *, today: dt.date) -> Select[Any]:
    """Payments with their referral's reference, person, force and recorder: one query."""
    query = typing.cast("Select[Any]", select(
        Payment, Referral.reference, Person.family_name, Person.given_names, Person.erased_at,
        Force.code, User.name)
             .join(Referral, Referral.id == Payment.referral_id)
             .join(Person, Person.id == Referral.person_id)
             .join(Force, Force.id == Referral.force_id)
             .outerjoin(User, User.id == Payment.recorded_by_id))
    if filters.search:
        ids = referral_queries.matching_referral_ids(filters.search, today=today)
        query = query.where(Payment.referral_id.in_(ids) if ids is not None else false())
    if filters.method is not None:
        query = query.where(Payment.method == filters.method)
    if filters.force_id is not None:
        query = query.where(Referral.force_id == filters.force_id)
    if filters.date_from is not None:
        query = query.where(Payment.recorded_at >= london_midnight_in_utc(filters.date_from))
    if filters.date_to is not None:
        query = query.where(Payment.recorded_at
                            < london_midnight_in_utc(filters.date_to + dt.timedelta(days=1)))
    return query
