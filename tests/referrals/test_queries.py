"""Referral list queries: scope, cursors, counts."""

import datetime as dt

import pytest

from diversion.core.extensions import db
from diversion.referrals import paging, queries
from diversion.referrals.models import ReferralStatus
from tests.builders import create_force, create_referral, create_user

TODAY = dt.date(2026, 6, 15)


@pytest.fixture
def forces(app):
    return create_force("WYP"), create_force("NPT")


def test_a_cursor_that_was_not_made_here_is_refused():
    with pytest.raises(paging.InvalidCursor):
        paging.Cursor.decode("2026-13-01.x")
    cursor = paging.Cursor(dt.date(2026, 6, 1), 42)
    assert paging.Cursor.decode(cursor.encode()) == cursor


def test_a_police_officer_cannot_widen_their_scope_with_a_force_filter(forces):
    ours, theirs = forces
    create_referral(force=ours)
    other = create_referral(force=theirs)
    officer = create_user("police", force=ours)
    page = queries.list_referrals(actor=officer, today=TODAY,
                                  filters=queries.ReferralFilters(force_id=theirs.id))
    assert other not in page.items and len(page.items) == 1


def test_counts_by_status_are_scoped_to_the_officers_force(forces):
    ours, theirs = forces
    create_referral(force=ours)
    create_referral(force=theirs)
    create_referral(force=theirs)
    officer, manager = create_user("police", force=ours), create_user("manager")
    db.session.flush()
    assert queries.count_by_status(officer)[ReferralStatus.AWAITING_BOOKING] == 1
    assert queries.count_by_status(manager)[ReferralStatus.AWAITING_BOOKING] == 3
    assert queries.count_by_status(manager)[ReferralStatus.BOOKED] == 0


def test_deadline_soon_counts_booking_deadlines_up_to_14_days_ahead(forces):
    ours, _ = forces
    create_referral(force=ours, referral_date=dt.date(2026, 6, 1), offence_date=dt.date(2026, 5, 30))
    create_referral(force=ours, referral_date=dt.date(2026, 6, 14), offence_date=dt.date(2026, 6, 13))
    officer = create_user("police", force=ours)
    # Booking deadlines: 29 June (in 14 days) and 12 July (not yet).
    assert queries.count_deadline_soon(officer, today=TODAY) == 1
    assert queries.count_deadline_soon(officer, today=dt.date(2026, 6, 30)) == 1  # 12 July
    assert queries.count_deadline_soon(officer, today=dt.date(2026, 7, 13)) == 0


def test_a_search_for_a_short_pnc_id_that_fails_its_check_finds_nobody(forces):
    ours, _ = forces
    create_referral(force=ours, pnc_id="2019/0123456E")
    manager = create_user("manager")
    found = queries.list_referrals(actor=manager, today=TODAY,
                                   filters=queries.ReferralFilters(search="19/123456A"))
    assert found.items == []


def test_keyset_pages_walk_forwards_and_back_over_every_referral_once(forces):
    ours, _ = forces
    made = [create_referral(force=ours, referral_date=TODAY - dt.timedelta(days=n % 3))
            for n in range(7)]
    db.session.flush()
    manager = create_user("manager")
    newest_first = sorted(made, key=lambda r: (r.referral_date, r.id), reverse=True)
    pages, after = [], None
    while True:
        page = queries.list_referrals(actor=manager, filters=queries.ReferralFilters(),
                                      today=TODAY, after=after, limit=3)
        pages.append(page)
        if page.next_cursor is None:
            break
        assert page.next_cursor == paging.Cursor.of(page.items[-1]).encode()
        after = page.next_cursor
    assert [r for page in pages for r in page.items] == newest_first
    back = queries.list_referrals(actor=manager, filters=queries.ReferralFilters(), today=TODAY,
                                  before=pages[-1].previous_cursor, limit=3)
    assert list(back.items) == list(pages[-2].items)


def test_a_cursor_reads_back_as_the_date_and_id_it_was_made_from():
    cursor = paging.Cursor.decode("2026-06-01.42")
    assert cursor == paging.Cursor(dt.date(2026, 6, 1), 42)
    assert cursor.encode() == "2026-06-01.42"
    for text in ("", "2026-06-01", "2026-06-01.0", "2026-06-01.-1", "2026-06-01.2147483648",
                 "9999-01-01.1", "WyIyMDI2LTA2LTAxIiw1XQ"):
        with pytest.raises(paging.InvalidCursor):
            paging.Cursor.decode(text)


def test_booking_due_within_days_takes_today_to_the_last_day_and_only_those_awaiting_booking(app):
    manager = create_user("manager")
    force = create_force()
    # Booking deadline = referral date + 28 days.
    for referral_date in (dt.date(2026, 5, 17), dt.date(2026, 5, 18), dt.date(2026, 5, 25),
                          dt.date(2026, 5, 26)):
        create_referral(force=force, referral_date=referral_date,
                        offence_date=referral_date - dt.timedelta(days=3))
    db.session.flush()
    due = queries.ReferralFilters(booking_due_within_days=7)
    # 14 June (passed), 15 June (today), 22 June (today + 7), 23 June (too late).
    assert queries.count_referrals(manager, due, today=TODAY) == 2
    page = queries.list_referrals(actor=manager, filters=due, today=TODAY)
    assert sorted(r.booking_deadline for r in page.items) == [dt.date(2026, 6, 15),
                                                              dt.date(2026, 6, 22)]


def test_closed_within_days_and_mine_narrow_the_list(app):
    from tests.builders import closed_referral

    force = create_force()
    officer = create_user("police", force=force)
    closed_referral("Recent", closed_on=dt.date(2026, 6, 1), outcome="not_completed", force=force)
    closed_referral("Older", closed_on=dt.date(2026, 5, 31), outcome="not_completed", force=force)
    create_referral(force=force, officer_email=officer.email)
    create_referral(force=force)
    db.session.flush()
    recent = queries.ReferralFilters(status=ReferralStatus.NOT_COMPLETED, closed_within_days=14)
    assert queries.count_referrals(officer, recent, today=TODAY) == 1
    mine = queries.ReferralFilters(mine=True)
    assert queries.count_referrals(officer, mine, today=TODAY) == 1
