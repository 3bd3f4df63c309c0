"""The referral outcomes report: the database counts the referrals by force, month and kind
(and by days, for the medians) in a fixed number of queries, whatever their number; the pure
arithmetic of measures.py (`OutcomeTally`) turns the counts into the figures that
`measures.summarise_outcomes`, the definition, gives over one record per referral.

- `count_outcomes(date_from, date_to, forces=, programme=)` -> OutcomeFigures
- `build_outcomes(parameters, with_chart=False)` -> Report; `outcomes_csv(report)` -> bytes
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from diversion.auth.models import Force
from diversion.core.db import set_local
from diversion.core.extensions import db
from diversion.programmes.models import Programme
from diversion.referrals.models import Referral, ReferralEvent, ReferralEventType, ReferralStatus
from diversion.reports import measures, summaries
from diversion.reports.charts import outcomes_by_month_svg
from diversion.reports.csvout import to_csv
from diversion.reports.kinds import Report, ReportParameters
from diversion.reports.sqldates import sql_days_between

NON_COMPLETION_REASONS = {
    ReferralEventType.DEADLINE_PASSED: "Completion deadline passed",
    ReferralEventType.GRACE_EXPIRED: "Missed the session, no excuse accepted",
    ReferralEventType.IMPORTED_NOT_COMPLETED: "Historical record (reason not recorded)",
}

_BOOKED_STATUSES = (ReferralStatus.BOOKED, ReferralStatus.MISSED, ReferralStatus.COMPLETED)


OUTCOME_DEFINITIONS = {
    "Received": "Referrals whose referral date falls in the period.",
    "Booked": "Referrals that had a place booked on a session at any time.",
    "Completed": "Referrals that ended with the course completed (attended in full, identity "
                 "checked, fee paid or waived).",
    "Not completed": "Referrals that ended without a completed course, by the reason recorded "
                     "when they closed.",
    "Withdrawn": "Referrals whose offer the police withdrew.",
    "Open": "Referrals still awaiting a booking, booked, or in the grace window after a missed "
            "session.",
    "Completion rate": "Completed / (completed + not completed). Open and withdrawn referrals "
                       "are left out; blank when neither has happened.",
    "Days from offence to referral": "The median number of days from the offence to the "
                                     "referral, over every referral received.",
    "Days from referral to completion": "The median number of days from the referral to the "
                                        "day the course was completed, over completed referrals.",
    "Completed within deadline": "The share of completed referrals completed on or before "
                                 "their completion deadline. The tables show how many were "
                                 "completed after it only when some were.",
    "Month": "The calendar month of the referral date.",
    "Small numbers": "A completion rate worked out from fewer than 10 referrals that ended "
                     "(completed or not completed) is marked \u2020: too few for the rate to "
                     "mean much, so it is no trend to act on.",
}


@dataclass
class OutcomeFigures:
    """The outcomes report's summaries: over every referral, per force code, per month."""

    total: measures.OutcomeSummary
    by_force: dict[str, measures.OutcomeSummary]
    by_month: dict[str, measures.OutcomeSummary]


