"""The scheduling demo: its own venues and sessions, whatever other features' demos add."""

import datetime as dt

from sqlalchemy import func, select

from diversion.core.extensions import db
from diversion.core.timeutils import format_london, london_today
from diversion.courses.demo import DEMO_FACILITATOR, ONLINE_VENUE, STEP_FREE_VENUE
from diversion.courses.models import CourseSession, SessionStatus, Venue
from diversion.courses.rules import london_wall_to_utc
from diversion.demo import load_demo_data
from tests.builders import NOW


def _demo_venues() -> dict[str, Venue]:
    names = [STEP_FREE_VENUE.name, ONLINE_VENUE.name]
    return {v.name: v for v in db.session.scalars(select(Venue).where(Venue.name.in_(names)))}


def _sessions_at(venue: Venue) -> list[tuple]:
    return [(s.starts_at, s.ends_at, s.status, s.capacity, [f.email for f in s.facilitators])
            for s in db.session.scalars(select(CourseSession).where(
                CourseSession.venue_id == venue.id).order_by(CourseSession.starts_at))]


def test_demo_data_has_a_step_free_and_an_online_venue_with_a_season_of_sessions(app):
    load_demo_data(now=NOW)
    venues = _demo_venues()
    hall, online = venues[STEP_FREE_VENUE.name], venues[ONLINE_VENUE.name]
    assert (hall.is_online, hall.step_free_access) == (False, True)
    assert (online.is_online, online.step_free_access) == (True, True)
    for venue, places in ((hall, 16), (online, 10)):
        # Six monthly sessions from 09:30 to 16:30 London time (others' demos may add more).
        season = [s for s in _sessions_at(venue) if s[0] > NOW and s[3] == places
                  and format_london(s[0], "%H:%M") == "09:30"
                  and format_london(s[1], "%H:%M") == "16:30"]
        assert len(season) == 6
        assert len({format_london(s[0], "%Y-%m") for s in season}) == 6
        assert all(s[2] is SessionStatus.SCHEDULED and s[4] == [DEMO_FACILITATOR]
                   for s in season)
    today = london_today(NOW)
    held = {s[0]: s[2] for s in _sessions_at(hall)}
    for weeks_ago in (4, 8, 12):
        starts_at = london_wall_to_utc(today - dt.timedelta(weeks=weeks_ago), dt.time(9, 30))
        assert held.get(starts_at) is SessionStatus.HELD


def test_loading_the_demo_twice_changes_no_venue_or_session(app):
    load_demo_data(now=NOW)
    db.session.commit()
    venues = _demo_venues()
    first = {name: _sessions_at(venue) for name, venue in venues.items()}
    venue_count = db.session.scalar(select(func.count()).select_from(Venue))
    load_demo_data(now=NOW)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Venue)) == venue_count
    assert {name: _sessions_at(venue) for name, venue in _demo_venues().items()} == first


def test_stats_count_sessions_by_status(app):
    from diversion.stats import collect_stats

    load_demo_data(now=NOW)
    in_database = {status.value: 0 for status in SessionStatus}
    for status, count in db.session.execute(
            select(CourseSession.status, func.count()).group_by(CourseSession.status)):
        in_database[status.value] = count
    assert collect_stats()["sessions"] == in_database
    assert in_database["scheduled"] >= 12 and in_database["held"] >= 3
