"""Eligibility and deadline rules: pure functions over values. No database, no clock.

Each rule returns a RuleResult; `blocking` says whether a failure stops the referral (a
non-blocking failure is a warning, shown and recorded).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from diversion.core.timeutils import add_months


@dataclass(frozen=True)
class RuleResult:
    code: str
    passed: bool
    blocking: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        # Written out: dataclasses.asdict deep-copies, and an import calls this for every rule
        # of every row.
        return {"code": self.code, "passed": self.passed, "blocking": self.blocking,
                "message": self.message}


@dataclass(frozen=True)
class PriorReferral:
    """Another referral of the same person, as plain values."""

    reference: str
    programme_id: int
    referral_date: dt.date
    is_open: bool
    is_withdrawn: bool = False
    force_id: int | None = None  # the force that made it


@dataclass(frozen=True)
class ProgrammeRules:
    programme_id: int
    eligible_offence_codes: Sequence[str]
    repeat_window_months: int = 36
    referral_warning_days: int = 28


@dataclass(frozen=True)
class EligibilityInput:
    date_of_birth: dt.date
    offence_code: str
    offence_date: dt.date
    referral_date: dt.date
    admitted: bool
    consented: bool
    no_relevant_convictions: bool | None
    prior_referrals: Sequence[PriorReferral] = field(default_factory=tuple)
    force_id: int | None = None  # the force making this referral


def _is_other_forces(data: EligibilityInput, prior: PriorReferral) -> bool:
    """Whether an earlier referral is another force's: its reference and date are not named to
    the officer (a police user sees his own force's referrals only), and the message is kept
    with the referral his force reads."""
    return (data.force_id is not None and prior.force_id is not None
            and prior.force_id != data.force_id)


def age_on(date_of_birth: dt.date, day: dt.date) -> int:
    """Whole years of age on a day (someone born on 29 February turns a year older on 1 March)."""
    years = day.year - date_of_birth.year
    if (day.month, day.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


@functools.lru_cache(maxsize=4096)  # results are immutable; an import's rows repeat them
def _result(code: str, passed: bool, message: str, *, blocking: bool = True) -> RuleResult:
    return RuleResult(code=code, passed=passed, blocking=blocking, message=message)


def rule_adult(data: EligibilityInput) -> RuleResult:
    """1. 18 or over on the offence date."""
    age = age_on(data.date_of_birth, data.offence_date)
    if age >= 18:
        return _result("adult", True, f"Aged {age} on the offence date: 18 or over")
    return _result("adult", False,
                   f"Aged {age} on the offence date. The programme is only for people aged 18 or over")


def rule_offence_code(data: EligibilityInput, programme: ProgrammeRules) -> RuleResult:
    """2. An offence code the programme accepts."""
    code = data.offence_code.strip().upper()
    accepted = [c.upper() for c in programme.eligible_offence_codes]
    if code in accepted:
        return _result("offence_code", True, f"Offence {code} is one the programme accepts")
    return _result("offence_code", False,
                   f"Offence {code or '(none)'} is not one the programme accepts "
                   f"({', '.join(accepted)})")


def rule_admitted_and_consented(data: EligibilityInput) -> RuleResult:
    """3. The offence is admitted and consent to the diversion recorded."""
    if data.admitted and data.consented:
        return _result("admitted_consented", True,
                       "The offence was admitted and consent to the diversion recorded")
    missing = [text for ok, text in ((data.admitted, "admit the offence"),
                                     (data.consented, "consent to the diversion")) if not ok]
    return _result("admitted_consented", False,
                   f"The person did not {' or '.join(missing)}. Both are needed for a diversion")


@functools.lru_cache(maxsize=64)
def _window(months: int) -> str:
    """The repeat window in words: "3 years", "18 months"."""
    years = months / 12
    return f"{years:g} years" if years == int(years) else f"{months} months"


def rule_no_recent_diversion(data: EligibilityInput, programme: ProgrammeRules) -> RuleResult:
    """4. No diversion on this programme offered in the window before the offence date."""
    window = _window(programme.repeat_window_months)
    recent: list[PriorReferral] = []
    if data.prior_referrals:  # most people referred have none
        since = add_months(data.offence_date, -programme.repeat_window_months)
        recent = sorted(
            (p for p in data.prior_referrals
             if p.programme_id == programme.programme_id and not p.is_withdrawn
             and since <= p.referral_date <= data.offence_date),
            key=lambda p: p.referral_date,
        )
    if not recent:
        return _result("no_recent_diversion", True,
                       f"Not offered this programme in the {window} before the offence")
    last = recent[-1]
    if _is_other_forces(data, last):
        return _result("no_recent_diversion", False,
                       f"The person was offered this programme by another police force within "
                       f"{window} of the offence")
    return _result("no_recent_diversion", False,
                   f"The person was offered this programme on {last.referral_date:%-d %B %Y} "
                   f"(reference {last.reference}), within {window} of the offence")


def rule_no_open_referral(data: EligibilityInput) -> RuleResult:
    """5. No other open referral for the same person."""
    open_ones = [p for p in data.prior_referrals if p.is_open]
    if not open_ones:
        return _result("no_open_referral", True, "No other open referral for this person")
    named = sorted(p.reference for p in open_ones if not _is_other_forces(data, p))
    which = f" ({', '.join(named)})" if named else ""
    if len(named) < len(open_ones):
        which += " and one with another police force" if named else " with another police force"
    return _result("no_open_referral", False,
                   f"The person already has an open referral{which}. "
                   "It must end before another is made")


def rule_no_relevant_convictions(data: EligibilityInput) -> RuleResult:
    """6. The officer confirms no relevant previous convictions (sexual or domestic abuse)."""
    if data.no_relevant_convictions:
        return _result("no_relevant_convictions", True,
                       "The officer confirmed there are no relevant previous convictions")
    if data.no_relevant_convictions is None:
        return _result("no_relevant_convictions", False,
                       "The officer has not confirmed whether there are relevant previous convictions")
    return _result("no_relevant_convictions", False,
                   "The person has relevant previous convictions (sexual or domestic abuse offences)")


def rule_timing(data: EligibilityInput, programme: ProgrammeRules, *, today: dt.date) -> RuleResult:
    """7. Offence date not in the future (blocking); referral soon after the offence (warning)."""
    if data.offence_date > today:
        return _result("timing", False, "The offence date is in the future")
    days = (data.referral_date - data.offence_date).days
    limit = programme.referral_warning_days
    if days > limit:
        return _result("timing", False,
                       f"The referral was made {days} days after the offence, more than the usual "
                       f"{limit}. It can go ahead, but check the delay is explained",
                       blocking=False)
    return _result("timing", True, f"The referral was made {days} days after the offence")


def evaluate(data: EligibilityInput, programme: ProgrammeRules, *,
             today: dt.date) -> list[RuleResult]:
    """Every rule's result, in the order DESIGN.md lists them."""
    return [
        rule_adult(data),
        rule_offence_code(data, programme),
        rule_admitted_and_consented(data),
        rule_no_recent_diversion(data, programme),
        rule_no_open_referral(data),
        rule_no_relevant_convictions(data),
        rule_timing(data, programme, today=today),
    ]


# The referral's answers each rule reads that are known before the person is chosen (the rules
# about earlier referrals need the person); a refusal is shown beside the first of them, or
# beside `consented` when only consent is missing.
RULE_FIELDS: dict[str, tuple[str, ...]] = {
    "adult": ("date_of_birth", "offence_date"),
    "offence_code": ("offence_code",),
    "admitted_consented": ("admitted", "consented"),
    "no_relevant_convictions": ("no_relevant_convictions",),
    "timing": ("offence_date", "referral_date"),
}


def refusals_by_field(known: dict[str, Any], programme: ProgrammeRules, *,
                      today: dt.date) -> dict[str, str]:
    """The blocking refusals of the rules whose answers are all in `known` (field name to value;
    a field left out is unanswered or invalid), keyed by the field each concerns."""
    placeholder = EligibilityInput(
        date_of_birth=known.get("date_of_birth") or dt.date(1900, 1, 1),
        offence_code=known.get("offence_code") or "",
        offence_date=known.get("offence_date") or today,
        referral_date=known.get("referral_date") or today,
        # An unanswered one counts as given, so the refusal names only the answer that was no.
        admitted=known.get("admitted") is not False, consented=known.get("consented") is not False,
        no_relevant_convictions=known.get("no_relevant_convictions"))
    refusals: dict[str, str] = {}
    for result in evaluate(placeholder, programme, today=today):
        fields = RULE_FIELDS.get(result.code)
        if fields is None or result.passed or not result.blocking:
            continue
        answered = [known.get(name) not in (None, "") for name in fields]
        if not (any(answered) if result.code == "admitted_consented" else all(answered)):
            continue
        field_name = "consented" if (result.code == "admitted_consented"
                                     and known.get("admitted") is not False) else fields[0]
        refusals.setdefault(field_name, result.message)
    return refusals


def is_eligible(results: Iterable[RuleResult]) -> bool:
    """True when no blocking rule failed (warnings allowed)."""
    return not any(r.blocking and not r.passed for r in results)


def booking_deadline(referral_date: dt.date, days: int) -> dt.date:
    return referral_date + dt.timedelta(days=days)


def completion_deadline(offence_date: dt.date, months: int, *,
                        given: dt.date | None = None) -> dt.date:
    """The caution's own date when given, else offence date + the programme's months."""
    return given if given is not None else add_months(offence_date, months)
