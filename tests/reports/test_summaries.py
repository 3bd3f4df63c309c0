"""The plain-English openings of the reports, made from the figures by pure functions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from diversion.reports import summaries
from diversion.reports.measures import OutcomeSummary
from diversion.reports.reoffending import CohortReferral, Reoffence, proven_reoffending

D = dt.date
FORCES = {"WYP": "West Yorkshire Police", "SYP": "South Yorkshire Police"}


def no_placeholders(sentences: list[str]) -> None:
    assert 1 <= len(sentences) <= 5
    for sentence in sentences:
        assert sentence.endswith(".") and (sentence[:1].isupper() or sentence[:1].isdigit())
        assert not re.search(r"\bnan\b|\bNone\b(?! of)|\bnull\b|[{}\[\]]", sentence)


def outcome(**counts: Any) -> dict[str, Any]:
    summary = OutcomeSummary(**counts)
    return summary.as_dict()


def outcomes_data(total: dict[str, Any], by_force: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"report": "referral_outcomes", "from": "2024-01-01", "to": "2024-12-31",
            "total": total, "by_force": by_force or {}, "by_month": {}}


def test_the_outcomes_summary_says_the_funnel_the_rate_the_forces_the_times_and_the_deadline():
    total = outcome(received=412, booked=380, completed=301, not_completed=60, withdrawn=11,
                    open=40, completed_within_deadline=290,
                    median_days_offence_to_referral=7.0, median_days_referral_to_completion=22.5)
    by_force = {"SYP": outcome(completed=100, not_completed=25),
                "WYP": outcome(completed=201, not_completed=35)}
    sentences = summaries.outcomes_summary(outcomes_data(total, by_force), FORCES)
    assert sentences == [
        "Of 412 referrals received between 1 January 2024 and 31 December 2024, 301 ended with "
        "the course completed, 60 ended without it, 11 were withdrawn and 40 are still open.",
        "83.4% of the referrals that have ended were completed (301 of 361); withdrawn and open "
        "referrals are left out of this rate.",
        "By force, the completion rate ranged from 80.0% (South Yorkshire Police) to 85.2% "
        "(West Yorkshire Police).",
        "Half the referrals were made within 7 days of the offence and half the completed "
        "courses were completed within 22.5 days of the referral.",
        "11 completed courses were completed after the deadline (3.7% of completions).",
    ]
    no_placeholders(sentences)


def test_an_outcomes_summary_with_no_referrals_says_so_in_one_sentence():
    sentences = summaries.outcomes_summary(outcomes_data(outcome()), FORCES)
    assert sentences == ["No referrals were received between 1 January 2024 and 31 December "
                         "2024, so there are no outcomes to report."]


def test_an_outcomes_summary_with_nothing_ended_gives_no_rate_and_no_deadline():
    total = outcome(received=3, booked=1, open=2, withdrawn=1,
                    median_days_offence_to_referral=4.0)
    sentences = summaries.outcomes_summary(outcomes_data(total, {"WYP": outcome(received=3)}),
                                           FORCES)
    assert sentences[1] == ("None of these referrals has yet ended in a completed or not "
                            "completed course, so there is no completion rate yet.")
    assert sentences[2] == "Half the referrals were made within 4 days of the offence."
    assert not any("deadline" in s or "force" in s for s in sentences)
    no_placeholders(sentences)


def test_every_completion_by_its_deadline_is_said_once():
    total = outcome(received=1, completed=1, completed_within_deadline=1,
                    median_days_offence_to_referral=1.0, median_days_referral_to_completion=9.0)
    sentences = summaries.outcomes_summary(outcomes_data(total), FORCES)
    assert sentences[-1] == "Every completed course was completed by its deadline."
    assert "1 referral received" in sentences[0] and "1 day of the offence" in sentences[2]


def attendance_data(total: dict[str, Any], by_month: dict[str, Any] | None = None,
                    cancelled: int = 0, not_submitted: int = 0) -> dict[str, Any]:
    return {"report": "attendance", "from": "2026-01-01", "to": "2026-03-31", "total": total,
            "by_month": by_month or {}, "excluded": {"cancelled": cancelled,
                                                     "register_not_submitted": not_submitted}}


def attendance(**counts: int) -> dict[str, Any]:
    counts = {"sessions": 0, "places": 0, "booked": 0, "attended": 0, "late_refused": 0,
              "left_early": 0, "removed": 0, "absent": 0, "excused": 0, **counts}
    counts["fill_rate"] = counts["booked"] / counts["places"] if counts["places"] else None
    counts["attendance_rate"] = counts["attended"] / counts["booked"] if counts["booked"] else None
    return counts


def test_the_attendance_summary_says_fill_attendance_what_went_wrong_months_and_left_out():
    total = attendance(sessions=38, places=456, booked=279, attended=214, late_refused=10,
                       left_early=5, absent=30, excused=20)
    by_month = {"2026-01": attendance(booked=100, attended=80),
                "2026-02": attendance(booked=100, attended=70),
                "2026-03": attendance(booked=79, attended=60)}
    sentences = summaries.attendance_summary(attendance_data(total, by_month, cancelled=1,
                                                             not_submitted=2))
    assert sentences == [
        "Across 38 sessions held between 1 January 2026 and 31 March 2026, 61.2% of places "
        "were filled (279 of 456) and 76.7% of those booked attended in full (214 of 279).",
        "Of the others, 10 arrived too late to be let in, 5 left early, 30 were absent without "
        "an accepted excuse and 20 were excused and booked again.",
        "Attendance was highest in Jan 2026 (80.0%) and lowest in Feb 2026 (70.0%).",
        "1 cancelled session and 2 sessions whose register is not yet submitted are left out "
        "of these figures.",
    ]
    no_placeholders(sentences)


def test_an_attendance_summary_with_no_sessions_says_so_and_what_was_left_out():
    sentences = summaries.attendance_summary(attendance_data(attendance(), not_submitted=1))
    assert sentences == [
        "No session held between 1 January 2026 and 31 March 2026 has a submitted register, so "
        "there are no attendance figures.",
        "1 session whose register is not yet submitted is left out of these figures.",
    ]


def test_an_attendance_summary_with_sessions_nobody_booked_gives_no_attendance_rate():
    sentences = summaries.attendance_summary(attendance_data(attendance(sessions=2, places=24)))
    assert sentences == ["Across 2 sessions held between 1 January 2026 and 31 March 2026, "
                         "0.0% of places were filled (0 of 24), and nobody was booked."]


def cohort(completers: int, non_completers: int, day: dt.date,
           tag: str = "") -> list[CohortReferral]:
    return ([CohortReferral(f"c{tag}{i}", f"c{tag}{i}", day, "completed")
             for i in range(completers)]
            + [CohortReferral(f"n{tag}{i}", f"n{tag}{i}", day, "not_completed")
               for i in range(non_completers)])


END_OF_2024 = D(2024, 12, 31)


def reoffending(referrals: list[CohortReferral], reoffences: list[Reoffence] | None = None,
                to: dt.date = END_OF_2024) -> dict[str, Any]:
    return proven_reoffending(referrals, reoffences or [], date_from=D(2024, 1, 1), date_to=to,
                              as_of=D(2026, 12, 4), follow_up_detail=True)


def test_the_reoffending_summary_gives_rates_in_words_with_the_caution_and_who_waits():
    referrals = cohort(40, 20, D(2024, 3, 1)) + cohort(5, 5, D(2025, 7, 15), "late")
    reoffences = [Reoffence(f"c{i}", D(2024, 6, 1), "conviction", D(2024, 7, 1), "X")
                  for i in range(2)]
    reoffences += [Reoffence(f"n{i}", D(2024, 6, 1), "caution", D(2024, 7, 1), "X")
                   for i in range(5)]
    sentences = summaries.reoffending_summary(reoffending(referrals, reoffences,
                                                          to=D(2025, 12, 31)))
    assert sentences == [
        "Of 60 men referred between 1 January 2024 and 31 December 2025 whose 18-month "
        "follow-up is over, 40 completed the course and 20 did not.",
        "Of them, 11.7% (95% confidence: 5.8% to 22.2%) were proven to reoffend within 12 "
        "months.",
        "5.0% (95% confidence: 1.4% to 16.5%) of those who completed were proven to reoffend, "
        "against 25.0% (95% confidence: 11.2% to 46.9%) of those who did not.",
        summaries.CAUSAL_CAUTION,
        "10 more men referred in the period are still in follow-up, the last of them until 15 "
        "January 2027, and are not counted yet.",
    ]
    no_placeholders(sentences)


def test_a_reoffending_summary_with_a_comparison_group_keeps_to_five_sentences():
    referrals = cohort(40, 20, D(2024, 3, 1)) + cohort(5, 5, D(2025, 7, 15), "late")
    reoffences = [Reoffence(f"n{i}", D(2024, 6, 1), "caution", D(2024, 7, 1), "X")
                  for i in range(5)]
    data = reoffending(referrals, reoffences, to=D(2025, 12, 31))
    compared = "People who took the course were proven to reoffend at 8.3% against 9.1%."
    data["comparison"] = {"available": True, "summary": compared}

    sentences = summaries.reoffending_summary(data)

    assert len(sentences) == 5
    assert sentences[2].endswith("of those who did not; " + summaries.CAUSAL_CAUTION_SHORT)
    assert sentences[3] == compared
    assert sentences[4].startswith("10 more men referred in the period are still in follow-up")
    no_placeholders(sentences)


def test_a_reoffending_summary_without_a_comparison_says_nothing_of_one():
    data = reoffending(cohort(40, 20, D(2024, 3, 1)))
    data["comparison"] = {"available": False, "summary": None,
                          "reason": "fewer than 60 people on a side"}

    sentences = summaries.reoffending_summary(data)

    assert summaries.CAUSAL_CAUTION in sentences
    assert not any("dealt with otherwise" in sentence for sentence in sentences)


def test_a_reoffending_summary_with_a_small_group_compares_nothing():
    sentences = summaries.reoffending_summary(reoffending(cohort(12, 3, D(2024, 3, 1))))
    assert sentences[1].startswith("Of them, 0.0% (95% confidence: 0.0% to ")
    assert sentences[2] == ("Those who completed and those who did not cannot be compared: one "
                            "of the groups has fewer than 10 people.")
    assert summaries.CAUSAL_CAUTION not in sentences
    no_placeholders(sentences)


def test_a_reoffending_summary_of_a_suppressed_cohort_gives_counts_not_a_rate():
    reoffences = [Reoffence("c0", D(2024, 6, 1), "conviction", D(2024, 7, 1), "X")]
    sentences = summaries.reoffending_summary(reoffending(cohort(4, 2, D(2024, 3, 1)),
                                                          reoffences))
    assert sentences[1] == ("1 of them was proven to reoffend within 12 months; they are "
                            "fewer than 10, too few to give a rate.")
    no_placeholders(sentences)


def test_a_reoffending_summary_when_everyone_is_still_in_follow_up_says_until_when():
    sentences = summaries.reoffending_summary(proven_reoffending(
        cohort(30, 10, D(2025, 7, 15)), [], date_from=D(2025, 7, 1), date_to=D(2025, 9, 30),
        as_of=D(2026, 12, 4), follow_up_detail=True))
    assert sentences == [
        "Nobody referred between 1 July 2025 and 30 September 2025 can be counted yet.",
        "40 more men referred in the period are still in follow-up, the last of them until 15 "
        "January 2027, and are not counted yet.",
    ]


def test_a_reoffending_summary_of_an_empty_range_says_nobody_ended():
    sentences = summaries.reoffending_summary(reoffending([]))
    assert sentences == [
        "Nobody referred between 1 January 2024 and 31 December 2024 can be counted yet.",
        "No referral in the period ended with the course completed or not completed.",
    ]


def test_a_row_whose_people_are_all_in_follow_up_says_so_and_is_not_a_suppressed_zero():
    data = proven_reoffending(cohort(30, 10, D(2025, 7, 15)) + cohort(20, 0, D(2024, 2, 1), "e"),
                              [], date_from=D(2024, 1, 1), date_to=D(2025, 9, 30),
                              as_of=D(2026, 12, 4), follow_up_detail=True)
    rows = {(row["period"], row["group"]): row for row in data["cohorts"]}
    waiting = rows[("2025-Q3", "all")]
    assert waiting["people"] == 0 and waiting["suppressed"] is True  # the contract's keys keep their meaning
    assert (waiting["status"], waiting["follow_up_incomplete"], waiting["follow_up_ends"]) == (
        "follow_up_incomplete", 40, "2027-01-15")
    assert rows[("2024-Q2", "all")]["status"] == "empty"
    assert rows[("2024-Q1", "completed")]["status"] == "reported"
    assert rows[("2024-Q1", "not_completed")]["status"] == "empty"
    assert rows[("all", "all")]["status"] == "reported"
    assert (rows[("all", "all")]["follow_up_incomplete"], rows[("all", "all")]["follow_up_ends"]) == (
        40, "2027-01-15")
    assert data["excluded"]["follow_up_incomplete"] == 40


def test_a_small_group_beside_people_still_waiting_is_suppressed():
    data = proven_reoffending(cohort(3, 0, D(2025, 4, 2)) + cohort(4, 0, D(2025, 6, 30), "w"), [],
                              date_from=D(2025, 4, 1), date_to=D(2025, 6, 30),
                              as_of=D(2026, 12, 4), follow_up_detail=True)
    row = data["cohorts"][0]
    assert (row["people"], row["status"], row["follow_up_incomplete"], row["follow_up_ends"]) == (
        3, "suppressed", 4, "2026-12-30")


def test_labels_for_months_and_quarters_read_as_words():
    assert summaries.month_label("2026-01") == "Jan 2026"
    assert summaries.quarter_label("2024-Q1") == "Jan to Mar 2024"
    assert summaries.quarter_label("2025-Q4") == "Oct to Dec 2025"
    assert summaries.quarter_label("all") == "All periods"
    assert summaries.interval_in_words([0.025, 0.072]) == (
        "we can be 95% confident the true rate lies between 2.5% and 7.2%")


def test_chart_descriptions_say_what_the_chart_shows_and_its_key_figures():
    alt = summaries.reoffending_chart_alt(
        {"Those who completed": (76, 0.039), "Those who did not": (19, 0.211)}, 12)
    assert "Line chart" in alt and "3.9% of those who completed (76 people)" in alt
    assert "21.1% of those who did not (19 people)" in alt
    assert "Nobody is counted yet." in summaries.reoffending_chart_alt(
        {"Those who completed": (0, None)}, 12)
    by_month = {"2026-01": outcome(received=5, completed=3),
                "2026-02": outcome(received=9, completed=4)}
    data = {**outcomes_data(outcome(received=14, completed=7)), "by_month": by_month}
    alt = summaries.outcomes_chart_alt(data)
    assert "from Jan 2026 to Feb 2026" in alt and "Feb 2026 (9)" in alt and "7 of 14" in alt
