"""The commonest mistakes on the staff forms: a page that says what to fix, with what was typed.

A required date left blank used to answer 500 on every one of these forms (a validator raised a
plain ValueError, which WTForms 3.3 no longer turns into a field error). tests/test_hostile_forms.py
walks every form for 500s; these name the error each mistake must give.
"""

from __future__ import annotations

import html
import re

import pytest

from diversion.core.extensions import db
from tests.builders import build_world, create_programme, create_referral, create_venue
from tests.test_scoping import sign_in

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

BLANK_DATE = {"-day": "", "-month": "", "-year": ""}


def _blank(name: str) -> dict[str, str]:
    return {name + part: value for part, value in BLANK_DATE.items()}


def _summary(page: str) -> list[tuple[str, str]]:
    """(href, text) of each error summary link."""
    box = page[page.index("govuk-error-summary"):]
    box = box[:box.index("</ul>")]
    return [(href, re.sub(r"\s+", " ", text).strip())
            for href, text in re.findall(r'<a href="(#[^"]+)"[^>]*>(.*?)</a>', box, re.S)]


FORMS = [
    ("police_a", "/referrals/new", {**_blank("date_of_birth"), "family_name": "Keep-Me"},
     "#date_of_birth-day", "Enter the date of birth", "Keep-Me"),
    ("police_a", "/referrals/new", {**_blank("offence_date"), "given_names": "Kept Too"},
     "#offence_date-day", "Enter the date of the offence", "Kept Too"),
    ("manager", "/sessions/new", {**_blank("first_day"), "capacity": "12"},
     "#first_day-day", "Enter the date of the first session", 'value="12"'),
    ("manager", "/sessions/new", {**_blank("until"), "frequency": "weekly", "ends": "until",
                                  "first_day-day": "1", "first_day-month": "6",
                                  "first_day-year": "2027"},
     "#until-day", "Enter the last date of the series", 'value="2027"'),
    ("police_a", "/reoffences/new", {**_blank("offence_date"), "pnc_id": "2019/0123456E"},
     "#offence_date-day", "Enter the offence date", "2019/0123456E"),
    ("manager", "/reports/justice-data-lab", _blank("date_from"),
     "#date_from-day", "Enter the first referral date of the cohort", None),
]


@pytest.mark.parametrize(("who", "url", "data", "href", "message", "kept"), FORMS,
                         ids=[f"{url} {href}" for _, url, _, href, *_ in FORMS])
def test_a_blank_required_date_is_named_in_the_error_summary_and_nothing_typed_is_lost(
        app, client, who, url, data, href, message, kept):
    world = build_world()
    sign_in(client, world.users[who])
    response = client.post(url, data=data)
    assert response.status_code in (200, 400, 422)
    page = response.get_data(as_text=True)
    assert (href, message) in _summary(page)
    if kept:
        assert kept in page


def test_a_report_filter_left_blank_is_named_not_a_500(app, client):
    world = build_world()
    sign_in(client, world.users["manager"])
    response = client.get("/reports/attendance?date_from-day=&date_from-month=&date_from-year="
                          "&date_to-day=31&date_to-month=12&date_to-year=2026")
    assert response.status_code == 400
    errors = _summary(response.get_data(as_text=True))
    assert ("#date_from-day", "Enter the first date the report covers") in errors


@pytest.mark.parametrize(("year", "message", "anchor"), [
    ("9999", "Date of birth must be between 1 January 1900 and 31 December 2100", "day"),
    ("9" * 40, "The year of date of birth must include 4 numbers", "year"),  # the box at fault
])
def test_a_far_or_absurd_year_is_refused_with_words(app, client, year, message, anchor):
    world = build_world()
    sign_in(client, world.users["police_a"])
    page = client.post("/referrals/new", data={"date_of_birth-day": "1",
                                               "date_of_birth-month": "1",
                                               "date_of_birth-year": year}).get_data(as_text=True)
    assert (f"#date_of_birth-{anchor}", message) in _summary(page)


