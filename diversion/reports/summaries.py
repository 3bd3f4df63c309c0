"""The plain-English opening of each report: three to five sentences made from its figures.

Pure functions over a report's JSON (`data`), so the same figures give the same words on the
page and in the PDF. Each returns a list of sentences, so a caller can append another. Nothing
here prints "nan" or "None": an absent figure is said in words.

- `outcomes_summary(data, force_names)`, `attendance_summary(data)`, `reoffending_summary(data)`
- `percent(share)`: "4.3%"; `interval_in_words(ci95)`; `period_words(data)`
- `month_label("2026-01")`: "Jan 2026"; `quarter_label("2024-Q1")`: "Jan to Mar 2024"
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from diversion.reports.kinds import long_date

CAUSAL_CAUTION = ("The men decide for themselves whether to complete the course, so those who "
                  "complete may differ from those who do not in ways that also affect "
                  "reoffending: the difference between the two groups is not the effect of the "
                  "course.")
# The caution as the second half of a sentence, where a summary must save a sentence.
CAUSAL_CAUTION_SHORT = ("the men decide for themselves whether to complete, so the difference "
                        "between the two groups is not the effect of the course.")
INTERVAL_MEANING = ("95% confidence interval: we can be 95% confident the true rate lies "
                    "between the two figures; the fewer the people, the wider the range.")


def percent(share: float) -> str:
    """A share (0 to 1) as people read it: 0.043 -> "4.3%"."""
    return f"{100 * share:.1f}%"


def interval_in_words(ci95: Sequence[float]) -> str:
    """ "we can be 95% confident the true rate lies between 2.5% and 7.2%"."""
    return (f"we can be 95% confident the true rate lies between {percent(ci95[0])} and "
            f"{percent(ci95[1])}")


def period_words(data: Mapping[str, Any]) -> str:
    """ "between 1 January 2024 and 31 December 2024" from the report's `from` and `to`."""
    date_from = dt.date.fromisoformat(data["from"])
    date_to = dt.date.fromisoformat(data["to"])
    if date_from == date_to:
        return f"on {long_date(date_from)}"
    return f"between {long_date(date_from)} and {long_date(date_to)}"


def month_label(month: str) -> str:
    """A "2026-01" group key as tables and charts both show it: "Jan 2026"."""
    return dt.date.fromisoformat(f"{month}-01").strftime("%b %Y")


