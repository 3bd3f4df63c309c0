import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.errors import InvalidTransition, ValidationFailed
from diversion.core.extensions import db
from diversion.courses import feeds as courses_feeds
from diversion.courses import planning as courses_planning
from diversion.courses import venues as courses_venues
from diversion.courses.models import CourseSession, SessionStatus
from diversion.courses.rules import Frequency
from tests.builders import NOW, create_programme, create_session, create_user, create_venue

UTC = dt.UTC
LATER = dt.datetime(2026, 7, 6, 8, 30, tzinfo=UTC)  # Monday 6 July 2026, 9:30am in London


def _series(**overrides):
    values = dict(programme=create_programme(), venue=create_venue(), first_day=dt.date(2026, 7, 6),
                  start_time=dt.time(9, 30), end_time=dt.time(16, 30), capacity=12,
                  facilitators=[create_user("facilitator")], frequency=Frequency.WEEKLY, count=4,
                  actor=None, now=NOW)
    values.update(overrides)
    return courses_planning.create_sessions(**values)


def test_an_online_venue_needs_a_secure_joining_link_and_no_address(app):
    with pytest.raises(ValidationFailed) as error:
        create_venue(is_online=True, joining_link="http://meet.example/x", address_line_1="")
    assert error.value.errors == {"joining_link": "Enter a joining link that starts with https://"}
    venue = create_venue(is_online=True, joining_link="https://meet.example/room", postcode="")
    assert venue.is_online and venue.postcode is None and venue.step_free_access


def test_an_in_person_venue_needs_an_address_and_a_real_postcode(app):
    with pytest.raises(ValidationFailed) as error:
        create_venue(address_line_1="", town="", postcode="nonsense", capacity=0)
    assert set(error.value.errors) == {"address_line_1", "town", "postcode", "capacity"}
    assert create_venue(postcode="ls15hd").postcode == "LS1 5HD"


def test_the_database_refuses_a_session_with_no_places(app):
    session = create_session(starts_at=LATER)
    session.capacity = 0
    with pytest.raises(IntegrityError):
        db.session.flush()


def test_a_session_cannot_have_more_places_than_its_venue(app):
    venue = create_venue(capacity=10)
    with pytest.raises(ValidationFailed) as error:
        create_session(starts_at=LATER, venue=venue, capacity=11)
    assert "holds 10 people" in error.value.errors["capacity"]
    assert db.session.scalar(select(CourseSession.id)) is None


def test_only_facilitators_can_run_sessions(app):
    with pytest.raises(ValidationFailed) as error:
        create_session(starts_at=LATER, facilitators=[create_user("manager")])
    assert "not an active facilitator" in error.value.errors["facilitators"]


def test_a_session_must_end_after_it_starts_and_start_in_the_future(app):
    with pytest.raises(ValidationFailed) as error:
        create_session(starts_at=NOW - dt.timedelta(hours=1), hours=-1)
    assert set(error.value.errors) == {"starts_at", "ends_at"}


def test_a_weekly_series_is_stored_in_utc_at_the_same_london_time(app):
    created = _series(first_day=dt.date(2026, 10, 19), count=3)
    starts = [s.starts_at for s in created.sessions]
    assert starts == [dt.datetime(2026, 10, 19, 8, 30, tzinfo=UTC),
                      dt.datetime(2026, 10, 26, 9, 30, tzinfo=UTC),
                      dt.datetime(2026, 11, 2, 9, 30, tzinfo=UTC)]
    assert len({s.series_key for s in created.sessions}) == 1
    stored = db.session.scalars(select(CourseSession.starts_at).order_by(CourseSession.id)).all()
    assert stored == starts


def test_a_series_reports_its_skipped_bank_holidays(app):
    created = _series(first_day=dt.date(2026, 8, 24), count=2)
    assert [s.starts_at.date() for s in created.sessions] == [dt.date(2026, 8, 24),
                                                             dt.date(2026, 9, 7)]
    assert created.skipped == [(dt.date(2026, 8, 31), "Late Summer Bank Holiday")]


def test_a_facilitator_booked_twice_is_refused_naming_the_clashing_session(app):
    facilitator = create_user("facilitator", name="Sam Facilitator")
    existing = create_session(starts_at=LATER, facilitators=[facilitator])
    with pytest.raises(courses_planning.SessionClash) as error:
        create_session(starts_at=LATER + dt.timedelta(hours=2), facilitators=[facilitator])
    assert error.value.status == 409
    [clash] = error.value.extra["clashes"]
    assert clash["session_id"] == existing.id
    assert clash["facilitators"] == ["Sam Facilitator"] and clash["venue"] is False
    assert f"session {existing.id}" in error.value.message
    assert "Sam Facilitator is running it" in error.value.message


def test_a_venue_in_two_overlapping_sessions_is_refused(app):
    venue = create_venue(name="Civic Hall")
    existing = create_session(starts_at=LATER, venue=venue)
    with pytest.raises(courses_planning.SessionClash) as error:
        create_session(starts_at=LATER + dt.timedelta(hours=6), venue=venue)
    assert error.value.extra["clashes"][0]["session_id"] == existing.id
    assert "Civic Hall is in use" in error.value.message


