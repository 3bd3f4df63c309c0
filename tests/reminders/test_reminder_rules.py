"""The reminder plan's pure rules: due times in London time, quiet hours, skipping, keys."""

from __future__ import annotations

import datetime as dt

import pytest

from diversion.core.timeutils import to_london
from diversion.outbox.models import Channel, ReminderKind
from diversion.outbox.rules import choose_contact
from diversion.reminders import rules
from diversion.reminders.rules import DEFAULT_PLAN, PlanItem

K = ReminderKind
EMAIL, SMS = Channel.EMAIL, Channel.SMS


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


FINAL = DEFAULT_PLAN[K.FINAL_REMINDER]
FIRST = DEFAULT_PLAN[K.FIRST_REMINDER]
JOINING = DEFAULT_PLAN[K.JOINING_DETAILS]


def test_the_final_reminder_is_at_ten_in_the_morning_london_time_the_day_before_in_summer():
    # Session Tuesday 16 June 2026 09:30 BST (08:30 UTC): reminder Monday 10:00 BST = 09:00 UTC.
    assert rules.due_before(FINAL, starts_at=utc(2026, 6, 16, 8, 30)) == utc(2026, 6, 15, 9, 0)


def test_the_final_reminder_is_at_ten_utc_the_day_before_in_winter():
    assert rules.due_before(FINAL, starts_at=utc(2026, 12, 8, 9, 30)) == utc(2026, 12, 7, 10, 0)


def test_a_session_on_the_day_the_clocks_go_forward_is_reminded_at_ten_gmt_the_day_before():
    # Sunday 29 March 2026: clocks go forward at 01:00 GMT. Session 09:30 BST = 08:30 UTC.
    # Saturday 28 March is still GMT: 10:00 London = 10:00 UTC.
    assert rules.due_before(FINAL, starts_at=utc(2026, 3, 29, 8, 30)) == utc(2026, 3, 28, 10, 0)


def test_a_session_the_day_after_the_clocks_go_forward_is_reminded_at_ten_bst():
    # Monday 30 March 09:30 BST; reminder Sunday 29 March 10:00 BST = 09:00 UTC.
    assert rules.due_before(FINAL, starts_at=utc(2026, 3, 30, 8, 30)) == utc(2026, 3, 29, 9, 0)


def test_a_session_on_the_day_the_clocks_go_back_is_reminded_at_ten_bst_the_day_before():
    # Sunday 25 October 2026: clocks go back at 02:00 BST. Session 09:30 GMT = 09:30 UTC.
    # Saturday 24 October is BST: 10:00 London = 09:00 UTC.
    assert rules.due_before(FINAL, starts_at=utc(2026, 10, 25, 9, 30)) == utc(2026, 10, 24, 9, 0)


def test_a_week_before_reminder_across_the_autumn_change_keeps_the_wall_clock_time():
    # Session Monday 26 October 09:30 GMT; 7 days before is Monday 19 October, BST.
    assert rules.due_before(FIRST, starts_at=utc(2026, 10, 26, 9, 30)) == utc(2026, 10, 19, 9, 0)


def test_a_week_before_reminder_across_the_spring_change_keeps_the_wall_clock_time():
    # Session Thursday 2 April 09:30 BST (08:30 UTC); 26 March is GMT: 10:00 UTC.
    assert rules.due_before(FIRST, starts_at=utc(2026, 4, 2, 8, 30)) == utc(2026, 3, 26, 10, 0)


def test_joining_details_are_exactly_48_hours_before_even_across_a_clock_change():
    start = utc(2026, 3, 30, 8, 30)
    assert rules.due_before(JOINING, starts_at=start) == start - dt.timedelta(hours=48)


def test_a_time_of_day_in_the_spring_gap_moves_forward_like_a_clock():
    item = PlanItem(K.FINAL_REMINDER, True, 1, dt.time(1, 30))
    # The day before Monday 30 March is Sunday 29 March: 01:30 does not exist; 02:30 BST.
    assert rules.due_before(item, starts_at=utc(2026, 3, 30, 8, 30)) == utc(2026, 3, 29, 1, 30)


