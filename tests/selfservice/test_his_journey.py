"""The man's own pages read as he would read them: what they tell him at each step is true for
him (s8 walk of the self-service journey)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from diversion.bookings import waiting_list
from diversion.core.extensions import db
from diversion.outbox.dispatcher import render_message
from diversion.outbox.models import OutboxMessage
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEventType
from tests.builders import (
    create_booking,
    create_session,
    create_venue,
    future_session,
    known_referral,
    pay_fee,
)
from tests.selfservice.helpers import book, sign_in

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

OVERVIEW = "/book/your-course"


@pytest.mark.parametrize("typed", ["{a} {b}", " {a}-{b} ", "{a}  {b}"])
def test_a_pin_typed_with_spaces_or_a_dash_signs_him_in(client, typed):
    known = known_referral()
    pin = typed.format(a=known.pin[:3], b=known.pin[3:])
    assert sign_in(client, known, pin=pin).headers.get("Location") == OVERVIEW


def test_a_pin_with_other_characters_is_still_refused(client):
    known = known_referral()
    answer = sign_in(client, known, pin=known.pin[:3] + "x" + known.pin[3:])
    assert answer.status_code == 200 and "could not find" in answer.get_data(as_text=True)


def test_after_the_date_to_book_by_his_page_does_not_tell_him_to_book_by_it(client, clock):
    known = known_referral()
    future_session(days=40)
    deadline = known.referral.booking_deadline
    clock.set(dt.datetime.combine(deadline + dt.timedelta(days=2), dt.time(9), dt.UTC))
    assert sign_in(client, known).status_code == 302
    page = client.get(OVERVIEW).get_data(as_text=True)
    words = deadline.strftime("%A %-d %B %Y")
    assert f"Book a place by <strong>{words}" not in page
    assert f"The date to book by was {words}" in page
    assert "Book a place as soon as you can" in page


def test_once_booked_his_page_does_not_ask_him_to_book_by_a_date(client):
    known = known_referral()
    create_booking(known.referral, future_session(days=9))
    db.session.commit()
    assert sign_in(client, known).status_code == 302
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "Your booking" in page
    assert "Book a place by" not in page
    assert "Complete the course by" in page


def test_a_case_gone_back_to_the_police_does_not_tell_him_he_still_owes_the_fee(client):
    known = known_referral()
    lifecycle.transition(known.referral, ReferralEventType.DEADLINE_PASSED, actor=None,
                         now=known.referral.created_at)
    db.session.commit()
    assert sign_in(client, known).status_code == 302
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "Your time to complete the course has ended" in page
    assert "Still to pay" not in page and "Pay the course fee" not in page
    assert known.reference in page


def test_the_confirmation_says_what_is_still_to_pay_and_why(client):
    known = known_referral()
    session = future_session(days=9)
    assert sign_in(client, known).status_code == 302
    page = client.get(book(client, session.id).headers["Location"]).get_data(as_text=True)
    assert '<h2 class="govuk-heading-m" id="fee">Pay the course fee</h2>' in page
    assert "You still need to pay £200. The course only counts once the fee is paid." in page


def test_the_sign_in_page_does_not_say_we_never_ask_for_the_pin_it_asks_for(client):
    page = client.get("/book").get_data(as_text=True)
    assert "We will never ask for your PIN" not in page
    assert "Nobody from the programme team will ever ask for your PIN" in page


def test_the_check_page_tells_him_how_to_ask_for_help_to_take_part(client):
    known = known_referral()
    session = future_session(days=9)
    assert sign_in(client, known).status_code == 302
    page = client.get(f"/book/check?session_id={session.id}").get_data(as_text=True)
    assert "If you need help to take part" in page
    assert 'href="tel:' in page.split("If you need help to take part")[1][:600]


def test_the_check_page_rows_without_an_action_say_so(client):
    known = known_referral()
    session = future_session(days=9)
    assert sign_in(client, known).status_code == 302
    page = client.get(f"/book/check?session_id={session.id}").get_data(as_text=True)
    assert '<dd class="govuk-summary-list__actions"></dd>' not in page
    assert page.count("govuk-summary-list__row--no-actions") == 3


@pytest.mark.parametrize(("boxes", "expected", "marked"), [
    ({"dob_month": ""}, "Date of birth must include a month", ["month"]),
    ({"dob_day": "", "dob_month": ""}, "Date of birth must include a day and month",
     ["day", "month"]),
    ({"dob_year": "84"}, "Year must include 4 numbers, for example 1985", ["year"]),
    ({"dob_day": "31", "dob_month": "2"}, "Date of birth must be a real date, like 27 3 1985",
     ["day", "month", "year"]),
])
def test_a_date_of_birth_part_missing_or_wrong_names_it_and_marks_only_its_boxes(
        client, boxes, expected, marked):
    known = known_referral()
    page = sign_in(client, known, reference="", **boxes).get_data(as_text=True)
    summary = page.split('govuk-error-summary__list')[1].split("</ul>")[0]
    assert "Enter the reference from your letter" in summary  # every problem in one round
    assert f'<a href="#dob-{marked[0]}">{expected}</a>' in summary
    for part in ("day", "month", "year"):
        box = page.split(f'id="dob-{part}"')[0].rsplit("<input", 1)[1]
        assert ("govuk-input--error" in box) == (part in marked), part


def test_when_he_cancels_the_message_gives_the_date_he_must_still_complete_a_course_by(client):
    known = known_referral()
    create_booking(known.referral, future_session(days=9))
    db.session.commit()
    assert sign_in(client, known).status_code == 302
    assert client.post("/book/cancel").status_code == 302
    message = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "booking_cancelled")).one()
    text = render_message(message).text
    deadline = known.referral.completion_deadline.strftime("%A %-d %B %Y")
    assert f"You still need to book and complete a course by {deadline}." in text
    assert "before your deadline" not in text


def _on_a_waiting_list(client):  # type: ignore[no-untyped-def]
    known = known_referral()
    full = future_session(days=9, capacity=1)
    create_booking(known_referral().referral, full)
    db.session.commit()
    assert sign_in(client, known).status_code == 302
    assert client.post(f"/book/waiting-list?session_id={full.id}").status_code == 302
    return known, full


def test_leaving_a_waiting_list_asks_first_and_the_question_leaves_nothing(client):
    known, full = _on_a_waiting_list(client)
    overview = client.get(OVERVIEW).get_data(as_text=True)
    assert f'href="/book/waiting-list/leave?session_id={full.id}"' in overview
    page = client.get(f"/book/waiting-list/leave?session_id={full.id}").get_data(as_text=True)
    assert "Are you sure you want to leave the waiting list?" in page
    assert "Number 1: you are next" in page and "You will lose your place in line" in page
    assert "Yes, leave the waiting list" in page and "No, stay on the waiting list" in page
    db.session.expire_all()
    assert [e.session_id for e, _ in waiting_list.waiting_positions(known.referral)] == [full.id]
    left = client.post("/book/waiting-list/leave", data={"session_id": full.id})
    assert left.headers["Location"] == OVERVIEW
    db.session.expire_all()
    assert waiting_list.waiting_positions(known.referral) == []


def test_the_leave_question_for_a_list_he_is_not_on_sends_him_back(client):
    _known, full = _on_a_waiting_list(client)
    for query in (f"session_id={full.id + 1}", "session_id=x", ""):
        answer = client.get(f"/book/waiting-list/leave?{query}")
        assert answer.headers["Location"] == OVERVIEW, query


def test_the_lock_notice_gives_the_number_to_call_not_only_the_letter(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "DIVERSION_BOOKING_PHONE", "0113 496 0999")
    known = known_referral()
    for _ in range(5):
        sign_in(client, known, dob_year="1990")
    message = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "self_service_locked")).one()
    text = render_message(message).text
    assert "call the programme team on 0113 496 0999 (Monday to Friday" in text
    assert "the number in your letter" not in text


def test_dates_either_side_of_the_october_clock_change_show_the_same_london_times(client):
    known = known_referral(completion_deadline=dt.date(2026, 11, 30))
    venue = create_venue()
    summer = create_session(starts_at=dt.datetime(2026, 10, 24, 8, 30, tzinfo=dt.UTC), venue=venue)
    winter = create_session(starts_at=dt.datetime(2026, 10, 26, 9, 30, tzinfo=dt.UTC), venue=venue)
    db.session.commit()
    assert sign_in(client, known).status_code == 302
    page = client.get("/book/choose").get_data(as_text=True)
    assert "Saturday 24 October 2026, 9:30am to 4:30pm" in page
    assert "Monday 26 October 2026, 9:30am to 4:30pm" in page
    for session in (summer, winter):
        check = client.get(f"/book/check?session_id={session.id}").get_data(as_text=True)
        assert "9:30am to 4:30pm" in check and "after 9:45am you will not be let in" in check


def test_after_his_completion_deadline_but_before_the_nightly_job_his_page_does_not_offer_a_date(
        client, clock):
    known = known_referral()
    future_session(days=9)
    deadline = known.referral.completion_deadline
    clock.set(dt.datetime.combine(deadline + dt.timedelta(days=1), dt.time(7), dt.UTC))
    assert sign_in(client, known).status_code == 302
    page = client.get(OVERVIEW).get_data(as_text=True)
    words = deadline.strftime("%A %-d %B %Y")
    assert "The date to complete the course has passed" in page
    assert f"You needed to complete the course by {words}" in page
    assert "Choose a course date" not in page and "Book a place" not in page
    assert "Still to pay" not in page and "may prosecute you" not in page


def test_a_reference_or_pin_far_too_long_is_answered_in_plain_words(client):
    known = known_referral()
    page = sign_in(client, known, reference="X" * 25, pin="1" * 25).get_data(as_text=True)
    summary = page.split("govuk-error-summary__list")[1].split("</ul>")[0]
    assert "Field cannot be longer" not in page
    assert "Reference must be 8 letters and numbers, like ACDE3467" in summary
    assert "PIN must be 6 numbers" in summary


def test_the_help_for_a_lost_pin_gives_the_number_to_call(client):
    page = client.get("/book").get_data(as_text=True)
    details = page.split("If you do not have a reference or PIN")[1].split("</details>")[0]
    assert 'href="tel:01134960000"' in details and "0113 496 0000" in details


def test_a_man_whose_fee_is_paid_is_not_warned_that_the_course_counts_only_once_it_is(client):
    known = known_referral()
    pay_fee(known.referral)
    db.session.commit()
    assert sign_in(client, known).status_code == 302
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "If you do not complete the course by" in page
    assert "The course only counts once the fee is paid" not in page


def _full_date():  # type: ignore[no-untyped-def]
    full = future_session(days=11, capacity=1)
    create_booking(known_referral().referral, full)
    return full


def test_his_page_counts_only_the_dates_with_places(client):
    known = known_referral()
    future_session(days=9)
    _full_date()
    db.session.commit()
    assert sign_in(client, known).status_code == 302
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "There is 1 course date with places you can choose from." in page


def test_when_every_date_is_full_his_page_says_so_and_offers_the_waiting_lists(client):
    known = known_referral()
    _full_date()
    db.session.commit()
    assert sign_in(client, known).status_code == 302
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "All the course dates you can take are full at the moment" in page
    assert "Choose a course date" in page and "with places you can choose from" not in page


def test_a_completion_date_before_the_booking_date_is_the_date_he_is_asked_to_book_by(
        client, clock):
    # A caution's conditions may give a completion date sooner than the booking deadline
    # (referral date + 28 days): he is never asked to book by a date after it.
    today = clock.today()
    known = known_referral(completion_deadline=today + dt.timedelta(days=10))
    future_session(days=5)
    referral = known.referral
    assert referral.completion_deadline < referral.booking_deadline
    assert referral.book_by == referral.completion_deadline
    assert sign_in(client, known).status_code == 302
    page = client.get(OVERVIEW).get_data(as_text=True)
    sooner = referral.completion_deadline.strftime("%A %-d %B %Y")
    later = referral.booking_deadline.strftime("%A %-d %B %Y")
    assert f"Book a place by <strong>{sooner}" in page
    assert later not in page
