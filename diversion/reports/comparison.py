"""A comparison group in the style of the Justice Data Lab: pure arithmetic (DESIGN.md
"Comparison group").

The programme's people (the reoffending report's cohort) are compared with people dealt with
otherwise for the same kind of offence (the comparison cohort), with the SAME proven reoffending
definition (reoffending.py: windows, follow-up rule and scope). Then both sides are matched 1:1
on a propensity score, so the comparison is with similar people.

Pure functions over plain values: no database, no clock.

- `newcombe_difference(x1, n1, x2, n2)`: p1 - p2 with Newcombe's hybrid score interval
- `propensity_logits(subjects)`: the logit of each person's propensity score
- `match_nearest(treated, controls, caliper=)`: 1:1 nearest neighbours without replacement
- `standardised_mean_difference(a, b)`; `balance_table(...)`
- `compare_groups(programme, comparison, reoffences, as_of=, offence_codes=)` -> the JSON dict
- `summary_sentence(comparison)`: one sentence in plain English, or None
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import warnings
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from diversion.core.timeutils import add_months
from diversion.reports.reoffending import (
    JDL_MINIMUM,
    PROVEN_OUTCOMES,
    Reoffence,
    is_proven_reoffence,
    is_reportable,
    quarter_of,
    wilson_interval,
)

CALIPER_SD = 0.2
PRIOR_YEARS = 2
IMBALANCE = 0.1
TOO_FEW = ("No comparison: the programme has {programme} and the comparison group {comparison} "
           "people whose follow-up is over, and a comparison needs at least {minimum} on each side.")
TOO_FEW_MATCHED = ("No matched comparison: only {pairs} people could be matched to someone "
                   "similar, and a comparison needs at least {minimum}.")
IMBALANCED = ("After matching, at least one characteristic still differs between the groups "
              "(a standardised difference above 0.1): read the matched figures with care.")


@dataclass(frozen=True)
class Subject:
    """One person on either side, at their index date, with what the matching looks at."""

    person_id: int
    index_date: dt.date
    date_of_birth: dt.date
    prior_offences: int
    force: str

    @property
    def age(self) -> float:
        """Age at the index date in years (days / 365.25)."""
        return (self.index_date - self.date_of_birth).days / 365.25


def prior_offences(index_date: dt.date, reoffences: Iterable[Reoffence]) -> int:
    """Proven offences (conviction or caution) committed in the 2 years before the index date:
    on or after index - 24 months and before the index date."""
    start = add_months(index_date, -12 * PRIOR_YEARS)
    return sum(1 for r in reoffences
               if r.outcome in PROVEN_OUTCOMES and start <= r.offence_date < index_date)


# --- Difference of two proportions -----------------------------------------------------------

def newcombe_difference(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float]:
    """p1 - p2 and its 95% interval by Newcombe's hybrid score method (method 10 of Newcombe
    1998, Statistics in Medicine 17:873-890), built from the two Wilson intervals:
    low = d - sqrt((p1 - l1)^2 + (u2 - p2)^2), high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1)
    l2, u2 = wilson_interval(x2, n2)
    d = p1 - p2
    return (d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


# --- Propensity score and matching -----------------------------------------------------------

def _levels(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def covariates(subjects: Sequence[Subject]) -> tuple[list[str], list[list[float]]]:
    """Column names and rows: age, prior offences, then one 0/1 column per index quarter and
    per force (every level, for the balance table)."""
    quarters = _levels(quarter_of(s.index_date) for s in subjects)
    forces = _levels(s.force for s in subjects)
    names = ["age", "prior_offences", *(f"quarter:{q}" for q in quarters),
             *(f"force:{f}" for f in forces)]
    rows = [[s.age, float(s.prior_offences),
             *(1.0 if quarter_of(s.index_date) == q else 0.0 for q in quarters),
             *(1.0 if s.force == f else 0.0 for f in forces)] for s in subjects]
    return names, rows


def propensity_logits(treated: Sequence[Subject], controls: Sequence[Subject]) -> list[float]:
    """The logit of the propensity score (the probability of being on the programme) of each
    person, treated first then controls, from a logistic regression with no penalty (C infinite) of age,
    prior offences, index quarter and force (one-hot, the first level of each left out as the
    reference). Age and prior offences are standardised first, which changes no prediction."""
    subjects = [*treated, *controls]
    names, rows = covariates(subjects)
    quarters = [n for n in names if n.startswith("quarter:")]
    forces = [n for n in names if n.startswith("force:")]
    keep = [i for i, n in enumerate(names) if n not in (quarters[:1] + forces[:1])]
    # numpy and scikit-learn are imported here, when a comparison is made: they cost a second
    # and tens of megabytes, which no other page, job or command should pay at start-up.
    import numpy as np  # noqa: PLC0415
    from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    x = np.array(rows, dtype=float)[:, keep]
    for column in (0, 1):
        spread = x[:, column].std()
        x[:, column] = (x[:, column] - x[:, column].mean()) / (spread if spread > 0 else 1.0)
    y = np.array([1] * len(treated) + [0] * len(controls))
    model = LogisticRegression(C=math.inf, max_iter=10_000)  # C infinite: no penalty
    with warnings.catch_warnings():
        # Perfectly separated groups do not converge; their scores are still the best fit.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return [float(v) for v in model.decision_function(x)]


def caliper_width(treated_logits: Sequence[float], control_logits: Sequence[float]) -> float:
    """0.2 pooled standard deviations of the logit: sqrt((s1^2 + s0^2) / 2) (Austin 2011)."""
    return CALIPER_SD * math.sqrt((statistics.variance(treated_logits)
                                   + statistics.variance(control_logits)) / 2)


def match_nearest(treated: Sequence[tuple[int, float]], controls: Sequence[tuple[int, float]], *,
                  caliper: float) -> list[tuple[int, int]]:
    """1:1 nearest-neighbour matching on (id, logit), without replacement, within the caliper.

    Greedy and deterministic: treated people are taken in order of id; each gets the nearest
    control still free whose logit is within `caliper`, ties going to the lower control id.
    A treated person with nobody close enough stays unmatched. Returns (treated id, control id).
    """
    free = sorted(controls, key=lambda c: (c[1], c[0]))
    pairs = []
    for treated_id, logit in sorted(treated):
        best: tuple[float, int, int] | None = None
        for position, (control_id, control_logit) in enumerate(free):
            distance = abs(control_logit - logit)
            if distance <= caliper and (best is None or (distance, control_id) < best[:2]):
                best = (distance, control_id, position)
        if best is not None:
            pairs.append((treated_id, best[1]))
            del free[best[2]]
    return pairs


# --- Balance --------------------------------------------------------------------------------

def standardised_mean_difference(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean a - mean b) / sqrt((var a + var b) / 2), sample variances (n - 1). 0 when both
    sides are constant and equal; None when they are constant and differ (no spread to scale
    by), which counts as imbalanced."""
    if len(a) < 2 or len(b) < 2:
        return None
    difference = statistics.fmean(a) - statistics.fmean(b)
    spread = math.sqrt((statistics.variance(a) + statistics.variance(b)) / 2)
    if spread == 0:
        return 0.0 if difference == 0 else None
    return difference / spread


def _label(name: str) -> str:
    if name == "age":
        return "Age at index date (years)"
    if name == "prior_offences":
        return "Proven offences in the 2 years before"
    kind, _, level = name.partition(":")
    return f"Index quarter {level}" if kind == "quarter" else f"Force {level}"


def balance_table(treated: Sequence[Subject], controls: Sequence[Subject],
                  matched_treated: Sequence[Subject],
                  matched_controls: Sequence[Subject]) -> list[dict[str, Any]]:
    """Per covariate: the programme's and the comparison's means and the standardised mean
    difference, before and after matching."""
    names, rows = covariates([*treated, *controls, *matched_treated, *matched_controls])
    sizes = [len(treated), len(controls), len(matched_treated), len(matched_controls)]
    parts, start = [], 0
    for size in sizes:
        parts.append(rows[start:start + size])
        start += size
    table = []
    for column, name in enumerate(names):
        t, c, mt, mc = ([row[column] for row in part] for part in parts)
        table.append({
            "covariate": name, "label": _label(name),
            "programme_mean": statistics.fmean(t) if t else None,
            "comparison_mean": statistics.fmean(c) if c else None,
            "smd_before": standardised_mean_difference(t, c),
            "matched_programme_mean": statistics.fmean(mt) if mt else None,
            "matched_comparison_mean": statistics.fmean(mc) if mc else None,
            "smd_after": standardised_mean_difference(mt, mc) if mt else None,
        })
    return table


# --- The comparison -------------------------------------------------------------------------

def _reoffenders(subjects: Sequence[Subject], by_person: dict[Hashable, list[Reoffence]],
                 offence_codes: Collection[str] | None) -> int:
    return sum(1 for s in subjects if any(
        is_proven_reoffence(s.index_date, r, offence_codes=offence_codes)
        for r in by_person.get(s.person_id, ())))


def _side(people: int, reoffenders: int) -> dict[str, Any]:
    low, high = wilson_interval(reoffenders, people)
    return {"people": people, "reoffenders": reoffenders, "rate": reoffenders / people,
            "ci95": [low, high]}


def _contrast(treated: Sequence[Subject], controls: Sequence[Subject],
              by_person: dict[Hashable, list[Reoffence]],
              offence_codes: Collection[str] | None) -> dict[str, Any]:
    x1 = _reoffenders(treated, by_person, offence_codes)
    x2 = _reoffenders(controls, by_person, offence_codes)
    difference, low, high = newcombe_difference(x1, len(treated), x2, len(controls))
    return {"programme": _side(len(treated), x1), "comparison": _side(len(controls), x2),
            "difference": difference, "difference_ci95": [low, high]}


def earliest_per_person(subjects: Iterable[Subject]) -> list[Subject]:
    """Each person once, at their earliest index date (ties: the first given)."""
    earliest: dict[int, Subject] = {}
    for subject in subjects:
        current = earliest.get(subject.person_id)
        if current is None or subject.index_date < current.index_date:
            earliest[subject.person_id] = subject
    return sorted(earliest.values(), key=lambda s: (s.index_date, s.person_id))


def _result(programme_people: int, comparison_people: int) -> dict[str, Any]:
    return {
        "method": "propensity_score_matching", "minimum_people": JDL_MINIMUM,
        "caliper_sd": CALIPER_SD, "available": False, "reason": None,
        "programme_people": programme_people, "comparison_people": comparison_people,
        "unmatched": None, "matched": None, "balance": [], "warnings": [], "summary": None,
    }


def no_comparison(programme_people: int, comparison_people: int) -> dict[str, Any]:
    """The comparison's JSON when a side has fewer than 60 people: the counts, and why."""
    result = _result(programme_people, comparison_people)
    result["reason"] = TOO_FEW.format(programme=programme_people, comparison=comparison_people,
                                      minimum=JDL_MINIMUM)
    return result


def reportable_cases(comparison: Iterable[Subject], *, as_of: dt.date) -> list[Subject]:
    """Comparison cases each person once, at the earliest index date, when reportable by
    `as_of`: the comparison side before the programme's people are taken out."""
    return [s for s in earliest_per_person(comparison) if is_reportable(s.index_date, as_of)]


def compare_groups(programme: Sequence[Subject], comparison: Iterable[Subject],
                   reoffences: Iterable[Reoffence], *, as_of: dt.date,
                   offence_codes: Collection[str] | None = None) -> dict[str, Any]:
    """The comparison as JSON (DESIGN.md "Comparison group").

    `programme`: the report's people, one each, already reportable. `comparison`: comparison
    cases; each person is taken once at the earliest index date, only when reportable by
    `as_of`, and never when they are also on the programme's side. Rates use the reoffending
    report's definition (`offence_codes` None: any offence). Both sides need at least 60
    people, else `available` is false and `reason` says why in words.
    """
    treated = sorted(programme, key=lambda s: s.person_id)
    on_programme = {s.person_id for s in treated}
    controls = sorted((s for s in reportable_cases(comparison, as_of=as_of)
                       if s.person_id not in on_programme), key=lambda s: s.person_id)
    result = _result(len(treated), len(controls))
    if len(treated) < JDL_MINIMUM or len(controls) < JDL_MINIMUM:
        return no_comparison(len(treated), len(controls))
    by_person: dict[Hashable, list[Reoffence]] = defaultdict(list)
    for reoffence in reoffences:
        by_person[reoffence.person_id].append(reoffence)
    result["available"] = True
    result["unmatched"] = _contrast(treated, controls, by_person, offence_codes)

    logits = propensity_logits(treated, controls)
    treated_logits = list(zip((s.person_id for s in treated), logits[:len(treated)], strict=True))
    control_logits = list(zip((s.person_id for s in controls), logits[len(treated):], strict=True))
    caliper = caliper_width(logits[:len(treated)], logits[len(treated):])
    pairs = match_nearest(treated_logits, control_logits, caliper=caliper)
    by_id = {s.person_id: s for s in [*treated, *controls]}
    matched_treated = [by_id[t] for t, _ in pairs]
    matched_controls = [by_id[c] for _, c in pairs]
    result["balance"] = balance_table(treated, controls, matched_treated, matched_controls)
    if len(pairs) < JDL_MINIMUM:
        result["warnings"].append(TOO_FEW_MATCHED.format(pairs=len(pairs), minimum=JDL_MINIMUM))
    else:
        result["matched"] = {"pairs": len(pairs), "caliper": caliper,
                             "unmatched_programme_people": len(treated) - len(pairs),
                             **_contrast(matched_treated, matched_controls, by_person,
                                         offence_codes)}
        if any(row["smd_after"] is None or abs(row["smd_after"]) > IMBALANCE
               for row in result["balance"]):
            result["warnings"].append(IMBALANCED)
    result["summary"] = summary_sentence(result)
    return result


def _points(value: float) -> str:
    return f"{abs(value) * 100:.1f} points"


def _direction(value: float) -> str:
    return f"{_points(value)} lower" if value < 0 else f"{_points(value)} higher"


def summary_sentence(comparison: dict[str, Any] | None) -> str | None:
    """One plain-English sentence on the matched comparison (or, without one, the unmatched),
    or None when there is no comparison. The difference is the programme's rate minus the
    comparison's."""
    if not comparison or not comparison.get("available"):
        return None
    matched = comparison.get("matched")
    figures = matched or comparison["unmatched"]
    whom = "similar people dealt with otherwise" if matched else "people dealt with otherwise"
    programme, other = figures["programme"]["rate"], figures["comparison"]["rate"]
    d = figures["difference"]
    low, high = figures["difference_ci95"]
    if low < 0 < high:
        interval = f"from {_direction(low)} to {_direction(high)}"
    elif d < 0:
        interval = f"{abs(high) * 100:.1f} to {_points(low)} lower"
    else:
        interval = f"{low * 100:.1f} to {_points(high)} higher"
    gap = "the same rate" if d == 0 else _direction(d)
    return (f"People who took the course were proven to reoffend at {programme * 100:.1f}% against "
            f"{other * 100:.1f}% for {whom}: {gap} (95% confidence: {interval}).")


def csv_rows(comparison: dict[str, Any] | None) -> list[list[Any]]:
    """The comparison as rows appended after the reoffending CSV's cohort rows, in its columns
    (reoffending.CSV_HEADER): period `comparison` (everyone) and `comparison_matched`, groups
    `programme`, `comparison` and `difference` (rate and interval: programme minus comparison).
    Without a comparison (fewer than 60 on a side), no rows: the file is as it always was."""
    if not comparison or not comparison["available"]:
        return []
    rows: list[list[Any]] = []
    for period, figures in (("comparison", comparison["unmatched"]),
                            ("comparison_matched", comparison["matched"])):
        if not figures:
            continue
        for group in ("programme", "comparison"):
            side = figures[group]
            rows.append([period, group, side["people"], side["reoffenders"], None, side["rate"],
                         *side["ci95"], None, None, False, None])
        rows.append([period, "difference", None, None, None, figures["difference"],
                     *figures["difference_ci95"], None, None, False, None])
    return rows