def test_an_sms_reminder_due_in_the_evening_waits_until_eight_the_next_morning():
    due = utc(2026, 6, 15, 19, 30)  # 20:30 BST
    assert rules.send_time(due, channel=SMS, now=utc(2026, 6, 1), expires_at=None) == utc(
        2026, 6, 16, 7, 0)


def test_an_email_reminder_due_in_the_evening_is_sent_in_the_evening():
    due = utc(2026, 6, 15, 19, 30)
    assert rules.send_time(due, channel=EMAIL, now=utc(2026, 6, 1), expires_at=None) == due


def test_an_sms_in_winter_quiet_hours_waits_for_eight_gmt():
    assert rules.send_time(utc(2026, 12, 7, 6, 0), channel=SMS, now=utc(2026, 12, 1),
                           expires_at=None) == utc(2026, 12, 7, 8, 0)


@pytest.mark.parametrize("hour", [20, 21, 23, 0, 3, 7])
def test_no_sms_is_planned_for_the_quiet_hours_whatever_time_the_manager_chose(hour):
    item = PlanItem(K.FINAL_REMINDER, True, 1, dt.time(hour, 0))
    start = utc(2026, 10, 26, 13, 0)  # the day after the clocks go back
    planned = rules.plan_session_reminders({K.FINAL_REMINDER: item}, starts_at=start,
                                           is_online=False, channel=SMS, now=utc(2026, 10, 1))
    final = [p for p in planned if p.kind is K.FINAL_REMINDER]
    assert final, "the reminder is planned"
    wall = to_london(final[0].due_at).time()
    assert dt.time(8, 0) <= wall < dt.time(20, 0)


def test_a_reminder_whose_time_has_passed_when_planned_is_skipped_not_sent_late():
    start = utc(2026, 6, 16, 8, 30)  # final reminder due 15 June 09:00 UTC
    planned = rules.plan_session_reminders(DEFAULT_PLAN, starts_at=start, is_online=False,
                                           channel=EMAIL, now=utc(2026, 6, 15, 9, 1))
    assert planned == []


def test_a_booking_made_eight_days_ahead_gets_both_reminders_expiring_at_the_start():
    start = utc(2026, 6, 23, 8, 30)
    planned = rules.plan_session_reminders(DEFAULT_PLAN, starts_at=start, is_online=False,
                                           channel=EMAIL, now=utc(2026, 6, 15, 9, 0))
    assert [(p.kind, p.due_at) for p in planned] == [
        (K.FIRST_REMINDER, utc(2026, 6, 16, 9, 0)), (K.FINAL_REMINDER, utc(2026, 6, 22, 9, 0))]
    assert {p.expires_at for p in planned} == {start}


def test_joining_details_are_only_for_online_sessions():
    start = utc(2026, 6, 23, 8, 30)
    in_person = rules.plan_session_reminders(DEFAULT_PLAN, starts_at=start, is_online=False,
                                             channel=EMAIL, now=utc(2026, 6, 1))
    online = rules.plan_session_reminders(DEFAULT_PLAN, starts_at=start, is_online=True,
                                          channel=EMAIL, now=utc(2026, 6, 1))
    assert K.JOINING_DETAILS not in {p.kind for p in in_person}
    [joining] = [p for p in online if p.kind is K.JOINING_DETAILS]
    assert joining.due_at == utc(2026, 6, 21, 8, 30)


def test_a_late_booking_for_an_online_session_gets_the_joining_link_at_once():
    start = utc(2026, 6, 16, 8, 30)
    now = utc(2026, 6, 15, 14, 0)
    planned = rules.plan_session_reminders(DEFAULT_PLAN, starts_at=start, is_online=True,
                                           channel=EMAIL, now=now)
    assert [(p.kind, p.due_at) for p in planned] == [(K.JOINING_DETAILS, now)]


