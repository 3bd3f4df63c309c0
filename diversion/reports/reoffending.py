"""Proven reoffending, measured the way the Ministry of Justice measures it (DESIGN.md).

Pure functions over plain values: no database, no clock. `proven_reoffending` takes
`CohortReferral` and `Reoffence` values and `as_of`; it is the definition of record. The report
itself (reoffending_report.py) has the database add up the same figures per group and hands them
to `report_from_figures`, the one place both build the JSON; tests hold the two equal.

Definitions, exactly as DESIGN.md "Reoffending measure" pins them:
- index date = the referral date; cohort members are referrals whose outcome is `completed` or
  `not_completed`; `withdrawn` and `open` referrals are counted under `excluded`;
- a person appears once per cohort period, at their earliest cohort referral in it (a quarterly
  period, and the whole range for `period: "all"`);
- a proven reoffence is an offence with outcome `conviction` or `caution`, committed strictly
  after the index date and on or before index + 12 months, whose outcome date is on or before
  index + 18 months; month arithmetic is calendar arithmetic clamped to the month end;
- a person is reportable only when index + 18 months <= as_of; otherwise they are counted under
  `excluded.follow_up_incomplete`;
- groups of fewer than 10 people are suppressed (rate, interval and frequencies null).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from diversion.core.errors import ValidationFailed
from diversion.core.timeutils import add_months

FOLLOW_UP_MONTHS = 12
WAITING_MONTHS = 6
SUPPRESSION_THRESHOLD = 10
JDL_MINIMUM = 60
JDL_WARNING = "too few for a Justice Data Lab comparison"
WILSON_Z = 1.959964

COHORT_OUTCOMES = ("completed", "not_completed")
REFERRAL_OUTCOMES = ("completed", "not_completed", "withdrawn", "open")
REOFFENCE_OUTCOMES = ("conviction", "caution", "arrest", "no_further_action")
PROVEN_OUTCOMES = frozenset({"conviction", "caution"})
SCOPES = ("any", "programme")
GROUPS = ("completed", "not_completed", "all")


@dataclass(frozen=True)
class CohortReferral:
    """A referral as the measure sees it: who, when offered, and how it ended."""

    referral_id: Hashable
    person_id: Hashable
    referral_date: dt.date
    outcome: str  # completed | not_completed | withdrawn | open

    def __post_init__(self) -> None:
        if self.outcome not in REFERRAL_OUTCOMES:
            raise ValueError(f"unknown referral outcome {self.outcome!r}")


@dataclass(frozen=True)
class Reoffence:
    """A later offence recorded for a person, with how it was disposed of."""

    person_id: Hashable
    offence_date: dt.date
    outcome: str  # conviction | caution | arrest | no_further_action
    outcome_date: dt.date | None
    offence_code: str

    def __post_init__(self) -> None:
        if self.outcome not in REOFFENCE_OUTCOMES:
            raise ValueError(f"unknown reoffence outcome {self.outcome!r}")

DEFINITIONS = {
    "Index date": "The referral date: the day the diversion was offered.",
    "Cohort": "Referrals that ended completed or not completed, grouped by the calendar quarter of "
              "the index date. A person is counted once per period, at their earliest referral in "
              "it. Withdrawn and open referrals are excluded and counted separately.",
    "Proven reoffence": "An offence committed after the index date and no later than 12 months "
                        "after it (the follow-up period) that led to a conviction or caution "
                        "recorded no later than 18 months after the index date (a further 6-month "
                        "waiting period for cases to be proven). Arrests and no-further-action "
                        "records never count. Months are calendar months; a date that does not "
                        "exist in the later month becomes its last day.",
    "Scope": "'Any': every recorded offence. 'Programme': only the offences the programme accepts.",
    "Follow-up incomplete": "Referrals whose index date plus 18 months is after the as-of date: "
                            "too recent to report, and counted as excluded. A period or group "
                            "whose people are all in this position says when the last of their "
                            "follow-ups is over, rather than showing a rate.",
    "Reoffending rate": "Reoffenders (people with at least one proven reoffence) divided by people "
                        "in the cohort.",
    "95% confidence interval": "The range in which we can be 95% confident the true rate lies, "
                               "given how many people were counted: the fewer the people, the "
                               "wider the range. Method: the Wilson score interval "
                               "(z = 1.959964).",
    "Reoffences per offender": "Proven reoffences divided by people in the cohort.",
    "Reoffences per reoffender": "Proven reoffences divided by reoffenders; blank when nobody "
                                 "reoffended.",
    "Suppressed": "Groups of 1 to 9 people show counts only: rates for so few people are "
                  "unreliable and could identify someone.",
    "Completers and non-completers": "The men themselves, and what happens to them, decide who "
                                     "completes the course, so those who complete may differ "
                                     "from those who do not in ways that also affect "
                                     "reoffending. A difference between the two groups is not "
                                     "the effect of the course.",
    "Justice Data Lab warning": "Groups of fewer than 60 people are too few for a Justice Data Lab "
                                "comparison with a matched control group.",
    "Comparison group": "People dealt with otherwise for the same kind of offence, measured as "
                        "above, once each; no comparison with fewer than 60 on a side.",
    "Matching": "1:1 on the logit of a propensity score (logistic regression of age, offences in "
                "the 2 years before, quarter, force), caliper 0.2 SD; differences in "
                "characteristics above 0.1 SD are flagged. Difference in rates: Newcombe's 95% "
                "interval.",
    "Time to first reoffence": "Kaplan–Meier estimate of the share of people with a proven "
                               "reoffence by each day of the 12-month follow-up, for completers and "
                               "non-completers.",
}

CSV_HEADER = ("period", "group", "people", "reoffenders", "reoffences", "rate", "ci95_low",
              "ci95_high", "per_offender", "per_reoffender", "suppressed", "warning")


def csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The report's cohort rows flattened for CSV (columns CSV_HEADER), numbers unrounded."""
    return [
        [row["period"], row["group"], row["people"], row["reoffenders"], row["reoffences"],
         row["rate"], *(row["ci95"] or (None, None)), row["per_offender"], row["per_reoffender"],
         row["suppressed"], row["warning"]]
        for row in report["cohorts"]
    ]


