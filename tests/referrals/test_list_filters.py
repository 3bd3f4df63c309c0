"""The referrals list: filters that combine, search by any part of a name, "my referrals",
bad dates, the CSV export and the audit rows (docs/DESIGN.md, "The referrals list")."""

import csv
import datetime as dt
import io
import re

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.referrals import lifecycle, queries
from tests.builders import (
    NOW,
    add_referrals,
    create_force,
    create_programme,
    create_referral,
)
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def force(app):
    return create_force("WYP", "West Yorkshire Police")


def references(page: str) -> list[str]:
    return re.findall(r'href="/referrals/([A-Z0-9]{8})"', page)


def found(client, **args) -> list[str]:
    response = client.get("/referrals", query_string=args)
    assert response.status_code == 200, response.status_code
    return references(response.get_data(as_text=True))


def audit_rows(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def test_a_name_is_found_by_given_name_family_name_or_both_in_either_order(
        client, force, login_as):
    ian = create_referral(force=force, family_name="Trialby", given_names="Ian Michael")
    other = create_referral(force=force, family_name="Ianson", given_names="Tom")
    create_referral(force=force, family_name="Brown", given_names="Trevor")
    db.session.commit()
    login_as("police", force=force)
    assert found(client, q="Trialby") == [ian.reference]
    assert found(client, q="trial") == [ian.reference]  # a prefix
    assert set(found(client, q="Ian")) == {ian.reference, other.reference}  # given or family
    assert found(client, q="Ian Trialby") == [ian.reference]
    assert found(client, q="Trialby, Ian") == [ian.reference]
    assert found(client, q="trialby ian") == [ian.reference]
    assert found(client, q="I Tri") == [ian.reference]
    assert found(client, q="Tom Trialby") == []
    assert found(client, q="Michael") == []  # the first given name only
    assert found(client, q=ian.reference) == [ian.reference]


def test_the_search_is_one_union_of_index_lookups_not_an_or(app):
    condition = queries.search_condition("Ian Trialby", today=NOW.date())
    sql = str(condition.compile(compile_kwargs={"literal_binds": True}))
    assert sql.count("UNION") >= 3
    assert " OR " not in sql
    assert "family_name_key >= 'trialby'" in sql and "given_name_key >= 'ian'" in sql


def test_filters_combine_and_travel_with_the_sort_and_the_pages(client, force, login_as):
    npt = create_force("NPT", "Northamptonshire Police")
    other_programme = create_programme("OTHER", name="Another course")
    wanted = add_referrals(30, force=force, start=dt.date(2026, 3, 1))
    add_referrals(5, force=npt, start=dt.date(2026, 3, 1))  # same dates, other force
    [elsewhere] = add_referrals(1, force=force, start=dt.date(2026, 3, 5), family="Else")
    elsewhere.programme = other_programme
    user = login_as("manager")
    lifecycle.transition(wanted[0], lifecycle.E.WITHDRAWN, actor=user, now=NOW, reason="test")
    db.session.commit()
    args = {"force": str(force.id), "status": "awaiting_booking",
            "programme": str(wanted[1].programme_id), "referred_from-day": "1",
            "referred_from-month": "3", "referred_from-year": "2026", "sort": "name",
            "order": "asc"}
    response = client.get("/referrals", query_string=args)
    page = response.get_data(as_text=True)
    assert "<strong>29</strong> referrals, showing 1 to 25" in page
    next_link = re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    for key, value in args.items():
        assert f"{key}={value}" in next_link
    rest = client.get(next_link).get_data(as_text=True)
    seen = references(page) + references(rest)
    expected = [r.reference for r in sorted(wanted[1:], key=lambda r: r.person.family_name_key)]
    assert seen == expected
    assert elsewhere.reference not in seen
    # A sort heading keeps the filters and goes back to the first page.
    heading = re.search(r'href="([^"]*sort=deadline[^"]*)"', rest).group(1).replace("&amp;", "&")
    assert f"force={force.id}" in heading and "status=awaiting_booking" in heading
    assert "after=" not in heading and "page=" not in heading


def test_my_referrals_are_those_the_officer_referred(client, force, login_as):
    officer = login_as("police", force=force)
    mine = create_referral(force=force, officer_email=officer.email)
    colleagues = create_referral(force=force, officer_email="colleague@police.example")
    db.session.commit()
    assert found(client, mine="y") == [mine.reference]
    assert set(found(client)) == {mine.reference, colleagues.reference}
    page = client.get("/referrals").get_data(as_text=True)
    assert 'name="mine"' in page


def test_a_bad_date_is_reported_and_the_other_filters_still_apply(client, force, login_as):
    withdrawn, kept = add_referrals(2, force=force)
    user = login_as("manager")
    lifecycle.transition(withdrawn, lifecycle.E.WITHDRAWN, actor=user, now=NOW, reason="test")
    db.session.commit()
    response = client.get("/referrals", query_string={
        "status": "withdrawn", "referred_from-day": "31", "referred_from-month": "2",
        "referred_from-year": "2026", "q": "bulk"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "govuk-error-summary" in page
    assert 'href="#referred_from-day"' in page
    assert references(page) == [withdrawn.reference]  # status and search still apply
    assert 'value="withdrawn" selected' in page and 'value="bulk"' in page
    assert kept.reference not in page


def test_dates_the_wrong_way_round_are_reported(client, force, login_as):
    login_as("manager")
    response = client.get("/referrals", query_string={
        "referred_from-day": "2", "referred_from-month": "3", "referred_from-year": "2026",
        "referred_to-day": "1", "referred_to-month": "3", "referred_to-year": "2026"})
    assert response.status_code == 400
    assert "must be the same as or after" in response.get_data(as_text=True)


def test_police_never_see_another_forces_referrals_even_when_they_ask(client, force, login_as):
    npt = create_force("NPT", "Northamptonshire Police")
    ours = create_referral(force=force, family_name="Sharedname")
    theirs = create_referral(force=npt, family_name="Sharedname",
                             date_of_birth=dt.date(1990, 5, 5))
    db.session.commit()
    login_as("police", force=force)
    for sort in queries.SORTS:
        assert found(client, q="Sharedname", force=str(npt.id), sort=sort) == [ours.reference]
    assert found(client, q=theirs.reference) == []
    document = client.get("/referrals.csv", query_string={"force": str(npt.id)})
    rows = list(csv.DictReader(io.StringIO(document.data.decode("utf-8-sig"))))
    assert [row["reference"] for row in rows] == [ours.reference]


def test_the_csv_holds_the_filtered_rows_in_the_lists_order_and_is_audited(
        client, force, login_as):
    made = add_referrals(4, force=force, start=dt.date(2026, 2, 1))
    made[2].person.family_name = "=HYPERLINK(\"http://x\")"
    user = login_as("manager")
    lifecycle.transition(made[3], lifecycle.E.WITHDRAWN, actor=user, now=NOW, reason="test")
    db.session.commit()
    response = client.get("/referrals.csv", query_string={"status": "awaiting_booking",
                                                          "sort": "referred", "order": "asc"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    assert response.headers["X-Rows"] == "3"
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert list(rows[0]) == list(queries.EXPORT_COLUMNS)
    assert [row["reference"] for row in rows] == [r.reference for r in made[:3]]
    assert rows[0]["referral_date"] == "2026-02-01"
    assert rows[0]["status"] == "Awaiting booking"
    assert rows[0]["force"] == "WYP" and rows[0]["programme"] == "KCRC"
    assert rows[2]["family_name"].startswith("'=")  # a formula is neutralised
    [export] = audit_rows("referral.export")
    assert export.category is AuditCategory.DISCLOSURE
    assert export.actor_user_id == user.id
    assert export.details["filters"] == {"status": "awaiting_booking"}
    assert export.details["rows"] == 3 and export.details["cut"] is False


def test_the_csv_says_when_it_was_cut(client, force, login_as, monkeypatch):
    add_referrals(5, force=force)
    login_as("manager")
    db.session.commit()
    monkeypatch.setattr(queries, "MAX_EXPORT_ROWS", 3)
    response = client.get("/referrals.csv")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert len(rows) == 3
    assert response.headers["X-Rows-Cut"] == "only the first 3 rows"
    assert audit_rows("referral.export")[0].details["cut"] is True


def test_reading_the_list_is_audited_with_the_filters_and_the_ids_shown(
        client, force, login_as):
    made = add_referrals(30, force=force)
    user = login_as("manager")
    client.get("/referrals", query_string={"q": "bulk", "sort": "deadline"})
    [read] = audit_rows("referral.list")
    assert read.category is AuditCategory.CONSULTATION
    assert read.actor_user_id == user.id
    # That there was a search, not its text (often a name): the ids say what it found.
    assert read.details["filters"] == {"search": True}
    assert "bulk" not in str(read.details)
    assert read.details["sort"] == "deadline" and read.details["page"] == 1
    assert read.details["count"] == "30"
    assert read.details["shown"] == [r.id for r in made[:25]]  # one page's ids, bounded


def test_the_list_page_is_a_fixed_number_of_queries_whatever_the_rows_and_sort(
        client, force, login_as):
    login_as("police", force=force)
    add_referrals(3, force=force)
    db.session.commit()

    def statements(**args) -> int:
        with count_queries() as sent:
            response = client.get("/referrals", query_string=args)
        assert response.status_code == 200
        return len(sent)

    few = {sort: statements(sort=sort) for sort in queries.SORTS}
    add_referrals(60, force=force, start=dt.date(2025, 1, 1), family="More")
    db.session.commit()
    many = {sort: statements(sort=sort) for sort in queries.SORTS}
    assert few == many
    assert max(many.values()) <= 10
    assert statements(q="More") == statements(q="More", page="2")


@pytest.mark.parametrize("sort", list(queries.SORTS))
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_the_csv_has_the_pages_rows_in_the_pages_order_for_every_sort(
        client, force, login_as, sort, order):
    made = add_referrals(6, force=force) + add_referrals(4, force=force, same_day=True)
    user = login_as("manager")
    lifecycle.transition(made[1], lifecycle.E.WITHDRAWN, actor=user, now=NOW, reason="test")
    db.session.commit()
    args = {"sort": sort, "order": order, "q": "bulk"}
    page = found(client, **args)
    document = client.get("/referrals.csv", query_string=args)
    rows = list(csv.DictReader(io.StringIO(document.data.decode("utf-8-sig"))))
    assert [row["reference"] for row in rows] == page
    assert len(page) == 10