def count_outcomes(date_from: dt.date, date_to: dt.date, *, forces: Sequence[str] = (),
                   programme: str | None = None) -> OutcomeFigures:
    """The funnel of the referrals received in [date_from, date_to] (of these forces and this
    programme, when given: codes), added up in two queries: the forces' codes, and one that
    reads each referral once and is counted by force, month and kind of referral (and by
    number of days, for the medians): by the database's GROUP BYs on PostgreSQL, as the rows
    come on SQLite (`_counted_by_sqlite`). The figures are `measures.summarise_outcomes`'s over
    the same referrals."""
    filters: list[ColumnElement[bool]] = [Referral.referral_date >= date_from,
                                          Referral.referral_date <= date_to]
    if forces:
        filters.append(Referral.force_id.in_(select(Force.id).where(Force.code.in_(forces))))
    if programme is not None:
        filters.append(Referral.programme_id == select(Programme.id)
                       .where(Programme.code == programme).scalar_subquery())
    on_postgresql = db.session.get_bind().dialect.name == "postgresql"
    if on_postgresql:
        # For this transaction (`set_local`). JIT off: PostgreSQL prices the look at each referral's events
        # below as if every referral needed it (the CASE spares most), which puts the count
        # over `jit_above_cost`: compiling it took 0.8 s of a 0.9 s query at 100,000
        # referrals. The alike referrals hashed in memory, by one process: PostgreSQL cannot
        # tell how few groups there are (it expects one a referral), so with the default
        # memory for hashing, or with parallel workers, it sorts the period's referrals
        # instead (0.9 s against 0.4 s at 333,000; issue 17). The groups take about 16 MB at
        # 333,000 referrals; a larger count's hash table spills to disk as usual.
        set_local(db.session, "jit = off", "max_parallel_workers_per_gather = 0",
                  "hash_mem_multiplier = 16")
    codes = {force_id: code
             for force_id, code in db.session.execute(select(Force.id, Force.code))}
    was_booked = exists().where(ReferralEvent.referral_id == Referral.id,
                                ReferralEvent.to_status == ReferralStatus.BOOKED)
    last_reason = (select(ReferralEvent.event)
                   .where(ReferralEvent.referral_id == Referral.id,
                          ReferralEvent.to_status == ReferralStatus.NOT_COMPLETED)
                   .order_by(ReferralEvent.id.desc()).limit(1).scalar_subquery())
    completed = Referral.status == ReferralStatus.COMPLETED
    months = measures.months_between(f"{date_from:%Y-%m}", f"{date_to:%Y-%m}")
    # Each referral of the period read once, as the few values the figures need.
    # Booked, missed and completed referrals were booked: no need to read their events.
    ever_booked = case((Referral.status.in_(_BOOKED_STATUSES), 1), (was_booked, 1), else_=0)
    reason = case((Referral.status == ReferralStatus.NOT_COMPLETED, last_reason), else_=None)
    in_time = case((and_(completed, Referral.closed_on <= Referral.completion_deadline), 1),
                   else_=0)
    offence_days = sql_days_between(Referral.referral_date, Referral.offence_date)
    completion_days = case(
        (completed, sql_days_between(Referral.closed_on, Referral.referral_date)), else_=None)
    if on_postgresql:
        counts = _counted_by_database(select(
            Referral.force_id.label("force_id"), _month_number(months).label("month"),
            Referral.status.label("status"), ever_booked.label("was_booked"),
            reason.label("reason"), in_time.label("within_deadline"),
            offence_days.label("offence_days"), completion_days.label("completion_days"))
            .where(*filters), months)
    else:
        counts = _counted_by_sqlite(
            select(_alike_key(ever_booked, in_time), reason, offence_days, completion_days)
            .where(*filters))
    tallies: dict[tuple[str, str], measures.OutcomeTally] = defaultdict(measures.OutcomeTally)
    for kind, force_id, month, status, booked, event, within, days, count in counts:
        force = codes[force_id]
        for tally in (tallies["total", ""], tallies["force", force], tallies["month", month]):
            if kind == 0:
                tally.add_referrals(
                    count, status=ReferralStatus(status).value, was_booked=bool(booked),
                    non_completion_reason=(NON_COMPLETION_REASONS.get(ReferralEventType(event))
                                           if event else None),
                    completed_within_deadline=bool(within))
            elif kind == 1:
                tally.add_days_offence_to_referral(days, count)
            else:
                tally.add_days_referral_to_completion(days, count)
    return OutcomeFigures(
        total=tallies.get(("total", ""), measures.OutcomeTally()).summary(),
        by_force={key: tallies[breakdown, key].summary()
                  for breakdown, key in sorted(tallies) if breakdown == "force"},
        by_month={key: tallies[breakdown, key].summary()
                  for breakdown, key in sorted(tallies) if breakdown == "month"})


_Counts = Iterable[tuple[int, int, str, Any, Any, Any, Any, Any, int]]
"""(kind, force id, month, status, booked, reason, within deadline, days, how many): kind 0
counts by status, booked, reason and within deadline; kind 1 by days from offence to referral;
kind 2 by days from referral to completion (completed referrals only). The columns not counted
by are None."""


