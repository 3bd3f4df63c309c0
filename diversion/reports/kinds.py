"""What a report is: its parameters, its result, and the kind that builds and renders it.

Every report is a `ReportKind` (producing.REPORTS): a `build` function from parameters to the
report's JSON, a CSV writer, a PDF template and the definitions printed with it. Adding a
report is one more `ReportKind`.

- `ReportParameters` (with its filters: forces, programme, venue, facilitator), `Report`,
  `ReportKind` (`parameter_labels(parameters)`)
- `long_date(day)`: "1 March 2026"
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ReportParameters:
    date_from: dt.date
    date_to: dt.date
    as_of: dt.date
    scope: str = "any"
    # Filters: force codes (sorted, unique; empty is every force), a programme code, and for
    # the attendance report a venue and a facilitator (ids).
    forces: tuple[str, ...] = ()
    programme: str | None = None
    venue: int | None = None
    facilitator: int | None = None
    # What people read for each filter ("force:WYP" -> "West Yorkshire Police"), found when the
    # parameters were validated; not part of what the parameters are.
    names: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def filtered(self) -> bool:
        return bool(self.forces or self.programme or self.venue or self.facilitator)

    def filters(self) -> dict[str, Any]:
        """The filters as the JSON echoes them (null or [] when not filtered)."""
        return {"forces": list(self.forces), "programme": self.programme, "venue": self.venue,
                "facilitator": self.facilitator}

    def as_details(self) -> dict[str, Any]:
        return {"from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "as_of": self.as_of.isoformat(), "scope": self.scope, **self.filters()}

    def name_of(self, what: str, key: object) -> str:
        return self.names.get(f"{what}:{key}", str(key))


@dataclass
class Report:
    """A built report: its JSON (`data`) and what only the page and the PDF show.

    `summary` is the plain-English opening, one sentence an item (summaries.py), so a caller
    can append another; `chart_alt` says what the chart shows and its key figures; `extra`
    holds what a report's templates need beyond its JSON (forces' names, say).
    """

    kind: str
    parameters: ReportParameters
    data: dict[str, Any]
    chart_svg: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    chart_alt: str = ""
    detailed: dict[str, Any] | None = None

    @property
    def published(self) -> dict[str, Any]:
        """What the JSON download, the page and the PDF show: `detailed` when the report adds
        keys to its contract's (the reoffending rows' follow-up), else `data`. `data` stays
        the contract's keys alone."""
        return self.detailed if self.detailed is not None else self.data


@dataclass(frozen=True)
class ReportKind:
    name: str
    title: str
    build: Callable[[ReportParameters, bool], Report]  # (parameters, with_chart)
    csv: Callable[[Report], bytes]
    pdf_template: str
    definitions: dict[str, str]
    uses_as_of: bool = False
    uses_scope: bool = False
    dates_of: str = "referral"  # what the From and To dates select: referral or session dates
    uses_venue: bool = False  # the venue and facilitator filters (attendance)
    # What the PDF is built with when it shows less than `build` makes (no row per session),
    # so that it can be counted by the database: (parameters, with_chart).
    build_for_pdf: Callable[[ReportParameters, bool], Report] | None = None
    description: str = ""  # what the report answers, in a sentence (the reports list)

    def build_for(self, parameters: ReportParameters, fmt: str) -> Report:
        """The report as the format shows it: a chart for the page and the PDF."""
        if fmt == "pdf" and self.build_for_pdf is not None:
            return self.build_for_pdf(parameters, True)
        return self.build(parameters, fmt in ("html", "pdf"))

    def parameter_labels(self, parameters: ReportParameters) -> dict[str, str]:
        """The parameters as people read them, for pages and PDFs."""
        labels = {"From": long_date(parameters.date_from), "To": long_date(parameters.date_to)}
        if self.uses_as_of:
            labels["As of"] = long_date(parameters.as_of)
        if self.uses_scope:
            labels["Offences counted"] = ("Any offence" if parameters.scope == "any"
                                          else "Offences the programme accepts")
        # Which forces and programmes the figures cover is said even when it is all of them:
        # a printed page has no filter form beside it.
        if parameters.forces:
            labels["Forces" if len(parameters.forces) > 1 else "Force"] = ", ".join(
                parameters.name_of("force", code) for code in parameters.forces)
        else:
            labels["Forces"] = "All forces"
        labels["Programme"] = (parameters.name_of("programme", parameters.programme)
                               if parameters.programme else "All programmes")
        if parameters.venue is not None:
            labels["Venue"] = parameters.name_of("venue", parameters.venue)
        if parameters.facilitator is not None:
            labels["Facilitator"] = parameters.name_of("facilitator", parameters.facilitator)
        if parameters.forces and self.uses_venue:
            labels["Fill rate"] = FILL_RATE_BY_FORCE
        return labels


FILL_RATE_BY_FORCE = ("Not shown when filtered by force: a session's places are shared by "
                      "every force's people. Places count each session's places in full; booked "
                      "and the rest count only this force's people")


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"