def quarter_of(day: dt.date) -> str:
    """The calendar quarter a date falls in, written `2024-Q1`."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarters_between(start: dt.date, end: dt.date) -> list[str]:
    """Every calendar quarter that overlaps [start, end], in order."""
    quarters: list[str] = []
    year, quarter = start.year, (start.month - 1) // 3
    while (year, quarter) <= (end.year, (end.month - 1) // 3):
        quarters.append(f"{year}-Q{quarter + 1}")
        year, quarter = (year + 1, 0) if quarter == 3 else (year, quarter + 1)
    return quarters


def is_reportable(index_date: dt.date, as_of: dt.date) -> bool:
    """Follow-up (12 months) and waiting period (6 months) are both over by `as_of`."""
    return add_months(index_date, FOLLOW_UP_MONTHS + WAITING_MONTHS) <= as_of


def is_proven_reoffence(
    index_date: dt.date, reoffence: Reoffence, *, offence_codes: Collection[str] | None = None
) -> bool:
    """A conviction or caution for an offence in (index, index + 12 months], proven by index + 18.

    `offence_codes` limits the offences that count (scope `programme`); None counts any offence.
    """
    if reoffence.outcome not in PROVEN_OUTCOMES or reoffence.outcome_date is None:
        return False
    if offence_codes is not None and reoffence.offence_code not in offence_codes:
        return False
    if not index_date < reoffence.offence_date <= add_months(index_date, FOLLOW_UP_MONTHS):
        return False
    return reoffence.outcome_date <= add_months(index_date, FOLLOW_UP_MONTHS + WAITING_MONTHS)


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval for a proportion (95% with the default z)."""
    if trials <= 0:
        raise ValueError("a Wilson interval needs at least one trial")
    if not 0 <= successes <= trials:
        raise ValueError("successes must lie between 0 and the number of trials")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def report_members(
    referrals: Iterable[CohortReferral], *, date_from: dt.date, date_to: dt.date, as_of: dt.date
) -> list[CohortReferral]:
    """The people of the report's `period: "all"` rows: each person's earliest completed or
    not completed referral in [date_from, date_to], when reportable by `as_of`."""
    cohort = [r for r in referrals
              if date_from <= r.referral_date <= date_to and r.outcome in COHORT_OUTCOMES]
    return [r for r in _earliest_per_person(cohort) if is_reportable(r.referral_date, as_of)]


