"""`demo load`'s two years of history: loaded once, consistent with the lifecycle, and enough
for every report to show real figures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from diversion.attendance.models import Register, RegisterEntry
from diversion.core.extensions import db
from diversion.courses.models import CourseSession
from diversion.demo import load_demo_data
from diversion.referrals.lifecycle import TRANSITIONS
from diversion.referrals.models import Referral, ReferralEvent
from diversion.reoffences.models import ComparisonCase, Reoffence
from diversion.reports import attendance_report as reports_attendance_report
from diversion.reports import kinds as reports_kinds
from diversion.reports import outcomes_report as reports_outcomes_report
from diversion.reports import producing as reports_producing
from diversion.reports import reoffending_report as reports_reoffending_report
from diversion.reports.demo import CRIME_PREFIX, load_demo_history
from diversion.stats import collect_stats
from tests.builders import NOW

D = dt.date


def everything() -> dict[str, object]:
    counts = {model.__name__: db.session.scalar(select(func.count()).select_from(model))
              for model in (Referral, ReferralEvent, Reoffence, Register, RegisterEntry,
                            CourseSession)}
    return {**collect_stats(), **counts}


def parameters(kind: str, date_from: D, date_to: D) -> reports_kinds.ReportParameters:
    return reports_producing.validate_parameters(kind=kind, date_from=date_from, date_to=date_to,
                                                 as_of=D(2026, 6, 15), scope="any", today=D(2026, 6, 15))


def test_demo_history_loads_once_and_every_report_shows_real_figures(app):
    load_demo_data(now=NOW)
    db.session.commit()
    first = everything()
    load_demo_data(now=NOW)
    db.session.commit()
    assert everything() == first

    history = db.session.scalars(select(Referral).where(
        Referral.crime_reference.startswith(CRIME_PREFIX))).all()
    assert len(history) >= 24 * 15
    assert {r.referral_date.strftime("%Y-%m") for r in history} >= {"2024-06", "2026-05"}
    assert len({r.force_id for r in history}) == 2
    # Later offences of the history's people (the comparison cohort's people and the cautions
    # before a referral, the prior offences the comparison matches on, are not these).
    people_reoffending = db.session.scalar(
        select(func.count(func.distinct(Reoffence.person_id)))
        .join(Referral, Referral.person_id == Reoffence.person_id)
        .where(Referral.crime_reference.startswith(CRIME_PREFIX),
               Reoffence.offence_date > Referral.referral_date))
    assert 0.08 <= people_reoffending / len(history) <= 0.25
    assert db.session.scalar(select(func.count()).select_from(ComparisonCase)) >= 300
    assert set(first["reoffences"].values()) != {0}  # type: ignore[union-attr]
    # Every history is a chain of the lifecycle's own moves, ending at the referral's status.
    for referral in history:
        status = None
        for event in referral.events:
            assert event.from_status == status
            if status is not None:
                assert TRANSITIONS[(status, event.event)] is event.to_status
            status = event.to_status
        assert status is referral.status
    assert load_demo_history(force=history[0].force, officer=history[0].officer,
                             manager=history[0].officer, programme=history[0].programme,
                             now=NOW)["referrals"] == 0

    reoffending = reports_reoffending_report.build_reoffending(parameters("reoffending", D(2024, 6, 1),
                                                                          D(2024, 12, 31))).data
    shown = [c for c in reoffending["cohorts"] if not c["suppressed"]]
    assert reoffending["comparison"]["available"] is True
    assert any(c["period"] != "all" and c["group"] == "completed" for c in shown)
    attendance = reports_attendance_report.build_attendance(parameters("attendance", D(2025, 6, 1),
                                                                       D(2026, 5, 31))).data
    assert attendance["total"]["sessions"] >= 24
    assert 0.5 < attendance["total"]["attendance_rate"] < 0.95
    assert len(attendance["by_facilitator"]) >= 2 and len(attendance["by_venue"]) >= 2
    outcomes = reports_outcomes_report.build_outcomes(parameters("outcomes", D(2025, 6, 1),
                                                                 D(2026, 5, 31))).data
    assert len(outcomes["by_force"]) == 2 and len(outcomes["by_month"]) == 12
    assert outcomes["total"]["completed"] > outcomes["total"]["not_completed"] > 0
