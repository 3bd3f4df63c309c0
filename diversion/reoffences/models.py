"""A later offence recorded for a person, with how it was disposed of."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from diversion.core.db import UTCDateTime, enum_column
from diversion.core.extensions import Model


class ReoffenceOutcome(enum.StrEnum):
    CONVICTION = "conviction"
    CAUTION = "caution"
    ARREST = "arrest"
    NO_FURTHER_ACTION = "no_further_action"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def needs_outcome_date(self) -> bool:
        return self in (ReoffenceOutcome.CONVICTION, ReoffenceOutcome.CAUTION)


class Reoffence(Model):
    __tablename__ = "reoffences"
    __table_args__ = (
        CheckConstraint(
            "outcome NOT IN ('conviction', 'caution') OR outcome_date IS NOT NULL",
            name="outcome_date_when_proven"),
        CheckConstraint("outcome_date IS NULL OR outcome_date >= offence_date",
                        name="outcome_not_before_offence"),
        # The reoffending report loads a cohort's reoffences by person.
        Index("ix_reoffences_person_offence_date", "person_id", "offence_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    offence_code: Mapped[str] = mapped_column(String(32))
    offence_date: Mapped[dt.date] = mapped_column(Date)
    outcome: Mapped[ReoffenceOutcome] = mapped_column(
        enum_column(ReoffenceOutcome, "reoffence_outcome"))
    outcome_date: Mapped[dt.date | None] = mapped_column(Date)
    # The police or court system's own reference: what makes a re-import a no-op.
    source_reference: Mapped[str] = mapped_column(String(80), unique=True)
    # The force whose officer recorded it; None when a manager did.
    force_id: Mapped[int | None] = mapped_column(ForeignKey("forces.id"), index=True)
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<Reoffence {self.id}>"
