"""A report's dates refused in the GOV.UK date input pattern's words: the error names the box at
fault, the summary links to it and only that box is marked; every problem in one round."""

from __future__ import annotations

import re

import pytest

from tests.pages import error_summary, marked_boxes

REPORTS = ["attendance", "outcomes", "reoffending"]


@pytest.mark.parametrize("kind", REPORTS)
def test_each_date_error_names_links_to_and_marks_only_its_box(app, client, login_as, kind):
    login_as("manager")
    as_of = "&as_of-day=1&as_of-month=13&as_of-year=2026" if kind == "reoffending" else ""
    response = client.get(f"/reports/{kind}?date_from-day=1&date_from-month=&date_from-year=2024"
                          f"&date_to-day=31&date_to-month=12&date_to-year=24{as_of}")
    page = response.get_data(as_text=True)

    assert response.status_code == 400
    assert "<title>Error: " in page
    expected = [("#date_from-month", "The date from must include a month"),
                ("#date_to-year", "The year of the date to must include 4 numbers")]
    if kind == "reoffending":
        expected.append(("#as_of-month", "The month of the as-of date must be a number from 1 to 12"))
    assert error_summary(page) == expected
    assert marked_boxes(page) == {href[1:] for href, _ in expected}
    assert "must be a real date" not in page


def test_a_day_the_month_lacks_marks_the_day_and_a_date_out_of_range_marks_every_box(
        app, client, login_as):
    login_as("manager")
    page = client.get("/reports/outcomes?date_from-day=31&date_from-month=2&date_from-year=2024"
                      "&date_to-day=1&date_to-month=1&date_to-year=2999").get_data(as_text=True)

    assert error_summary(page) == [
        ("#date_from-day", "The date from must be a real date"),
        ("#date_to-day", "The date to must be between 1 January 1900 and 31 December 2100")]
    assert marked_boxes(page) == {"date_from-day", "date_to-day", "date_to-month", "date_to-year"}


def test_a_day_in_letters_is_named(app, client, login_as):
    login_as("manager")
    page = client.get("/reports/attendance?date_from-day=first&date_from-month=1"
                      "&date_from-year=2024&date_to-day=31&date_to-month=12&date_to-year=2024"
                      ).get_data(as_text=True)

    assert error_summary(page) == [("#date_from-day",
                               "The day of the date from must be a number from 1 to 31")]
    assert marked_boxes(page) == {"date_from-day"}


def test_a_day_or_month_of_more_than_two_numbers_is_refused(app, client, login_as):
    # "0031" and "0012" are not how anyone writes a day or month: refused, as the self-service
    # date of birth (core.parsing.parse_date_parts) refuses them, not read as 31 and 12.
    login_as("manager")
    page = client.get("/reports/attendance?date_from-day=0031&date_from-month=1"
                      "&date_from-year=2024&date_to-day=31&date_to-month=0012&date_to-year=2024"
                      ).get_data(as_text=True)
    assert error_summary(page) == [
        ("#date_from-day", "The day of the date from must be a number from 1 to 31"),
        ("#date_to-month", "The month of the date to must be a number from 1 to 12")]
    assert marked_boxes(page) == {"date_from-day", "date_to-month"}


@pytest.mark.parametrize(("query", "expected"), [
    ("as_of-day=31&as_of-month=2&as_of-year=2026",
     [("#date_from-day", "Enter the first date the report covers"),
      ("#date_to-day", "Enter the last date the report covers"),
      ("#as_of-day", "The as-of date must be a real date")]),
    ("scope=" + "x" * 5000,
     [("#date_from-day", "Enter the first date the report covers"),
      ("#date_to-day", "Enter the last date the report covers"),
      ("#scope", "Select which offences are counted")]),
])
def test_an_as_of_date_or_scope_asked_alone_is_checked_not_replaced_by_the_defaults(
        client, login_as, query, expected):
    login_as("manager")
    response = client.get(f"/reports/reoffending?{query}")
    assert response.status_code == 400
    assert error_summary(response.text)[:len(expected)] == expected


def _dates(prefix: str, day: int, month: int, year: int) -> str:
    return f"&{prefix}-day={day}&{prefix}-month={month}&{prefix}-year={year}"


def test_a_reoffending_end_date_after_today_is_the_end_dates_problem_when_as_of_is_blank(
        app, client, login_as, clock):
    # The as-of box was left blank (today): the fault is the date to, not the empty box.
    login_as("manager")
    page = client.get("/reports/reoffending?scope=any" + _dates("date_from", 1, 1, 2026)
                      + _dates("date_to", 31, 12, 2026)).get_data(as_text=True)

    assert error_summary(page) == [("#date_to-day", "The date to must be today or in the past: the "
                               "report counts reoffences recorded up to today")]
    assert marked_boxes(page) == {"date_to-day", "date_to-month", "date_to-year"}


def test_every_error_link_goes_to_a_box_on_the_page(app, client, login_as, clock):
    # A hand-edited or old address: an as-of date on the outcomes report (which has none, and
    # whose figures do not depend on one) is ignored, as the API ignores it; a venue on the
    # outcomes report stays an error, named without a link to a box the page does not show.
    login_as("manager")
    period = _dates("date_from", 1, 1, 2026) + _dates("date_to", 31, 5, 2026)
    ignored = client.get("/reports/outcomes?scope=any" + period + "&as_of-day=x&as_of-month=1"
                         "&as_of-year=2026")
    assert ignored.status_code == 200 and "govuk-error-summary" not in ignored.get_data(
        as_text=True)
    for extra, message in (("&venue=1", "Only the attendance report can be filtered by venue"),
                           ("&facilitator=abc", "There is no facilitator with the id abc")):
        response = client.get("/reports/outcomes?scope=any" + period + extra)
        page = response.get_data(as_text=True)
        assert response.status_code == 400 and message in page
        summary = page[page.index("govuk-error-summary"):page.index("</ul>", page.index(
            "govuk-error-summary"))]
        for anchor in re.findall(r'href="#([^"]+)"', summary):
            assert f'id="{anchor}"' in page, anchor
        assert 'href="#venue"' not in summary and 'href="#facilitator"' not in summary
