"""The bounded parsing layer every entry point uses: dates, numbers, months and typed text."""

from __future__ import annotations

import datetime as dt

import pytest

from diversion.core import parsing
from diversion.core.parsing import OutOfRange, ParseError

HUGE = "9" * 40


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-27", dt.date(2026, 3, 27)), (" 1900-01-01 ", dt.date(1900, 1, 1)),
    ("2100-12-31", dt.date(2100, 12, 31)),
])
def test_iso_dates_inside_the_range_are_read(text, expected):
    assert parsing.parse_date(text) == expected


def test_uk_dates_are_read_only_when_asked_for():
    assert parsing.parse_date("27/03/2026", uk_format=True) == dt.date(2026, 3, 27)
    with pytest.raises(ParseError, match="YYYY-MM-DD"):
        parsing.parse_date("27/03/2026")


@pytest.mark.parametrize("text", ["9999-12-31", "1899-12-31", "2101-01-01", "0001-01-01"])
def test_dates_outside_1900_to_2100_are_refused_with_the_range(text):
    with pytest.raises(OutOfRange, match="between 1 January 1900 and 31 December 2100"):
        parsing.parse_date(text, what="The offence date")


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", f"{HUGE}-01-01", "", "yesterday",
                                  "2026-1-1", "２０２６-01-01"])
def test_anything_else_is_not_a_date(text):
    with pytest.raises(ParseError):
        parsing.parse_date(text)


@pytest.mark.parametrize(("day", "month", "year", "message"), [
    ("31", "2", "2026", "must be a real date"),
    ("1", "1", "26", "must include 4 numbers"),
    ("1", "1", HUGE, "must include 4 numbers"),
    (HUGE, "1", "2026", "must be a real date"),
    ("1", HUGE, "2026", "must be a real date"),
    ("1", "1", "9999", "between 1 January 1900 and 31 December 2100"),
    ("a", "1", "2026", "must be a real date"),
    ("-1", "1", "2026", "must be a real date"),
])
def test_the_three_boxes_of_a_date_input_say_what_is_wrong(day, month, year, message):
    with pytest.raises(ParseError, match=message):
        parsing.parse_date_parts(day, month, year, what="Date of birth")


def test_a_narrower_range_can_be_asked_for():
    with pytest.raises(OutOfRange, match="between 1 January 2026 and 31 December 2026"):
        parsing.make_date(2027, 1, 1, earliest=dt.date(2026, 1, 1), latest=dt.date(2026, 12, 31))


@pytest.mark.parametrize(("text", "expected"), [("5", 5), (" 1,000 ", 1000), ("+7", 7), (12, 12)])
def test_whole_numbers_inside_their_range_are_read(text, expected):
    assert parsing.parse_int(text, minimum=1, maximum=1000) == expected


@pytest.mark.parametrize("text", [HUGE, "0", "1001", "-5"])
def test_numbers_outside_their_range_are_refused_naming_it(text):
    with pytest.raises(OutOfRange, match="between 1 and 1,000"):
        parsing.parse_int(text, minimum=1, maximum=1000, what="Capacity")


@pytest.mark.parametrize("text", ["1.5", "five", "", "1e3", True])
def test_what_is_not_a_whole_number_is_refused(text):
    with pytest.raises(ParseError, match="whole number"):
        parsing.parse_int(text, minimum=1, maximum=1000)


@pytest.mark.parametrize(("text", "expected"), [
    (None, 1), ("", 1), ("3", 3), (HUGE, 1), ("-2", 1), ("0", 1), ("abc", 1), ("100001", 1),
])
def test_a_page_number_from_a_link_falls_back_to_the_first_page(text, expected):
    assert parsing.query_page(text) == expected


def test_an_id_from_a_query_string_is_none_unless_a_row_could_have_it():
    assert parsing.query_int("42") == 42
    assert parsing.query_int(str(2**31)) is None
    assert parsing.query_int(HUGE) is None


@pytest.mark.parametrize(("text", "expected"), [("2026-03", (2026, 3)), ("2100-12", (2100, 12))])
def test_months_are_read(text, expected):
    assert parsing.parse_month(text) == expected


@pytest.mark.parametrize("text", ["9999-12", "2026-13", "2026-00", "2026", HUGE, "2026-3"])
def test_months_out_of_shape_or_range_are_refused(text):
    with pytest.raises(ParseError):
        parsing.parse_month(text)


@pytest.mark.parametrize("text", ["Line\nbreak", "Carriage\rreturn", "Tab\there", "Esc\x1b[31m",
                                  "Bell\x07", "Null\x00", "Del\x7f", "Next line\x85",
                                  "Line sep\u2028", "Para sep\u2029", "Lone\ud800",
                                  "surrogate\udfff"])
def test_single_line_text_refuses_line_breaks_and_control_characters(text):
    with pytest.raises(ParseError, match="must be on one line"):
        parsing.check_text(text, what="Family name")


@pytest.mark.parametrize("text", ["O'Brien-Smith", "Zoë Łukasz", "José 🙂", "St. Mary's Hall, 2"])
def test_ordinary_text_in_any_script_passes(text):
    assert parsing.check_text(text) == text


def test_multi_line_text_keeps_line_breaks_and_tabs_but_no_other_controls():
    assert parsing.check_text("Wheelchair user\r\nNeeds\ta ramp", multiline=True)
    with pytest.raises(ParseError, match="special characters"):
        parsing.check_text("Note\x1b[2J", multiline=True)


@pytest.mark.parametrize(("text", "expected"), [
    ("ls1 4ap", "LS1 4AP"), ("LS14AP", "LS1 4AP"), (" sw1a  1aa ", "SW1A 1AA"), ("M1 1AE", "M1 1AE"),
    ("LS1", None), ("12345", None), ("LS1 4AP\n", "LS1 4AP"), ("", None),
])
def test_one_postcode_rule_for_venues_and_people(text, expected):
    assert parsing.normalise_postcode(text) == expected
