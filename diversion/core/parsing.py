"""One bounded parsing layer for what people and programs type: dates, numbers, months, text.

Forms, query strings, the API, the CSV imports and the command line all parse through here, so
the same value is refused with the same words everywhere, and nothing a client sends can reach
`int()`, `datetime.date()` or a database column unchecked. Each function raises `ParseError`
(a `ValueError`) whose message is written for the person who typed the value.
"""

from __future__ import annotations

import datetime as dt
import re

# The dates a person's life or a course can fall on. Far-future years (9999) are typing
# mistakes or probes, and they break month arithmetic and calendars further on.
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
# No count, page or amount here needs more digits than this; longer input is refused before int().
MAX_DIGITS = 12
# The largest id a 32-bit integer column holds (every id column is one on PostgreSQL).
MAX_ID = 2**31 - 1
# Arrays and objects nested deeper than this are refused before parsing: no body anything takes
# (the API, the register's autosave) is more than 3 deep, and deep nesting is how a parser is made
# to recurse until it fails.
MAX_JSON_DEPTH = 32
# No list is paged further than this; a larger page number is a mistyped or edited link.
MAX_PAGE = 100_000

_INTEGER = re.compile(r"^[+-]?\d+$", re.ASCII)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$", re.ASCII)
_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", re.ASCII)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
# C0 controls, DEL and C1 controls, plus the Unicode line and paragraph separators; and lone
# surrogates, which a JSON body can carry ("\\ud800") but no encoder, driver or database can
# store (UTF-8 refuses them), so no one typed them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CONTROL_EXCEPT_LINE_BREAKS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

SINGLE_LINE_MESSAGE = "{what} must be on one line, with no tabs or other special characters"
MULTI_LINE_MESSAGE = "{what} must not contain special characters other than line breaks and tabs"


class ParseError(ValueError):
    """A value that cannot be used, with a message for the person who typed it."""


class OutOfRange(ParseError):
    """A well-formed value outside the range it may take."""


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """True when `text` holds a control character (line breaks and tabs allowed if multiline)."""
    pattern = _CONTROL_EXCEPT_LINE_BREAKS if multiline else _CONTROL
    return pattern.search(text) is not None


def check_text(text: str, *, what: str = "The text", multiline: bool = False) -> str:
    """`text` unchanged, or ParseError when it breaks the single-line (or multi-line) rule."""
    if has_control_characters(text, multiline=multiline):
        template = MULTI_LINE_MESSAGE if multiline else SINGLE_LINE_MESSAGE
        raise ParseError(template.format(what=what))
    return text


def parse_int(text: str | int, *, minimum: int, maximum: int, what: str = "The number") -> int:
    """A whole number between minimum and maximum."""
    if isinstance(text, bool):
        raise ParseError(f"{what} must be a whole number")
    if isinstance(text, int):
        value = text
    else:
        cleaned = text.strip().replace(",", "")
        if not _INTEGER.match(cleaned):
            raise ParseError(f"{what} must be a whole number, like {minimum if minimum > 0 else 1}")
        if len(cleaned.lstrip("+-")) > MAX_DIGITS:
            raise OutOfRange(f"{what} must be between {minimum:,} and {maximum:,}")
        value = int(cleaned)
    if not minimum <= value <= maximum:
        raise OutOfRange(f"{what} must be between {minimum:,} and {maximum:,}")
    return value


def query_int(text: str | None, *, default: int | None = None, minimum: int = 1,
              maximum: int = MAX_ID) -> int | None:
    """A number from a query string (a page, a cursor id), or `default` when it is not one.

    Query strings are typed by nobody: a bad one is a stale or edited link, answered with the
    default page rather than an error.
    """
    if text is None or text == "":
        return default
    try:
        return parse_int(text, minimum=minimum, maximum=maximum)
    except ParseError:
        return default


def query_page(text: str | None) -> int:
    """A page number from a query string: 1 unless it is a whole number up to MAX_PAGE."""
    return query_int(text, default=1, maximum=MAX_PAGE) or 1


def make_date(year: int, month: int, day: int, *, what: str = "The date",
              earliest: dt.date = EARLIEST_DATE, latest: dt.date = LATEST_DATE) -> dt.date:
    """A real calendar date inside [earliest, latest]."""
    if not earliest.year <= year <= latest.year:
        raise OutOfRange(f"{what} must be between {_words(earliest)} and {_words(latest)}")
    try:
        value = dt.date(year, month, day)
    except ValueError as error:
        raise ParseError(f"{what} must be a real date") from error
    if not earliest <= value <= latest:
        raise OutOfRange(f"{what} must be between {_words(earliest)} and {_words(latest)}")
    return value


def parse_date_parts(day: str, month: str, year: str, *, what: str = "The date",
                     earliest: dt.date = EARLIEST_DATE, latest: dt.date = LATEST_DATE) -> dt.date:
    """The three boxes of a GOV.UK date input, as a date. Blank boxes are the caller's concern."""
    parts = [part.strip() for part in (day, month, year)]
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ParseError(f"{what} must be a real date")
    if len(parts[2]) != 4:
        raise ParseError(f"The year of {_lower(what)} must include 4 numbers")
    if len(parts[0]) > 2 or len(parts[1]) > 2:
        raise ParseError(f"{what} must be a real date")
    return make_date(int(parts[2]), int(parts[1]), int(parts[0]), what=what,
                     earliest=earliest, latest=latest)


def parse_date(text: str, *, what: str = "The date", uk_format: bool = False,
               earliest: dt.date = EARLIEST_DATE, latest: dt.date = LATEST_DATE) -> dt.date:
    """`YYYY-MM-DD` (and, if uk_format, `DD/MM/YYYY`) as a date inside the bounds."""
    cleaned = text.strip()
    match = _ISO_DATE.match(cleaned)
    if match:
        year, month, day = map(int, match.groups())
    elif uk_format and (uk := _UK_DATE.match(cleaned)):
        day, month, year = map(int, uk.groups())
    else:
        example = "YYYY-MM-DD or DD/MM/YYYY" if uk_format else "YYYY-MM-DD"
        raise ParseError(f"{what} must be a date written as {example}")
    return make_date(year, month, day, what=what, earliest=earliest, latest=latest)


def parse_month(text: str, *, earliest: dt.date = EARLIEST_DATE,
                latest: dt.date = LATEST_DATE) -> tuple[int, int]:
    """`YYYY-MM` as (year, month) inside the bounds."""
    match = _MONTH.match(text.strip())
    if not match:
        raise ParseError("The month must be written as YYYY-MM")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ParseError("The month must be between 01 and 12")
    if not (earliest.year, earliest.month) <= (year, month) <= (latest.year, latest.month):
        raise ParseError(f"The month must be between {earliest:%B %Y} and {latest:%B %Y}")
    return year, month


_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$", re.ASCII)


def normalise_postcode(text: str) -> str | None:
    """A UK postcode in capitals with one space ("ls1 4ap" -> "LS1 4AP"); None if not one."""
    match = _POSTCODE.match(re.sub(r"\s+", "", text).upper())
    return f"{match[1]} {match[2]}" if match else None


def _words(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _lower(what: str) -> str:
    return what[:1].lower() + what[1:]


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """True when arrays and objects in `raw` nest deeper than `limit` (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False