def quarter_label(period: str) -> str:
    """A cohort period as a board reads it: "2024-Q1" -> "Jan to Mar 2024"; "all" -> "All periods"."""
    if period == "all":
        return "All periods"
    year, quarter = period.split("-Q")
    first = dt.date(int(year), 3 * int(quarter) - 2, 1)
    last = dt.date(int(year), 3 * int(quarter), 1)
    return f"{first:%b} to {last:%b} {year}"


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _listed(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _days(value: float) -> str:
    return _count(int(value), "day", "days") if value == int(value) else f"{value:g} days"


# --- Referral outcomes ------------------------------------------------------------------------


def outcomes_summary(data: Mapping[str, Any], force_names: Mapping[str, str]) -> list[str]:
    """The outcomes report in words: the funnel, the completion rate, forces, times, deadlines."""
    total = data["total"]
    when = period_words(data)
    if not total["received"]:
        return [f"No referrals were received {when}, so there are no outcomes to report."]
    ended = total["completed"] + total["not_completed"]
    still = [_count(total["withdrawn"], "was withdrawn", "were withdrawn")]
    if total["open"]:
        still.append(f"{total['open']} {'is' if total['open'] == 1 else 'are'} still open")
    sentences = [
        f"Of {_count(total['received'], 'referral', 'referrals')} received {when}, "
        f"{total['completed']} ended with the course completed, {total['not_completed']} "
        f"ended without it, {_listed(still)}."
    ]
    if ended:
        sentences.append(
            f"{percent(total['completion_rate'])} of the referrals that have ended were "
            f"completed ({total['completed']} of {ended}); withdrawn and open referrals are "
            f"left out of this rate.")
    else:
        sentences.append("None of these referrals has yet ended in a completed or not completed "
                         "course, so there is no completion rate yet.")
    rated = [(summary["completion_rate"], force_names.get(code, code))
             for code, summary in data["by_force"].items()
             if summary["completion_rate"] is not None]
    if len(rated) > 1:
        low, high = min(rated), max(rated)
        if low[0] == high[0]:
            sentences.append(f"Every force's completion rate was {percent(low[0])}.")
        else:
            sentences.append(f"By force, the completion rate ranged from {percent(low[0])} "
                             f"({low[1]}) to {percent(high[0])} ({high[1]}).")
    times = []
    if total["median_days_offence_to_referral"] is not None:
        times.append(f"half the referrals were made within "
                     f"{_days(total['median_days_offence_to_referral'])} of the offence")
    if total["median_days_referral_to_completion"] is not None:
        times.append(f"half the completed courses were completed within "
                     f"{_days(total['median_days_referral_to_completion'])} of the referral")
    if times:
        sentence = _listed(times)
        sentences.append(sentence[:1].upper() + sentence[1:] + ".")
    if total["completed"]:
        late = total["completed"] - total["completed_within_deadline"]
        if late:
            sentences.append(
                f"{_count(late, 'completed course was', 'completed courses were')} completed "
                f"after the deadline ({percent(late / total['completed'])} of completions).")
        else:
            sentences.append("Every completed course was completed by its deadline.")
    return sentences[:5]


# --- Attendance -------------------------------------------------------------------------------


def attendance_summary(data: Mapping[str, Any]) -> list[str]:
    """The attendance report in words: places filled, attendance, what went wrong, left out."""
    total = data["total"]
    when = period_words(data)
    excluded = data["excluded"]
    left_out = []
    if excluded["cancelled"]:
        left_out.append(_count(excluded["cancelled"], "cancelled session",
                               "cancelled sessions"))
    if excluded["register_not_submitted"]:
        left_out.append(_count(excluded["register_not_submitted"],
                               "session whose register is not yet submitted",
                               "sessions whose register is not yet submitted"))
    verb = "is" if excluded["cancelled"] + excluded["register_not_submitted"] == 1 else "are"
    left_out_sentence = (f"{_listed(left_out)} {verb} left out of these figures."
                         if left_out else None)
    if not total["sessions"]:
        sentences = [f"No session held {when} has a submitted register, so there are no "
                     f"attendance figures."]
        if left_out_sentence:
            sentences.append(left_out_sentence[:1].upper() + left_out_sentence[1:])
        return sentences
    if total["fill_rate"] is not None:
        places = (f"{percent(total['fill_rate'])} of places were filled "
                  f"({total['booked']} of {total['places']})")
    elif total["places"]:
        # Filtered by force: a session's places are shared by every force, so no fill rate.
        places = f"the chosen forces' people took {total['booked']} places"
    else:
        places = "no places were offered"
    sessions = _count(total["sessions"], "session", "sessions")
    if total["attendance_rate"] is None:
        sentences = [f"Across {sessions} held {when}, {places}, and nobody was booked."]
    else:
        sentences = [f"Across {sessions} held {when}, {places} and "
                     f"{percent(total['attendance_rate'])} of those booked attended in full "
                     f"({total['attended']} of {total['booked']})."]
        missed = [(total["late_refused"], "arrived too late to be let in"),
                  (total["left_early"], "left early"),
                  (total["removed"], "were asked to leave"),
                  (total["absent"], "were absent without an accepted excuse"),
                  (total["excused"], "were excused and booked again")]
        said = [f"{number} {words}" for number, words in missed if number]
        if said:
            sentences.append(f"Of the others, {_listed(said)}.")
    rated = [(summary["attendance_rate"], month_label(month))
             for month, summary in data["by_month"].items()
             if summary["attendance_rate"] is not None]
    if len(rated) > 1 and min(rated)[0] != max(rated)[0]:
        low, high = min(rated), max(rated)
        sentences.append(f"Attendance was highest in {high[1]} ({percent(high[0])}) and lowest "
                         f"in {low[1]} ({percent(low[0])}).")
    if left_out_sentence:
        sentences.append(left_out_sentence[:1].upper() + left_out_sentence[1:])
    return sentences[:5]


# --- Proven reoffending -----------------------------------------------------------------------


def _row(data: Mapping[str, Any], group: str) -> Mapping[str, Any]:
    return next(row for row in data["cohorts"]
                if row["period"] == "all" and row["group"] == group)


def _rate_words(row: Mapping[str, Any]) -> str:
    return (f"{percent(row['rate'])} (95% confidence: {percent(row['ci95'][0])} to "
            f"{percent(row['ci95'][1])})")


def _latest_follow_up_end(data: Mapping[str, Any]) -> str | None:
    ends = [row["follow_up_ends"] for row in data["cohorts"] if row.get("follow_up_ends")]
    return long_date(dt.date.fromisoformat(max(ends))) if ends else None


def reoffending_summary(data: Mapping[str, Any]) -> list[str]:
    """The reoffending report in words: who is counted, the rate with its interval, completers
    against non-completers with the causal caution, and who is not counted yet."""
    everyone = _row(data, "all")
    completed = _row(data, "completed")
    not_completed = _row(data, "not_completed")
    when = period_words(data)
    months = data["follow_up_months"]
    # Each person once over the range (the "all" row), when the rows carry it.
    waiting = everyone.get("follow_up_incomplete", data["excluded"]["follow_up_incomplete"])
    ends = _latest_follow_up_end(data)
    # The comparison group's sentence (comparison.py), when the report has a comparison.
    compared = (data.get("comparison") or {}).get("summary")
    sentences: list[str] = []
    if not everyone["people"]:
        sentences.append(f"Nobody referred {when} can be counted yet.")
    else:
        sentences.append(
            f"Of {_count(everyone['people'], 'man', 'men')} referred {when} whose "
            f"{months + data['waiting_months']}-month follow-up is over, "
            f"{completed['people']} completed the course and {not_completed['people']} did not.")
        if everyone["suppressed"]:
            verb = "was" if everyone["reoffenders"] == 1 else "were"
            sentences.append(f"{everyone['reoffenders']} of them {verb} proven to reoffend "
                             f"within {months} months; they are fewer than 10, too few to give "
                             f"a rate.")
        else:
            sentences.append(f"Of them, {_rate_words(everyone)} were proven to reoffend within "
                             f"{months} months.")
        if not completed["suppressed"] and not not_completed["suppressed"]:
            versus = (f"{_rate_words(completed)} of those who completed were proven to "
                      f"reoffend, against {_rate_words(not_completed)} of those who did not")
            if compared:  # one sentence fewer, to leave room for the comparison's
                sentences.append(f"{versus}; {CAUSAL_CAUTION_SHORT}")
            else:
                sentences.append(f"{versus}.")
                sentences.append(CAUSAL_CAUTION)
        elif completed["people"] or not_completed["people"]:
            sentences.append("Those who completed and those who did not cannot be compared: one "
                             "of the groups has fewer than 10 people.")
    if compared:
        sentences.append(compared)
    if waiting:
        until = f", the last of them until {ends}" if ends else ""
        sentences.append(
            f"{_count(waiting, 'more man', 'more men')} referred in the period "
            f"{'is' if waiting == 1 else 'are'} still in follow-up{until}, and "
            f"{'is' if waiting == 1 else 'are'} not counted yet.")
    elif not everyone["people"]:
        sentences.append("No referral in the period ended with the course completed or not "
                         "completed.")
    return sentences[:5]


# --- Charts' alternative text: what the chart shows and its key figures ------------------------


def outcomes_chart_alt(data: Mapping[str, Any]) -> str:
    """The outcomes-by-month chart in words."""
    months = data["by_month"]
    if not months:
        return "Bar chart of referrals by month: no referrals to show."
    busiest, summary = max(months.items(), key=lambda item: (item[1]["received"], item[0]))
    total = data["total"]
    return (f"Stacked bar chart of referrals by month of referral, from {month_label(min(months))} "
            f"to {month_label(max(months))}, each bar split into completed, not completed, "
            f"withdrawn and still open. The most referrals came in {month_label(busiest)} "
            f"({summary['received']}). In all, {total['completed']} of {total['received']} "
            f"referrals ended with the course completed.")


def attendance_chart_alt(data: Mapping[str, Any]) -> str:
    """The attendance-by-month chart in words."""
    months = data["by_month"]
    if not months:
        return "Bar chart of attendance by month: no sessions to show."
    total = data["total"]
    rate = (f" ({percent(total['attendance_rate'])})"
            if total["attendance_rate"] is not None else "")
    return (f"Bar chart of people booked and people who attended in full, month by month, from "
            f"{month_label(min(months))} to {month_label(max(months))}. In all, "
            f"{total['booked']} were booked and {total['attended']} attended in full{rate}.")


def reoffending_chart_alt(reoffended_by_group: Mapping[str, tuple[int, float | None]],
                          follow_up_months: int) -> str:
    """The time-to-first-reoffence chart in words; `reoffended_by_group` maps a group's name
    to (people, share reoffended by the end of the follow-up, None when nobody is counted)."""
    parts = [f"{percent(share)} of {name.lower()} ({_count(people, 'person', 'people')})"
             for name, (people, share) in reoffended_by_group.items() if share is not None]
    figures = (f" By {follow_up_months} months, {_listed(parts)} had a proven reoffence."
               if parts else " Nobody is counted yet.")
    return (f"Line chart of the share of people with a proven reoffence, over the "
            f"{follow_up_months} months after their referral, for those who completed the course "
            f"and those who did not.{figures}")
