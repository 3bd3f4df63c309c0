"""The people booked on a session's page: a count, sorting by name or reference, a CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.core.extensions import db
from tests.builders import session_with_people
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")


def booked_order(page: str) -> list[str]:
    table = page[page.index("data-booked"):]
    return re.findall(r'data-label="Reference">(?:<a [^>]*>)?([A-Z0-9]{8})', table)


def test_the_table_counts_and_sorts_the_people_booked(client, login_as):
    login_as("manager")
    session, referrals = session_with_people(3)
    db.session.commit()
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert 'data-booked-count="3"' in page and "3 people" in page
    references = sorted(r.reference for r in referrals)
    by_name = sorted(referrals, key=lambda r: (r.person.family_name.casefold(), r.id))
    assert booked_order(page) == [r.reference for r in by_name]
    page = client.get(f"/sessions/{session.id}?booked_sort=reference&booked_order=desc")
    assert booked_order(page.get_data(as_text=True)) == references[::-1]
    assert 'class="govuk-table app-table--reflow" data-booked' in page.get_data(as_text=True)


def test_the_session_page_takes_the_same_queries_for_one_person_or_many(client, login_as):
    login_as("manager")
    counts = []
    for n in (1, 6):
        session, _ = session_with_people(n)
        db.session.commit()
        with count_queries() as statements:
            assert client.get(f"/sessions/{session.id}").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_the_csv_of_the_people_booked_reads_back_and_is_audited(client, login_as):
    manager = login_as("manager")
    session, referrals = session_with_people(2)
    db.session.commit()
    response = client.get(f"/bookings/session/{session.id}/attendees.csv?sort=reference")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["Reference"] for r in rows] == sorted(r.reference for r in referrals)
    assert {r["Family name"] for r in rows} == {r.person.family_name for r in referrals}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "attendees.export"))
    assert event is not None and event.actor_user_id == manager.id
    # Which referrals left, by id, in the file's order; no names in the audit row.
    by_reference = sorted(referrals, key=lambda r: r.reference)
    assert (event.object_type, event.object_id, event.details) == (
        "session", str(session.id), {"count": 2, "shown_cut": False,
                                     "shown": [r.id for r in by_reference]})
    assert client.get("/bookings/session/999999/attendees.csv").status_code == 404


@pytest.mark.parametrize("role", ["facilitator", "police", "admin"])
def test_only_managers_download_the_people_booked(client, login_as, role):
    session, _ = session_with_people(1)
    db.session.commit()
    login_as(role)
    assert client.get(f"/bookings/session/{session.id}/attendees.csv").status_code == 403