def test_a_late_sms_joining_link_booked_at_night_waits_for_eight():
    start = utc(2026, 6, 16, 8, 30)  # 09:30 BST
    planned = rules.plan_session_reminders(DEFAULT_PLAN, starts_at=start, is_online=True,
                                           channel=SMS, now=utc(2026, 6, 15, 21, 0))
    assert [(p.kind, p.due_at) for p in planned] == [(K.JOINING_DETAILS, utc(2026, 6, 16, 7, 0))]


def test_an_sms_pushed_by_the_quiet_hours_past_the_start_is_not_planned():
    item = PlanItem(K.FINAL_REMINDER, True, 0, dt.time(21, 0))  # 21:00 on the day: too late
    start = utc(2026, 6, 16, 6, 30)  # 07:30 BST, before 08:00
    assert rules.plan_session_reminders({K.FINAL_REMINDER: item, K.FIRST_REMINDER: PlanItem(
        K.FIRST_REMINDER, False)}, starts_at=start, is_online=False, channel=SMS,
        now=utc(2026, 6, 1)) == []


def test_switched_off_lines_are_not_planned():
    plan = {**DEFAULT_PLAN, K.FIRST_REMINDER: PlanItem(K.FIRST_REMINDER, False, 7,
                                                        dt.time(10, 0))}
    planned = rules.plan_session_reminders(plan, starts_at=utc(2026, 7, 30, 8, 30),
                                           is_online=False, channel=EMAIL, now=utc(2026, 6, 1))
    assert [p.kind for p in planned] == [K.FINAL_REMINDER]


def test_the_deadline_message_is_seven_days_before_at_ten_and_expires_after_the_deadline_day():
    planned = rules.plan_deadline_reminder(DEFAULT_PLAN[K.DEADLINE_APPROACHING],
                                           deadline=dt.date(2026, 11, 1), channel=EMAIL,
                                           now=utc(2026, 10, 1))
    assert planned is not None
    assert planned.due_at == utc(2026, 10, 25, 10, 0)  # the Sunday the clocks go back: GMT
    assert planned.expires_at == utc(2026, 11, 2, 0, 0)


def test_a_deadline_message_already_due_is_skipped():
    assert rules.plan_deadline_reminder(DEFAULT_PLAN[K.DEADLINE_APPROACHING],
                                        deadline=dt.date(2026, 6, 20), channel=EMAIL,
                                        now=utc(2026, 6, 15)) is None


@pytest.mark.parametrize(("preferred", "email", "mobile", "expected"), [
    ("sms", "a@example.com", "+447911123456", (SMS, "+447911123456")),
    ("email", "a@example.com", "+447911123456", (EMAIL, "a@example.com")),
    ("sms", "a@example.com", None, (EMAIL, "a@example.com")),
    ("post", None, "+447911123456", (SMS, "+447911123456")),
    ("email", None, None, None),
])
def test_the_channel_follows_the_preference_and_the_addresses_given(preferred, email, mobile,
                                                                   expected):
    assert choose_contact(preferred=preferred, email=email, mobile=mobile) == expected


def test_a_session_reminder_key_names_the_start_instant_without_colons():
    key = rules.session_key(K.FIRST_REMINDER, booking_id=7, starts_at=utc(2026, 6, 16, 8, 30))
    assert key == "reminder:first_reminder:booking:7:20260616T0830Z"
    assert rules.key_start_token(key) == "20260616T0830Z"
    assert rules.key_start_token(key + ":resend:1") == "20260616T0830Z"


@pytest.mark.parametrize(("item", "field"), [
    (PlanItem(K.FIRST_REMINDER, True, 61, dt.time(10)), "offset_days"),
    (PlanItem(K.FIRST_REMINDER, True, -1, dt.time(10)), "offset_days"),
    (PlanItem(K.JOINING_DETAILS, True, 0, None), "offset_days"),
])
def test_impossible_plan_lines_are_refused(item, field):
    assert field in rules.check_item(item)


def test_the_default_plan_is_valid():
    assert all(rules.check_item(item) == {} for item in DEFAULT_PLAN.values())