@dataclass(frozen=True)
class _Member:
    referral: CohortReferral
    reoffences: int
    first_reoffence: dt.date | None


def _earliest_per_person(referrals: Iterable[CohortReferral]) -> list[CohortReferral]:
    """Each person's earliest referral (ties broken by referral id as text, for stability)."""
    earliest: dict[Hashable, CohortReferral] = {}
    for referral in referrals:
        current = earliest.get(referral.person_id)
        if current is None or (referral.referral_date, str(referral.referral_id)) < (
            current.referral_date,
            str(current.referral_id),
        ):
            earliest[referral.person_id] = referral
    return sorted(earliest.values(), key=lambda r: (r.referral_date, str(r.referral_id)))


def _measure(
    referral: CohortReferral,
    reoffences_by_person: dict[Hashable, list[Reoffence]],
    offence_codes: Collection[str] | None,
) -> _Member:
    proven = [
        r
        for r in reoffences_by_person.get(referral.person_id, ())
        if is_proven_reoffence(referral.referral_date, r, offence_codes=offence_codes)
    ]
    first = min((r.offence_date for r in proven), default=None)
    return _Member(referral=referral, reoffences=len(proven), first_reoffence=first)


def follow_up_ends(index_date: dt.date) -> dt.date:
    """The day a referral's follow-up and waiting period are both over (index + 18 months)."""
    return add_months(index_date, FOLLOW_UP_MONTHS + WAITING_MONTHS)


def row_status(*, people: int, follow_up_incomplete: int) -> str:
    """How a cohort row reads: `reported` (10 or more people counted), `suppressed` (1 to 9),
    `follow_up_incomplete` (nobody counted yet: everyone is still in follow-up) or `empty`."""
    if people >= SUPPRESSION_THRESHOLD:
        return "reported"
    if people:
        return "suppressed"
    return "follow_up_incomplete" if follow_up_incomplete else "empty"


def _follow_up_keys(figures: GroupFigures) -> dict[str, Any]:
    ends = figures.follow_up_ends
    return {"follow_up_incomplete": figures.follow_up_incomplete,
            "follow_up_ends": ends.isoformat() if ends else None,
            "status": row_status(people=figures.people,
                                 follow_up_incomplete=figures.follow_up_incomplete)}


FOLLOW_UP_KEYS = ("follow_up_incomplete", "follow_up_ends", "status")


def without_follow_up_detail(report: dict[str, Any]) -> dict[str, Any]:
    """The report with its rows' `FOLLOW_UP_KEYS` taken out: the contract's keys alone."""
    return {**report, "cohorts": [{k: v for k, v in row.items() if k not in FOLLOW_UP_KEYS}
                                  for row in report["cohorts"]]}


@dataclass(frozen=True)
class GroupFigures:
    """What one cohort group adds up to: its reportable people, their reoffenders and proven
    reoffences, and those still in follow-up (how many, and when the last one's ends)."""

    people: int = 0
    reoffenders: int = 0
    reoffences: int = 0
    follow_up_incomplete: int = 0
    follow_up_ends: dt.date | None = None

    def __add__(self, other: GroupFigures) -> GroupFigures:
        ends = [d for d in (self.follow_up_ends, other.follow_up_ends) if d is not None]
        return GroupFigures(self.people + other.people, self.reoffenders + other.reoffenders,
                            self.reoffences + other.reoffences,
                            self.follow_up_incomplete + other.follow_up_incomplete,
                            max(ends, default=None))