def _month_number(months: Sequence[str]) -> ColumnElement[int]:
    """Which of `months` ("2026-01" keys, in order) a referral's date falls in, counted from 1
    (PostgreSQL; the date on or after the first month's first day): a search of the months'
    first days, where `to_char` made each referral's month as text (0.09 s of the count at
    333,000 referrals)."""
    starts = [dt.date.fromisoformat(f"{month}-01") for month in months]
    return func.width_bucket(Referral.referral_date,
                             bindparam("month_starts", starts, type_=ARRAY(Date)), type_=Integer)


def _counted_by_database(each: Select[Any], months: Sequence[str]) -> _Counts:
    """The three counts as one statement (PostgreSQL): the period's referrals read once and
    grouped by every value the figures need (a table of the query's own: 35,000 groups at
    333,000 referrals, hashed in memory), and the groups added up three ways. Adding up the
    referrals themselves three ways took half as long again (0.62 s against 0.40 s at
    333,000), most of it hashing 333,000 rows three times. `each`'s month is a number of
    `months` (`_month_number`); the rows carry the month's key."""
    referrals = each.subquery("each_referral")
    alike = (select(*referrals.c, func.count().label("referrals"))
             .group_by(*referrals.c).cte("alike").prefix_with("MATERIALIZED"))
    kinds = (alike.c.status, alike.c.was_booked, alike.c.reason, alike.c.within_deadline)

    def counted(kind: int, *, by: Sequence[Any] = (), days: Any = None) -> Select[Any]:
        grouped = (*by, *(() if days is None else (days,)))
        return (select(literal_column(str(kind)), alike.c.force_id, alike.c.month,
                       *(by or (null(),) * len(kinds)), null() if days is None else days,
                       func.sum(alike.c.referrals).cast(BigInteger))
                .group_by(alike.c.force_id, alike.c.month, *grouped))

    rows = db.session.execute(union_all(
        counted(0, by=kinds), counted(1, days=alike.c.offence_days),
        counted(2, days=alike.c.completion_days)
        .where(alike.c.completion_days.is_not(None))))
    return [(kind, force_id, months[month - 1], *rest)
            for kind, force_id, month, *rest in rows]


_STATUSES = tuple(ReferralStatus)
_MONTH_SPAN = 2 ** 15  # month numbers (year x 12 + month - 1) up to the year 2730
_STATUS_SPAN = 8


def _alike_key(booked: ColumnElement[int], within: ColumnElement[int]) -> ColumnElement[int]:
    """A referral's force, month, status, booked and within-deadline values as one integer
    (SQLite), which `_alike_values` takes apart: one integer a row costs Python less than five
    values (two of them new strings to hash), 0.16 s of CPU at 333,000 referrals (issue 17)."""
    day = Referral.referral_date
    month = (func.substr(day, 1, 4).cast(Integer) * 12
             + func.substr(day, 6, 2).cast(Integer) - 1)
    status = case({status.value: code for code, status in enumerate(_STATUSES)},
                  value=Referral.status)
    return (((Referral.force_id * _MONTH_SPAN + month) * _STATUS_SPAN + status) * 4
            + booked * 2 + within)


def _alike_values(key: int) -> tuple[int, str, str, int, int]:
    """(force id, month "2026-01", status, booked, within deadline) from `_alike_key`."""
    key, flags = divmod(key, 4)
    key, status = divmod(key, _STATUS_SPAN)
    force_id, month = divmod(key, _MONTH_SPAN)
    year, month_index = divmod(month, 12)
    return (force_id, f"{year:04d}-{month_index + 1:02d}", _STATUSES[status].value, flags >> 1,
            flags & 1)