def test_a_limit_or_a_bad_optional_answer_is_named_in_govuk_words_and_what_was_typed_is_kept(
        app, client):
    world = build_world()
    sign_in(client, world.users["police_a"])
    long_text = "x" * 5000
    page = client.post("/referrals/new", data={
        "access_needs": long_text, "crime_reference": "C" * 41, "offence_time": "25:99",
        "completion_deadline-day": "31", "completion_deadline-month": "2",
        "completion_deadline-year": "2026"}).get_data(as_text=True)
    errors = [(href, html.unescape(text)) for href, text in _summary(page)]
    assert ("#access_needs", "Other access needs must be 500 characters or fewer") in errors
    assert ("#crime_reference", "Crime reference must be 40 characters or fewer") in errors
    assert ("#offence_time", "Enter the time of the offence like 9:30 or 14:00") in errors
    assert ("#completion_deadline-day",
            "Completion deadline from the caution's conditions must be a real date") in errors
    assert not any("Field " in text or "(optional)" in text for _, text in errors)
    assert long_text in page  # nothing typed is lost


@pytest.mark.parametrize("value", ["Smith\r\nJones", "Smith\tJones", "Smith\x1b[31m", "Smith\x07"])
def test_a_single_line_box_refuses_line_breaks_and_control_characters(app, client, value):
    world = build_world()
    sign_in(client, world.users["police_a"])
    page = client.post("/referrals/new", data={"family_name": value}).get_data(as_text=True)
    assert ("#family_name", "Family name must be on one line, with no tabs or other special "
                            "characters") in _summary(page)


def test_a_text_area_keeps_line_breaks_but_refuses_other_control_characters(app, client):
    world = build_world()
    sign_in(client, world.users["manager"])
    create_programme()
    db.session.commit()
    page = client.post("/venues/new", data={"name": "Hall", "notes": "Side door\r\nKeys: Sam"}
                       ).get_data(as_text=True)
    assert not any(href == "#notes" for href, _ in _summary(page))
    page = client.post("/venues/new", data={"name": "Hall", "notes": "Side door\x1b[2J"}
                       ).get_data(as_text=True)
    assert ("#notes", "Notes must not contain special characters other than line "
                      "breaks and tabs") in _summary(page)


def test_a_venue_name_with_a_line_break_is_refused_and_nothing_is_stored(app, client):
    from sqlalchemy import func, select

    from diversion.courses.models import Venue

    world = build_world()
    sign_in(client, world.users["manager"])
    before = db.session.scalar(select(func.count()).select_from(Venue))
    page = client.post("/venues/new", data={"name": "Hall\nInjected", "is_online": "no",
                                            "address_line_1": "1 Road", "town": "Leeds",
                                            "postcode": "LS1 1AA", "capacity": "20"})
    assert ("#name", "Venue name must be on one line, with no tabs or other special characters"
            ) in _summary(page.get_data(as_text=True))
    assert db.session.scalar(select(func.count()).select_from(Venue)) == before
    assert create_venue  # the builder stays importable for the walk above


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "Capacity must be a whole number, like 20"),
    ("1.5", "Capacity must be a whole number, like 20"),
    ("9" * 40, "Capacity must be a whole number, like 20"),
    ("0", "Capacity must be between 1 and 1000"),
])
def test_a_number_box_refuses_what_is_not_a_whole_number_in_its_own_words(app, client, value,
                                                                         message):
    world = build_world()
    sign_in(client, world.users["manager"])
    page = client.post("/venues/new", data={"name": "Hall", "capacity": value})
    assert ("#capacity", message) in _summary(page.get_data(as_text=True))


def test_a_reason_asked_for_by_a_question_is_named_the_reason_in_its_errors(app, client):
    world = build_world()
    referral = create_referral(actor=world.users["police_a"],
                               officer_email=world.users["police_a"].email)
    db.session.commit()
    sign_in(client, world.users["police_a"])
    url = f"/referrals/{referral.reference}/withdraw"
    page = client.post(url, data={"reason": "x" * 5000}).get_data(as_text=True)
    assert ("#reason", "The reason must be 1,000 characters or fewer") in _summary(page)
    page = client.post(url, data={"reason": "Charged\x1b[2J"}).get_data(as_text=True)
    assert ("#reason", "The reason must not contain special characters other than line "
                       "breaks and tabs") in _summary(page)