def _group_row(period: str, group: str, figures: GroupFigures) -> dict[str, Any]:
    people, reoffenders, reoffences = figures.people, figures.reoffenders, figures.reoffences
    row: dict[str, Any] = {
        "period": period,
        "group": group,
        "people": people,
        "reoffenders": reoffenders,
        "reoffences": reoffences,
        "rate": None,
        "ci95": None,
        "per_offender": None,
        "per_reoffender": None,
        "suppressed": people < SUPPRESSION_THRESHOLD,
        "warning": JDL_WARNING if people < JDL_MINIMUM else None,
    }
    if not row["suppressed"]:
        low, high = wilson_interval(reoffenders, people)
        row["rate"] = reoffenders / people
        row["ci95"] = [low, high]
        row["per_offender"] = reoffences / people
        row["per_reoffender"] = reoffences / reoffenders if reoffenders else None
    return row


def _group_members(members: Sequence[_Member]) -> list[tuple[str, list[_Member]]]:
    return [
        ("completed", [m for m in members if m.referral.outcome == "completed"]),
        ("not_completed", [m for m in members if m.referral.outcome == "not_completed"]),
        ("all", list(members)),
    ]


def _figures(members: Sequence[_Member], waiting: Sequence[CohortReferral]) -> GroupFigures:
    return GroupFigures(
        people=len(members), reoffenders=sum(1 for m in members if m.reoffences > 0),
        reoffences=sum(m.reoffences for m in members), follow_up_incomplete=len(waiting),
        follow_up_ends=max((follow_up_ends(r.referral_date) for r in waiting), default=None))


def _in_group(group: str, referrals: Sequence[CohortReferral]) -> list[CohortReferral]:
    return [r for r in referrals if group == "all" or r.outcome == group]


def validate_parameters(
    *, date_from: dt.date, date_to: dt.date, as_of: dt.date, scope: str,
    programme_offence_codes: Collection[str] | None,
) -> None:
    """Refuse a range the wrong way round, an as-of date before the range, an unknown scope."""
    errors: dict[str, str] = {}
    if date_to < date_from:
        errors["to"] = "The end date must be the same as or after the start date"
    if as_of < date_from:
        errors["as_of"] = "The as-of date must be the same as or after the start date"
    if scope not in SCOPES:
        errors["scope"] = "Scope must be 'any' or 'programme'"
    elif scope == "programme" and not programme_offence_codes:
        errors["scope"] = "The programme scope needs the offence codes the programme accepts"
    if errors:
        raise ValidationFailed(errors)


