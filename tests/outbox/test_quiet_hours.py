"""No SMS between 20:00 and 08:00 London time, on ordinary days and across the clock changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from diversion.outbox.rules import indiscreet_words, next_allowed_sms_time

UTC = dt.UTC
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "messages"


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("due", "allowed"), [
    # Summer (BST = UTC+1)
    (at(2026, 6, 15, 9, 0), at(2026, 6, 15, 9, 0)),     # 10:00 BST: fine
    (at(2026, 6, 15, 7, 0), at(2026, 6, 15, 7, 0)),     # 08:00 BST exactly: fine
    (at(2026, 6, 15, 6, 59), at(2026, 6, 15, 7, 0)),    # 07:59 BST: wait a minute
    (at(2026, 6, 15, 18, 59), at(2026, 6, 15, 18, 59)),  # 19:59 BST: fine
    (at(2026, 6, 15, 19, 0), at(2026, 6, 16, 7, 0)),    # 20:00 BST: next morning
    (at(2026, 6, 15, 23, 30), at(2026, 6, 16, 7, 0)),   # 00:30 BST on the 16th: that morning
    # Winter (GMT = UTC)
    (at(2026, 1, 10, 20, 0), at(2026, 1, 11, 8, 0)),
    (at(2026, 1, 10, 7, 59), at(2026, 1, 10, 8, 0)),
    # Clocks go forward at 01:00 GMT on Sunday 29 March 2026: 08:00 that day is 07:00 UTC.
    (at(2026, 3, 28, 21, 0), at(2026, 3, 29, 7, 0)),    # Saturday 21:00 GMT
    (at(2026, 3, 29, 0, 30), at(2026, 3, 29, 7, 0)),    # 00:30 GMT, before the change
    (at(2026, 3, 29, 1, 30), at(2026, 3, 29, 7, 0)),    # 02:30 BST, after it
    (at(2026, 3, 29, 18, 59), at(2026, 3, 29, 18, 59)),  # 19:59 BST
    (at(2026, 3, 29, 19, 0), at(2026, 3, 30, 7, 0)),    # 20:00 BST
    # Clocks go back at 01:00 UTC (02:00 BST) on Sunday 25 October 2026: 08:00 is 08:00 UTC.
    (at(2026, 10, 24, 19, 0), at(2026, 10, 25, 8, 0)),  # Saturday 20:00 BST
    (at(2026, 10, 25, 0, 30), at(2026, 10, 25, 8, 0)),  # 01:30 BST, first time round
    (at(2026, 10, 25, 1, 30), at(2026, 10, 25, 8, 0)),  # 01:30 GMT, second time round
    (at(2026, 10, 25, 7, 30), at(2026, 10, 25, 8, 0)),  # 07:30 GMT
    (at(2026, 10, 25, 19, 59), at(2026, 10, 25, 19, 59)),  # 19:59 GMT
    (at(2026, 10, 25, 20, 0), at(2026, 10, 26, 8, 0)),  # 20:00 GMT
])
def test_next_allowed_sms_time(due, allowed):
    assert next_allowed_sms_time(due) == allowed


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        next_allowed_sms_time(dt.datetime(2026, 6, 15, 9, 0))


def test_an_instant_in_another_zone_is_judged_by_london_time():
    new_york_evening = dt.datetime(2026, 6, 15, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    assert next_allowed_sms_time(new_york_evening) == at(2026, 6, 16, 7, 0)  # 21:00 BST


@pytest.mark.parametrize("text", ["Your kerb-crawling course", "Sexual offences awareness",
                                  "s51A course", "Soliciting: your course"])
def test_words_that_name_the_offence_are_found(text):
    assert indiscreet_words(text) != []


@pytest.mark.parametrize("text", ["Your course on Monday 5 March", "Essex venue details",
                                  "Reminder: your appointment tomorrow"])
def test_ordinary_wording_passes(text):
    assert indiscreet_words(text) == []


def test_no_message_subject_line_names_the_offence():
    subjects = sorted(TEMPLATES.glob("*.subject.txt"))
    assert subjects, "there are message templates"
    for path in subjects:
        assert indiscreet_words(path.read_text()) == [], path.name
