"""iCalendar (RFC 5545) text: UTC times, stable UIDs, escaped and folded lines."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

PRODID = "-//Diversion//Diversion programme//EN"
UID_DOMAIN = "diversion.example"


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    summary: str
    location: str = ""
    description: str = ""
    is_cancelled: bool = False
    sequence: int = 0


def escape_text(value: str) -> str:
    """RFC 5545 3.3.11 TEXT: backslash, semicolon, comma and newlines escaped."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """Split a content line into 75-octet pieces joined by CRLF and a space (RFC 5545 3.1)."""
    if line.isascii():  # an octet a character: slices (most lines, and a fast path for bulk)
        if len(line) <= 75:
            return line
        return "\r\n ".join([line[:75], *(line[i:i + 74] for i in range(75, len(line), 74))])
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    pieces: list[str] = []
    current = b""
    limit = 75
    for char in line:
        size = len(char.encode())
        if len(current) + size > limit:
            pieces.append(current.decode())
            current = b""
            limit = 74  # continuation lines start with a space
        current += char.encode()
    pieces.append(current.decode())
    return "\r\n ".join(pieces)


@functools.lru_cache(maxsize=4096)  # a bulk confirmation stamps a few instants thousands of times
def utc_stamp(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime: calendar times are written in UTC")
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def build_calendar(events: Iterable[CalendarEvent], *, now: dt.datetime,
                   name: str = "Diversion sessions") -> str:
    """A VCALENDAR document holding the events, with CRLF line endings."""
    lines = _head(name)
    for event in events:
        lines += _event_lines(event, now=now)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def one_event_calendars(shared: CalendarEvent, *, now: dt.datetime,
                        name: str = "Diversion sessions") -> Callable[[str, str], str]:
    """`(uid, description) -> build_calendar([shared with that uid and description])`, for many
    one-event calendars alike but for those two (the confirmations of a session's bookings):
    the lines they share are escaped and folded once."""
    def text(lines: list[str]) -> str:
        return "".join(fold(line) + "\r\n" for line in lines)

    event_lines = _event_lines(replace(shared, uid="", description=""), now=now)
    head = text([*_head(name), event_lines[0]])  # up to BEGIN:VEVENT
    middle = text(event_lines[2:-1])  # after the UID, before the description
    tail = text([event_lines[-1], "END:VCALENDAR"])

    def calendar(uid: str, description: str) -> str:
        described = fold(f"DESCRIPTION:{escape_text(description)}") + "\r\n" if description else ""
        return f"{head}{fold(f'UID:{uid}')}\r\n{middle}{described}{tail}"

    return calendar


def _head(name: str) -> list[str]:
    return [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]


def _event_lines(event: CalendarEvent, *, now: dt.datetime) -> list[str]:
    """The event's lines, unfolded: BEGIN, UID, the rest, DESCRIPTION (if any), END."""
    lines = [
        "BEGIN:VEVENT",
        f"UID:{event.uid}",
        f"DTSTAMP:{utc_stamp(now)}",
        f"DTSTART:{utc_stamp(event.starts_at)}",
        f"DTEND:{utc_stamp(event.ends_at)}",
        f"SEQUENCE:{event.sequence}",
        f"SUMMARY:{escape_text(event.summary)}",
        "STATUS:CANCELLED" if event.is_cancelled else "STATUS:CONFIRMED",
    ]
    if event.location:
        lines.append(f"LOCATION:{escape_text(event.location)}")
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    lines.append("END:VEVENT")
    return lines


def session_uid(session_id: int) -> str:
    """The same UID every time a session is published, so calendars update it in place."""
    return f"session-{session_id}@{UID_DOMAIN}"