def _counted_by_sqlite(each: Select[Any]) -> _Counts:
    """The three counts on SQLite, whose GROUP BY sorts: sorting the period's referrals three
    ways took 0.65 s of CPU at 346,000 (1.0 s with the reading), where counting the rows as
    they come, in one pass, takes 0.35 s (issue 17). The rows (`_alike_key`, reason, days
    from offence to referral, days from referral to completion) are read straight from the
    driver's cursor: SQLAlchemy's result rows cost 2 us each, twice the rest of the count.
    Memory holds the alike rows (35,000 at 346,000 referrals), never one per referral."""
    # MATERIALIZED: SQLite reads and evaluates every referral into a table of the query's
    # own in the statement's first step, during which the driver lets go of Python's lock, so
    # that WeasyPrint's import (`core.pdf.start_import`) runs alongside on another core; the
    # rows are then read back from that table (the same CPU as reading them directly).
    rows = each.cte("each_referral").prefix_with("MATERIALIZED")
    result = db.session.connection().execute(select(rows))  # Core's: it has the cursor
    try:
        alike = Counter(cast(Iterable[tuple[Any, ...]], result.cursor))
    finally:
        result.close()
    kinds: Counter[tuple[Any, ...]] = Counter()
    offence: Counter[tuple[Any, ...]] = Counter()
    completion: Counter[tuple[Any, ...]] = Counter()
    # A key stands for a force, month and kind of referral: far fewer keys (1,800) than rows.
    values = {key: _alike_values(key) for key in {key for key, *_ in alike}}
    for (key, reason, offence_days, completion_days), count in alike.items():
        force_id, month, status, booked, within = values[key]
        kinds[force_id, month, status, booked, reason, within] += count
        offence[force_id, month, offence_days] += count
        if completion_days is not None:
            completion[force_id, month, completion_days] += count
    return [*((0, *key, None, count) for key, count in kinds.items()),
            *((1, force_id, month, None, None, None, None, days, count)
              for (force_id, month, days), count in offence.items()),
            *((2, force_id, month, None, None, None, None, days, count)
              for (force_id, month, days), count in completion.items())]


def force_names() -> dict[str, str]:
    """Every force's name by its code ("WYP": "West Yorkshire Police"): one query."""
    return {code: name for code, name in db.session.execute(select(Force.code, Force.name))}


def build_outcomes(parameters: ReportParameters, with_chart: bool = False) -> Report:
    figures = count_outcomes(parameters.date_from, parameters.date_to,
                             forces=parameters.forces, programme=parameters.programme)
    data: dict[str, Any] = {
        "report": "referral_outcomes",
        "from": parameters.date_from.isoformat(),
        "to": parameters.date_to.isoformat(),
        "total": figures.total.as_dict(),
        "by_force": measures.summaries_as_dict(figures.by_force),
        "by_month": measures.summaries_as_dict(figures.by_month),
    }
    names = force_names()
    report = Report(kind="outcomes", parameters=parameters, data=data,
                    extra={"force_names": names},
                    summary=summaries.outcomes_summary(data, names))
    if with_chart and figures.total.received:
        # Every month from the first referral to the last, so a month without one shows as a gap.
        empty = measures.OutcomeSummary().as_dict()
        months = list(data["by_month"])
        report.chart_svg = outcomes_by_month_svg(
            {month: data["by_month"].get(month, empty)
             for month in measures.months_between(months[0], months[-1])})
        report.chart_alt = summaries.outcomes_chart_alt(data)
    return report


OUTCOMES_CSV_HEADER = (
    "breakdown", "group", "received", "booked", "completed", "not_completed", "withdrawn", "open",
    "completion_rate", "median_days_offence_to_referral", "median_days_referral_to_completion",
    "completed_within_deadline", "completed_within_deadline_rate", "not_completed_by_reason")


def outcomes_csv(report: Report) -> bytes:
    rows = []
    sections = [("total", {"all": report.data["total"]}), ("force", report.data["by_force"]),
                ("month", report.data["by_month"])]
    for breakdown, groups in sections:
        for group, summary in groups.items():
            reasons = "; ".join(f"{reason}: {count}"
                                for reason, count in summary["not_completed_by_reason"].items())
            rows.append([breakdown, group, *(summary[name] for name in OUTCOMES_CSV_HEADER[2:-1]),
                         reasons])
    return to_csv(OUTCOMES_CSV_HEADER, rows, bom=True)
