import datetime as dt
from dataclasses import replace

import pytest

from diversion.courses.ical import (
    CalendarEvent,
    build_calendar,
    escape_text,
    fold,
    one_event_calendars,
)

NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)


def test_text_values_are_escaped():
    assert escape_text("Hall; Room 1, Leeds\nback door\\") == (
        "Hall\\; Room 1\\, Leeds\\nback door\\\\")


def test_long_lines_are_folded_at_75_octets_without_splitting_characters():
    line = "DESCRIPTION:" + "é" * 80
    folded = fold(line)
    pieces = folded.split("\r\n ")
    assert all(len(p.encode()) <= 75 for p in pieces)
    assert "".join(pieces) == line


def test_a_calendar_has_utc_times_crlf_lines_and_cancelled_events_marked():
    event = CalendarEvent(uid="session-7@diversion.example",
                          starts_at=dt.datetime(2026, 7, 6, 9, 30,
                                                tzinfo=dt.timezone(dt.timedelta(hours=1))),
                          ends_at=dt.datetime(2026, 7, 6, 15, 30, tzinfo=dt.UTC),
                          summary="Course", location="Hall, Leeds", is_cancelled=True)
    text = build_calendar([event], now=NOW)
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert "DTSTART:20260706T083000Z" in lines
    assert "DTEND:20260706T153000Z" in lines
    assert "DTSTAMP:20260615T090000Z" in lines
    assert "STATUS:CANCELLED" in lines
    assert "LOCATION:Hall\\, Leeds" in lines
    assert "\n" not in text.replace("\r\n", "")


@pytest.mark.parametrize("location", [
    "", "Hall", "Online (joining link sent by email)",
    "Église Saint-Œuf, 1 Rue de la Paix; Salle 3\\A, Longtown-upon-the-Marsh, LS1 5HD " * 2])
@pytest.mark.parametrize("description", [
    "", "short", "Your booking reference is B0000001. Arrive on time: late arrivals cannot be "
    "admitted.", "Réf. ÉÉÉ, ünïcödé; " * 9 + "\nnew line"])
def test_one_event_calendars_are_the_calendars_build_calendar_makes(location, description):
    shared = CalendarEvent(uid="x", starts_at=NOW, ends_at=NOW + dt.timedelta(hours=7),
                           summary="Course booking, day one", location=location)
    calendar = one_event_calendars(shared, now=NOW, name="Course booking")
    for uid in ("booking-1@diversion.example", "booking-" + "9" * 80 + "@diversion.example"):
        assert calendar(uid, description) == build_calendar(
            [replace(shared, uid=uid, description=description)], now=NOW, name="Course booking")
