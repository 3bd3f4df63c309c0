"""Police National Computer IDs: `YYYY/NNNNNNNL`, the letter a check character.

The check letter is CHECK_LETTERS[int(YY + NNNNNNN) mod 23], YY being the last two digits of
the year. The short form `YY/NNNNNNNL` is accepted and expanded; the long form is stored.
"""

from __future__ import annotations

import datetime as dt
import re

CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
FORMAT_MESSAGE = "Enter a PNC ID in the format YYYY/NNNNNNNL, like 2019/0123456E"
CHECK_MESSAGE = "The PNC ID's check letter does not match its number. Check the number and letter"
_PATTERN = re.compile(r"^(?P<year>\d{2}|\d{4})/(?P<serial>\d{1,7})(?P<letter>[A-Z])$")


class InvalidPnc(ValueError):
    """A PNC ID that is malformed or fails its check; str() is a message for people."""


def check_letter(year: int, serial: int) -> str:
    """The check letter of a PNC ID from its year and serial number."""
    return CHECK_LETTERS[int(f"{year % 100:02d}{serial:07d}") % 23]


def parse_pnc(value: str, *, today: dt.date) -> str:
    """Validate a PNC ID in long or short form and return its long form `YYYY/NNNNNNNL`."""
    text = re.sub(r"\s+", "", value or "").upper()
    match = _PATTERN.match(text)
    if match is None:
        raise InvalidPnc(FORMAT_MESSAGE)
    year_text, serial_text, letter = match["year"], match["serial"], match["letter"]
    if len(year_text) == 2:
        two_digits = int(year_text)
        # A short year later than this year's two digits cannot be in the future: 1900s.
        year = (1900 if two_digits > today.year % 100 else 2000) + two_digits
    else:
        year = int(year_text)
    if year < 1900 or year > today.year:
        raise InvalidPnc("The year of a PNC ID must be between 1900 and this year")
    serial = int(serial_text)
    if check_letter(year, serial) != letter:
        raise InvalidPnc(CHECK_MESSAGE)
    return f"{year:04d}/{serial:07d}{letter}"
