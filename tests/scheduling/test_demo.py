from sqlalchemy import func, select

from diversion.demo import load_demo_data
from diversion.extensions import db
from diversion.scheduling.models import CourseSession, SessionStatus, Venue
from tests.builders import NOW


def test_demo_data_has_two_venues_a_season_of_sessions_and_loads_once(app):
    load_demo_data(now=NOW)
    load_demo_data(now=NOW)
    venues = db.session.scalars(select(Venue).order_by(Venue.id)).all()
    assert [(v.is_online, v.step_free_access) for v in venues] == [(False, True), (True, True)]
    by_status = dict(db.session.execute(
        select(CourseSession.status, func.count()).group_by(CourseSession.status)).all())
    assert by_status == {SessionStatus.SCHEDULED: 12, SessionStatus.HELD: 3}
    upcoming = db.session.scalars(select(CourseSession).where(
        CourseSession.status == SessionStatus.SCHEDULED)).all()
    assert all(s.starts_at > NOW for s in upcoming)
    assert all(s.facilitators[0].email == "facilitator@diversion.example" for s in upcoming)


def test_stats_count_sessions_by_status(app):
    from diversion.stats import collect_stats

    load_demo_data(now=NOW)
    assert collect_stats()["sessions"] == {"scheduled": 12, "cancelled": 0, "held": 3}