def proven_reoffending(
    referrals: Iterable[CohortReferral],
    reoffences: Iterable[Reoffence],
    *,
    date_from: dt.date,
    date_to: dt.date,
    as_of: dt.date,
    scope: str = "any",
    programme_offence_codes: Collection[str] | None = None,
    follow_up_detail: bool = False,
) -> dict[str, Any]:
    """The proven reoffending report as the JSON contract in DESIGN.md, key for key.

    Referrals whose referral date lies in [date_from, date_to] are considered. Cohorts are
    listed per calendar quarter overlapping the range (every quarter, even an empty one, so an
    empty report is honest rather than missing), each with the groups `completed`,
    `not_completed` and `all`, followed by the `period: "all"` rows over the whole range. In the
    `all` period a person is counted once, at their earliest cohort referral in the range, so
    its figures need not equal the sum of the quarters.

    `excluded` counts referrals in the range: `withdrawn` and `open` by outcome, and
    `follow_up_incomplete` for the cohort members (one per person per quarter) whose index date
    + 18 months falls after `as_of`. A person's later cohort referrals in the same quarter are
    not counted anywhere: the person is already in that quarter's cohort.

    Each cohort row carries one key beyond the contract: `warning`, the text "too few for a
    Justice Data Lab comparison" when the group has fewer than 60 people, else null. Tools
    that check the contract read the contract's keys and ignore the extra one.

    With `follow_up_detail`, each row also carries `follow_up_incomplete` (the group's people
    left out because their follow-up is not over), `follow_up_ends` (ISO date by which the last
    of them will be over, or null) and `status` (`row_status`), as the report's JSON does.
    """
    validate_parameters(
        date_from=date_from, date_to=date_to, as_of=as_of, scope=scope,
        programme_offence_codes=programme_offence_codes,
    )
    codes = frozenset(programme_offence_codes or ()) if scope == "programme" else None
    in_range = [r for r in referrals if date_from <= r.referral_date <= date_to]
    reoffences_by_person: dict[Hashable, list[Reoffence]] = defaultdict(list)
    for reoffence in reoffences:
        reoffences_by_person[reoffence.person_id].append(reoffence)

    cohort_referrals = [r for r in in_range if r.outcome in COHORT_OUTCOMES]
    by_quarter: dict[str, list[CohortReferral]] = defaultdict(list)
    for referral in cohort_referrals:
        by_quarter[quarter_of(referral.referral_date)].append(referral)
    figures: dict[tuple[str, str], GroupFigures] = {}
    chosen_by_period = [(quarter, _earliest_per_person(chosen))
                        for quarter, chosen in by_quarter.items()]
    chosen_by_period.append(("all", _earliest_per_person(cohort_referrals)))
    for period, chosen in chosen_by_period:
        reportable = [r for r in chosen if is_reportable(r.referral_date, as_of)]
        waiting = [r for r in chosen if not is_reportable(r.referral_date, as_of)]
        members = [_measure(r, reoffences_by_person, codes) for r in reportable]
        for outcome in COHORT_OUTCOMES:
            figures[period, outcome] = _figures(
                [m for m in members if m.referral.outcome == outcome], _in_group(outcome, waiting))
    return report_from_figures(
        figures, withdrawn=sum(1 for r in in_range if r.outcome == "withdrawn"),
        open_=sum(1 for r in in_range if r.outcome == "open"), date_from=date_from,
        date_to=date_to, as_of=as_of, scope=scope, follow_up_detail=follow_up_detail)


def report_from_figures(
    figures: Mapping[tuple[str, str], GroupFigures], *, withdrawn: int, open_: int,
    date_from: dt.date, date_to: dt.date, as_of: dt.date, scope: str,
    follow_up_detail: bool = False,
) -> dict[str, Any]:
    """The report's JSON from each cohort group's figures, keyed (period, outcome): period a
    quarter (`2024-Q1`) or "all", outcome `completed` or `not_completed`. A missing key is an
    empty group. `proven_reoffending` computes the figures in Python, the report's SQL (
    reoffending_report.py) in the database; both end here, so the rows read the same."""
    cohorts: list[dict[str, Any]] = []
    follow_up_incomplete = 0
    for period in [*quarters_between(date_from, date_to), "all"]:
        completed = figures.get((period, "completed"), GroupFigures())
        not_completed = figures.get((period, "not_completed"), GroupFigures())
        if period != "all":
            follow_up_incomplete += (completed + not_completed).follow_up_incomplete
        for group, group_figures in (("completed", completed), ("not_completed", not_completed),
                                     ("all", completed + not_completed)):
            cohorts.append(_group_row(period, group, group_figures))
            if follow_up_detail:
                cohorts[-1].update(_follow_up_keys(group_figures))
    return {
        "measure": "proven_reoffending",
        "scope": scope,
        "as_of": as_of.isoformat(),
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "follow_up_months": FOLLOW_UP_MONTHS,
        "waiting_months": WAITING_MONTHS,
        "cohorts": cohorts,
        "excluded": {
            "withdrawn": withdrawn,
            "open": open_,
            "follow_up_incomplete": follow_up_incomplete,
        },
    }


