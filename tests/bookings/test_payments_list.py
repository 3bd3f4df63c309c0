"""Managers' list of every payment recorded: named by person and reference, filtered, counted,
paged, and as CSV (docs/DESIGN.md "Staff lists")."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.bookings import fees
from diversion.core import paging
from diversion.core.extensions import db
from tests.builders import NOW, create_force, create_referral, create_user
from tests.pages import error_summary
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")


def paid(family_name: str, *, method: str = "card", pence: int = 5000, force=None,  # type: ignore[no-untyped-def]
         reference: str = "RCPT-1", manager=None, now=NOW):
    referral = create_referral(family_name=family_name, given_names="Peter", force=force,
                               date_of_birth=dt.date(1980, 1, 1) + dt.timedelta(days=next(_births)))
    payment = fees.record_payment(referral=referral, amount_pence=pence, method=method,
                                  reference=reference, actor=manager or create_user("manager"), now=now)
    db.session.flush()
    return referral, payment


_births = itertools.count()


def shown(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-payment-id="(\d+)"', page)]


def test_each_payment_names_the_person_reference_and_recorder(client, login_as):
    manager = login_as("manager")
    referral, payment = paid("Xavier", manager=manager)
    db.session.commit()
    page = client.get("/fees/payments").get_data(as_text=True)
    assert shown(page) == [payment.id]
    assert "XAVIER, Peter" in page and f'href="/referrals/{referral.reference}"' in page
    assert manager.name in page and "£50" in page and "Card" in page and "1 payment." in page
    assert f"referral {referral.id}" not in page


def test_the_outstanding_fees_page_links_to_the_payments(client, login_as):
    login_as("manager")
    assert 'href="/fees/payments"' in client.get("/fees/outstanding").get_data(as_text=True)


def test_filters_combine(client, login_as):
    login_as("manager")
    west, south = create_force("WYP"), create_force("SYP")
    _, wanted = paid("Xavier", method="cash", force=west)
    paid("Xavier", method="card", force=west)
    paid("Xavier", method="cash", force=south)
    paid("Young", method="cash", force=west)
    paid("Xavier", method="cash", force=west, now=NOW.replace(month=5))
    db.session.commit()
    page = client.get(f"/fees/payments?q=xavier&method=cash&force={west.id}"
                      "&date_from-day=1&date_from-month=6&date_from-year=2026")
    assert shown(page.get_data(as_text=True)) == [wanted.id]
    assert client.get("/fees/payments?method=bitcoin").status_code == 400


def test_sorted_by_amount(client, login_as):
    login_as("manager")
    _, small = paid("Alpha", pence=1000)
    _, large = paid("Beta", pence=9000)
    db.session.commit()
    assert shown(client.get("/fees/payments?sort=amount").get_data(as_text=True)) == [large.id, small.id]
    assert shown(client.get("/fees/payments?sort=amount&order=asc").get_data(as_text=True)) == [
        small.id, large.id]


def test_the_page_takes_the_same_queries_for_one_payment_or_many(client, login_as):
    login_as("manager")
    counts = []
    for extra in (1, 6):
        for n in range(extra):
            paid(f"Name{'abcdefgh'[n]}")
        db.session.commit()
        with count_queries() as statements:
            assert client.get("/fees/payments").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_pages_and_a_bad_cursor(client, login_as):
    login_as("manager")
    for n in range(27):
        paid(f"Page{'abcdefghijklmnopqrstuvwxyz'[n % 26]}", reference=f"R{n}")
    db.session.commit()
    first = client.get("/fees/payments").get_data(as_text=True)
    assert "<strong>27</strong> payments, showing 1 to 25." in first
    assert 'aria-label="Page 2"' in first
    assert len(shown(client.get("/fees/payments?page=2").get_data(as_text=True))) == 2
    missing = client.get("/fees/payments?after=bad")
    assert missing.status_code == 404 and paging.NO_SUCH_PAGE in missing.get_data(as_text=True)


def test_the_csv_reads_back_and_is_audited(client, login_as):
    manager = login_as("manager")
    referral, payment = paid("Xavier", reference="=SUM(A1)", pence=2550)
    paid("Young")
    db.session.commit()
    response = client.get("/fees/payments.csv?q=xavier")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["Payment"], r["Name"], r["Reference"], r["Amount (£)"], r["Payment reference"])
            for r in rows] == [(str(payment.id), "XAVIER, Peter", referral.reference, "25.5", "'=SUM(A1)")]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payments.export"))
    assert event is not None and event.actor_user_id == manager.id and event.details["count"] == 1
    assert event.details["shown"] == [referral.id]  # which referrals left, by id
    assert "xavier" not in str(event.details).lower()


@pytest.mark.parametrize("role", ["police", "facilitator", "admin"])
def test_only_managers_see_the_payments(client, login_as, role):
    login_as(role)
    assert client.get("/fees/payments").status_code == 403
    assert client.get("/fees/payments.csv").status_code == 403


def test_dates_the_wrong_way_round_are_said_not_shown_as_no_payments(client, login_as):
    login_as("manager")
    paid("Xavier")
    db.session.commit()
    reversed_range = ("date_from-day=5&date_from-month=12&date_from-year=2026"
                      "&date_to-day=1&date_to-month=1&date_to-year=2026")

    response = client.get(f"/fees/payments?{reversed_range}")

    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "<title>Error: Payments" in page
    summary = page.split('class="govuk-error-summary"')[1].split("</ul>")[0]
    assert "Recorded on or before must be the same as or after recorded on or after" in summary
    assert 'href="#date_to' in summary
    assert re.search(r'name="date_from-day"[^>]*value="5"', page)
    assert re.search(r'name="date_to-year"[^>]*value="2026"', page)
    download = client.get(f"/fees/payments.csv?{reversed_range}")
    assert download.status_code == 302
    assert download.headers["Location"] == f"/fees/payments?{reversed_range}"


@pytest.mark.parametrize("force", ["3000000000", "%C2%B2", "%00"])
def test_a_force_that_is_not_offered_is_named_not_ignored(client, login_as, force):
    login_as("manager")
    response = client.get(f"/fees/payments?force={force}")
    assert response.status_code == 400
    assert error_summary(response.text) == [("#force", "Choose the police force from the list")]
    download = client.get(f"/fees/payments.csv?force={force}")
    assert download.status_code == 302
    assert download.headers["Location"].startswith("/fees/payments?force=")