def test_a_cancelled_session_does_not_block_its_time(app):
    venue = create_venue()
    existing = create_session(starts_at=LATER, venue=venue)
    courses_planning.cancel_session(session=existing, reason="Room flooded", actor=None, now=NOW)
    assert create_session(starts_at=LATER, venue=venue).id != existing.id


def test_a_series_reports_all_clashes_at_once_and_writes_nothing(app):
    venue = create_venue()
    facilitator = create_user("facilitator")
    first = create_session(starts_at=LATER, venue=venue)
    third = create_session(starts_at=LATER + dt.timedelta(weeks=2), facilitators=[facilitator])
    db.session.commit()
    with pytest.raises(courses_planning.SessionClash) as error:
        _series(venue=venue, facilitators=[facilitator], count=4)
    db.session.rollback()
    assert sorted(c["session_id"] for c in error.value.extra["clashes"]) == [first.id, third.id]
    assert "2 clashes" in error.value.message
    assert db.session.scalar(select(db.func.count()).select_from(CourseSession)) == 2


def test_moving_a_session_checks_clashes_but_not_against_itself(app):
    facilitator = create_user("facilitator")
    venue = create_venue()
    session = create_session(starts_at=LATER, venue=venue, facilitators=[facilitator])
    other = create_session(starts_at=LATER + dt.timedelta(days=1), facilitators=[facilitator])
    courses_planning.update_session(session=session, venue=venue, day=dt.date(2026, 7, 6),
                                    start_time=dt.time(10, 0), end_time=dt.time(17, 0), capacity=15,
                                    facilitators=[facilitator], actor=None, now=NOW)
    assert session.starts_at == dt.datetime(2026, 7, 6, 9, 0, tzinfo=UTC)
    with pytest.raises(courses_planning.SessionClash) as error:
        courses_planning.update_session(session=session, venue=venue, day=dt.date(2026, 7, 7),
                                        start_time=dt.time(10, 0), end_time=dt.time(17, 0), capacity=15,
                                        facilitators=[facilitator], actor=None, now=NOW)
    assert [c["session_id"] for c in error.value.extra["clashes"]] == [other.id]


def test_cancelling_needs_a_reason_and_happens_once(app):
    session = create_session(starts_at=LATER)
    with pytest.raises(ValidationFailed):
        courses_planning.cancel_session(session=session, reason="  ", actor=None, now=NOW)
    courses_planning.cancel_session(session=session, reason="Facilitator ill", actor=None, now=NOW)
    assert session.status is SessionStatus.CANCELLED and session.cancelled_at == NOW
    with pytest.raises(InvalidTransition):
        courses_planning.cancel_session(session=session, reason="Again", actor=None, now=NOW)


def test_venue_and_session_changes_are_audited_as_alterations(app):
    manager = create_user("manager")
    venue = courses_venues.create_venue(details=courses_venues.VenueDetails(
        name="Hall", capacity=20, address_line_1="1 Road", town="Leeds", postcode="LS1 1UR"),
        actor=manager, now=NOW)
    created = _series(venue=venue, count=2, actor=manager)
    courses_planning.cancel_session(session=created.sessions[0], reason="Strike", actor=manager, now=NOW)
    db.session.flush()
    rows = db.session.execute(
        select(AuditEvent.action, AuditEvent.object_type, AuditEvent.category)
        .where(AuditEvent.actor_user_id == manager.id).order_by(AuditEvent.id)).all()
    assert [r.action for r in rows] == ["venue.create", "session.create", "session.create",
                                        "session.cancelled"]
    assert {r.category for r in rows} == {AuditCategory.ALTERATION}


def test_a_venue_cannot_shrink_below_an_upcoming_sessions_places(app):
    venue = create_venue(capacity=20)
    create_session(starts_at=LATER, venue=venue, capacity=18)
    with pytest.raises(ValidationFailed) as error:
        courses_venues.update_venue(venue=venue, details=courses_venues.VenueDetails(
            name=venue.name, capacity=15, address_line_1="1 Road", town="Leeds",
            postcode="LS1 1UR"), actor=None, now=NOW)
    assert "18 places" in error.value.errors["capacity"]


def test_a_time_that_does_not_exist_on_the_clock_change_day_is_refused(app):
    with pytest.raises(ValidationFailed) as error:
        _series(first_day=dt.date(2027, 3, 28), start_time=dt.time(1, 30),
                frequency=Frequency.ONCE, count=None)
    assert "does not exist" in error.value.errors["start_time"]


def test_the_calendar_feed_token_is_stored_as_a_digest_and_reset_replaces_it(app):
    facilitator = create_user("facilitator")
    first = courses_feeds.reset_calendar_feed(user=facilitator, actor=facilitator, now=NOW)
    feed = courses_feeds.get_calendar_feed(facilitator)
    assert feed is not None and first not in feed.token_hash
    assert courses_feeds.user_for_calendar_token(first, now=NOW) == facilitator
    second = courses_feeds.reset_calendar_feed(user=facilitator, actor=facilitator, now=NOW)
    assert courses_feeds.user_for_calendar_token(first, now=NOW) is None
    assert courses_feeds.user_for_calendar_token(second, now=NOW) == facilitator
