"""A later offence recorded for a person, with how it was disposed of."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
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


class ComparisonDisposal(enum.StrEnum):
    """How a comparison case was dealt with instead of the programme (DESIGN.md
    "CSV: comparison cohort")."""

    CHARGED = "charged"  # charged or summonsed: prosecuted, whatever the verdict
    CAUTIONED = "cautioned"  # a simple or conditional caution
    COMMUNITY_RESOLUTION = "community_resolution"
    OTHER = "other"  # any other outcome (for example, no further action)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ComparisonCase(Model):
    """A person dealt with otherwise for the kind of offence the programme takes: one row of
    the comparison cohort. The person is a Person row (found or created by the same matching
    as the imports), so the reoffences recorded for people apply to them too."""

    __tablename__ = "comparison_cases"
    __table_args__ = (
        CheckConstraint("prior_offences >= 0", name="prior_offences_not_negative"),
        Index("ix_comparison_cases_index_date", "index_date", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    force_id: Mapped[int] = mapped_column(ForeignKey("forces.id"))
    index_date: Mapped[dt.date] = mapped_column(Date)
    # Proven offences (convictions and cautions) in the 2 years before the index date.
    prior_offences: Mapped[int] = mapped_column(Integer)
    disposal: Mapped[ComparisonDisposal] = mapped_column(
        enum_column(ComparisonDisposal, "comparison_disposal"))
    # The supplier's reference for the case: what makes a re-import a no-op.
    source_reference: Mapped[str] = mapped_column(String(80), unique=True)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    imported_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    def __repr__(self) -> str:
        return f"<ComparisonCase {self.id}>"