# --- Time to first proven reoffence (Kaplan–Meier) -------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One person's follow-up: days observed, and whether it ended in a proven reoffence."""

    days: int
    reoffended: bool


@dataclass(frozen=True)
class SurvivalStep:
    """The Kaplan–Meier estimate just after `day`: the share not yet reoffended."""

    day: int
    at_risk: int
    events: int
    censored: int
    survival: float

    @property
    def reoffended(self) -> float:
        """The cumulative share who have reoffended by this day (1 - survival)."""
        return 1.0 - self.survival


def kaplan_meier(observations: Iterable[Observation]) -> list[SurvivalStep]:
    """The Kaplan–Meier product-limit estimate, one step per day with an event or censoring.

    The first step is day 0 with survival 1. At a day with both events and censorings the
    events are taken first, as is conventional.
    """
    events: dict[int, int] = defaultdict(int)
    censored: dict[int, int] = defaultdict(int)
    for observation in observations:
        (events if observation.reoffended else censored)[observation.days] += 1
    return kaplan_meier_counts(events, censored)


def kaplan_meier_counts(events: Mapping[int, int], censored: Mapping[int, int]) -> list[SurvivalStep]:
    """`kaplan_meier` over counts: how many people reoffended on each day, and how many were
    censored on each day (what the report's SQL hands back instead of one row a person)."""
    if any(day < 0 for day in (*events, *censored)):
        raise ValueError("an observation cannot last fewer than 0 days")
    at_risk = sum(events.values()) + sum(censored.values())
    steps = [SurvivalStep(day=0, at_risk=at_risk, events=0, censored=0, survival=1.0)]
    survival = 1.0
    for day in sorted(set(events) | set(censored)):
        day_events, day_censored = events.get(day, 0), censored.get(day, 0)
        if at_risk and day_events:
            survival *= 1 - day_events / at_risk
        if day == 0 and not day_events:
            at_risk -= day_censored
            continue
        steps.append(SurvivalStep(
            day=day, at_risk=at_risk, events=day_events, censored=day_censored,
            survival=survival,
        ))
        at_risk -= day_events + day_censored
    return steps


def time_to_first_reoffence(
    referrals: Iterable[CohortReferral],
    reoffences: Iterable[Reoffence],
    *,
    date_from: dt.date,
    date_to: dt.date,
    as_of: dt.date,
    scope: str = "any",
    programme_offence_codes: Collection[str] | None = None,
) -> dict[str, list[SurvivalStep]]:
    """Kaplan–Meier curves of days to the first proven reoffence, per group.

    The people are those of the report's `period: "all"` rows (earliest cohort referral per
    person in the range, reportable by `as_of`). Each is followed from the index date for the
    12-month window; one without a proven reoffence is censored at its end.
    """
    validate_parameters(
        date_from=date_from, date_to=date_to, as_of=as_of, scope=scope,
        programme_offence_codes=programme_offence_codes,
    )
    codes = frozenset(programme_offence_codes or ()) if scope == "programme" else None
    reoffences_by_person: dict[Hashable, list[Reoffence]] = defaultdict(list)
    for reoffence in reoffences:
        reoffences_by_person[reoffence.person_id].append(reoffence)
    cohort = [
        r for r in referrals
        if date_from <= r.referral_date <= date_to and r.outcome in COHORT_OUTCOMES
    ]
    members = [
        _measure(r, reoffences_by_person, codes)
        for r in _earliest_per_person(cohort)
        if is_reportable(r.referral_date, as_of)
    ]
    curves: dict[str, list[SurvivalStep]] = {}
    for group, group_members in _group_members(members):
        observations = []
        for member in group_members:
            index = member.referral.referral_date
            if member.first_reoffence is not None:
                observations.append(Observation((member.first_reoffence - index).days, True))
            else:
                window_end = add_months(index, FOLLOW_UP_MONTHS)
                observations.append(Observation((window_end - index).days, False))
        curves[group] = kaplan_meier(observations)
    return curves
