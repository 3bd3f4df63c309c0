"""Demonstration venues and sessions. Loading twice changes nothing."""

from __future__ import annotations

import datetime as dt

from diversion.auth import services as auth_services
from diversion.core.timeutils import london_today
from diversion.courses import planning
from diversion.courses import venues as courses_venues
from diversion.courses.models import SessionStatus
from diversion.courses.rules import Frequency, london_wall_to_utc
from diversion.programmes import services as programme_services
from diversion.programmes.models import Programme

DEMO_FACILITATOR = "facilitator@diversion.example"
STEP_FREE_VENUE = courses_venues.VenueDetails(
    name="Leeds Civic Hall, Committee Room 3", capacity=20, address_line_1="Portland Crescent",
    town="Leeds", postcode="LS1 1UR", step_free_access=True,
    notes="Level access from the Millennium Square entrance; lift to the first floor.")
ONLINE_VENUE = courses_venues.VenueDetails(
    name="Online classroom", capacity=12, is_online=True,
    joining_link="https://meet.diversion.example/classroom",
    notes="Cameras on for the whole course; ID shown to camera at the start.")


def _programme(now: dt.datetime) -> Programme:
    programmes = programme_services.list_programmes()
    if programmes:
        return programmes[0]
    return programme_services.create_programme(
        settings=programme_services.ProgrammeSettings(
            code="KCRC", name="Kerb-crawler re-education course"), actor=None, now=now)


def load_demo_sessions(*, now: dt.datetime) -> None:
    """Two venues (one step-free, one online), six months of monthly sessions, a few past."""
    facilitator = auth_services.get_user_by_email(DEMO_FACILITATOR)
    if facilitator is None or any(v.name == STEP_FREE_VENUE.name for v in courses_venues.list_venues()):
        return
    programme = _programme(now)
    hall = courses_venues.create_venue(details=STEP_FREE_VENUE, actor=None, now=now)
    online = courses_venues.create_venue(details=ONLINE_VENUE, actor=None, now=now)
    today = london_today(now)
    start, end = dt.time(9, 30), dt.time(16, 30)
    for venue, first_day, places in ((hall, today + dt.timedelta(days=14), 16),
                                     (online, today + dt.timedelta(days=24), 10)):
        planning.create_sessions(
            programme=programme, venue=venue, first_day=first_day, start_time=start,
            end_time=end, capacity=places, facilitators=[facilitator],
            frequency=Frequency.MONTHLY, count=6, actor=None, now=now)
    for weeks_ago in (4, 8, 12):
        day = today - dt.timedelta(weeks=weeks_ago)
        starts_at = london_wall_to_utc(day, start)
        # Past sessions are recorded as they were scheduled at the time, then marked held.
        session = planning.create_session(
            programme=programme, venue=hall, starts_at=starts_at,
            ends_at=london_wall_to_utc(day, end), capacity=16, facilitators=[facilitator],
            actor=None, now=starts_at - dt.timedelta(days=30))
        planning.change_session_status(session=session, to=SessionStatus.HELD, reason=None,
                                       actor=None, now=now)
