"""The reminder plan page: managers only; saving the plan; bad input shown beside the field."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.core.extensions import db
from diversion.outbox.models import ReminderKind
from diversion.reminders import messages as reminders_messages
from tests.builders import create_programme

K = ReminderKind


def form_data(**changes: str) -> dict[str, str]:
    data = {
        "first_reminder-enabled": "y", "first_reminder-offset_days": "7",
        "first_reminder-time_of_day": "10:00",
        "final_reminder-enabled": "y", "final_reminder-offset_days": "1",
        "final_reminder-time_of_day": "10:00",
        "joining_details-enabled": "y", "joining_details-offset_days": "2",
        "joining_details-time_of_day": "",
        "deadline_approaching-enabled": "y", "deadline_approaching-offset_days": "7",
        "deadline_approaching-time_of_day": "10:00",
        "offer_withdrawn-enabled": "y",
        "fee_outstanding-enabled": "y", "fee_outstanding-offset_days": "5",
        "fee_outstanding-time_of_day": "10:00",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def programme(app):  # type: ignore[no-untyped-def]
    programme = create_programme()
    db.session.commit()
    return programme


def test_a_manager_sees_every_programmes_plan_with_the_defaults(client, login_as, programme):
    login_as("manager")
    page = client.get("/reminder-plans").get_data(as_text=True)
    assert programme.name in page
    assert "7 days before the session, at 10:00" in page and "48 hours before the session" in page
    assert "Booking deadline approaching" in page


def test_the_edit_page_lists_the_messages_sent_elsewhere_as_fixed(client, login_as, programme):
    login_as("manager")
    page = client.get(f"/reminder-plans/{programme.id}").get_data(as_text=True)
    assert "Booking confirmation, with a calendar file" in page
    assert "Course completed" in page and "referring officer" in page
    assert 'name="first_reminder-offset_days"' in page and 'value="7"' in page


@pytest.mark.parametrize("role", ["admin", "police", "facilitator"])
def test_only_managers_may_see_or_change_the_plan(client, login_as, programme, role):
    login_as(role)
    assert client.get("/reminder-plans").status_code == 403
    assert client.get(f"/reminder-plans/{programme.id}").status_code == 403
    assert client.post(f"/reminder-plans/{programme.id}", data=form_data()).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, programme):
    assert client.get("/reminder-plans").status_code == 302


def test_a_manager_changes_the_plan_and_it_is_audited(client, login_as, programme):
    manager = login_as("manager")
    response = client.post(f"/reminder-plans/{programme.id}", data=form_data(**{
        "final_reminder-time_of_day": "9:15", "final_reminder-offset_days": "2",
        "first_reminder-enabled": None}))
    assert response.status_code == 302
    plan = reminders_messages.get_plan(programme.id)
    assert plan[K.FINAL_REMINDER].offset_days == 2
    assert plan[K.FINAL_REMINDER].time_of_day == dt.time(9, 15)
    assert plan[K.FIRST_REMINDER].enabled is False
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "reminder_plan.update"))
    assert event is not None and event.actor_user_id == manager.id
    assert client.get("/reminder-plans").get_data(as_text=True).count(">Off</dd>") == 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"final_reminder-time_of_day": "25:00"}, "Enter a time like 10:00"),
    ({"final_reminder-offset_days": "99"}, "Enter a number of days from 0 to 60"),
    ({"final_reminder-offset_days": ""}, "Enter a number of days from 0 to 60"),
    ({"joining_details-offset_days": "0"}, "Enter at least 1 day, or give a time of day"),
])
def test_bad_plan_lines_are_refused_with_the_reason_beside_the_field(client, login_as, programme,
                                                                     changes, message):
    login_as("manager")
    response = client.post(f"/reminder-plans/{programme.id}", data=form_data(**changes))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and message in page
    assert reminders_messages.get_plan(programme.id)[K.FINAL_REMINDER].offset_days == 1


def test_an_unknown_programme_is_not_found(client, login_as, programme):
    login_as("manager")
    assert client.get(f"/reminder-plans/{programme.id + 999}").status_code == 404


def test_the_fee_reminder_is_a_line_of_the_plan_and_can_be_changed(client, login_as, programme):
    login_as("manager")
    page = client.get("/reminder-plans").get_data(as_text=True)
    assert "Fee still to pay" in page and "5 days before the session, at 10:00" in page
    response = client.post(f"/reminder-plans/{programme.id}", data=form_data(**{
        "fee_outstanding-offset_days": "3", "fee_outstanding-time_of_day": "18:30"}))
    assert response.status_code == 302
    plan = reminders_messages.get_plan(programme.id)
    assert (plan[K.FEE_OUTSTANDING].offset_days, plan[K.FEE_OUTSTANDING].time_of_day) == (
        3, dt.time(18, 30))
