"""The referrals list: scope, filters, search, keyset pages, a constant number of queries;
and the dashboard panels."""

import datetime as dt
import re

import pytest

from diversion.core.extensions import db
from diversion.referrals import lifecycle
from tests.builders import NOW, add_referrals, create_force, create_referral, create_user
from tests.pages import error_summary
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


@pytest.fixture
def force(app):
    return create_force("WYP", "West Yorkshire Police")


def references(page: str) -> list[str]:
    return re.findall(r'href="/referrals/([A-Z0-9]{8})"', page)



def test_police_see_only_their_own_forces_referrals_and_managers_see_all(
        client, force, login_as, auth):
    ours = create_referral(force=force)
    theirs = create_referral(force=create_force("NPT"))
    db.session.commit()
    officer = login_as("police", force=force)
    page = client.get("/referrals").get_data(as_text=True)
    assert references(page) == [ours.reference]
    auth.logout()
    login_as("manager")
    page = client.get("/referrals").get_data(as_text=True)
    assert set(references(page)) == {ours.reference, theirs.reference}
    assert officer.force_id == force.id


def follow(client, url: str, rel: str = "next") -> tuple[str, str | None]:
    """The page at url, and the URL of its rel=next (or prev) link, if any."""
    page = client.get(url).get_data(as_text=True)
    link = re.search(rf'href="([^"]+)" rel="{rel}"', page)
    return page, (link.group(1).replace("&amp;", "&") if link else None)


def test_pages_run_newest_first_by_keyset_with_no_row_twice_and_back_again(
        client, force, login_as):
    made = add_referrals(20, force=force, same_day=False)
    # Ten on one day, so a page ends inside them: the id breaks the tie.
    add_referrals(10, force=force, family="Sameday", start=dt.date(2025, 6, 1), same_day=True)
    db.session.commit()
    login_as("manager")
    seen: list[str] = []
    url: str | None = "/referrals"
    pages = []
    while url:
        pages.append(url)
        page, url = follow(client, url)
        seen += references(page)
    assert len(seen) == len(set(seen)) == 30
    assert seen[:3] == [made[19].reference, made[18].reference, made[17].reference]
    assert len(pages) == 2
    assert seen[20:] == sorted(seen[20:], reverse=True)  # same day: newest id first
    assert "after=" in pages[1] and "page=2" in pages[1]
    second, previous = follow(client, pages[1], rel="prev")
    assert "30</strong> referrals, showing 26 to 30" in second
    assert previous is not None and "before=" in previous
    assert references(client.get(previous).get_data(as_text=True)) == seen[:25]
    # The numbered link to page 2 (a bounded offset) shows what Next showed.
    first = client.get("/referrals").get_data(as_text=True)
    assert 'aria-label="Page 2"' in first
    assert references(client.get("/referrals?page=2").get_data(as_text=True)) == seen[25:]
    assert "Older" not in first and "Newer" not in first


@pytest.mark.parametrize("sort", ["referred", "name", "deadline", "status", "reference"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_sort_walks_every_row_once_in_order_forwards_and_back(
        client, force, login_as, sort, order):
    made = add_referrals(12, force=force, start=dt.date(2026, 1, 1))
    # Same date, name and deadline as others: the id breaks the tie.
    made += add_referrals(12, force=force, start=dt.date(2026, 1, 1), same_day=True)
    user = login_as("manager")
    lifecycle.transition(made[3], lifecycle.E.WITHDRAWN, actor=user, now=NOW, reason="test")
    db.session.commit()
    keys = {
        "referred": lambda r: (r.referral_date, r.id),
        "name": lambda r: (r.person.family_name_key, r.person.given_name_key, r.person.id, r.id),
        "deadline": lambda r: (r.booking_deadline, r.id),
        "status": lambda r: (r.status.value, r.referral_date, r.id),
        "reference": lambda r: (r.reference, r.id),
    }
    expected = [r.reference for r in sorted(made, key=keys[sort], reverse=order == "desc")]
    urls, seen = [], []
    url: str | None = f"/referrals?sort={sort}&order={order}"
    while url:
        urls.append(url)
        assert f"sort={sort}" in url and f"order={order}" in url
        page, url = follow(client, url)
        seen += references(page)
    assert seen == expected
    assert len(urls) == 1 + (len(made) - 1) // 25
    _, back = follow(client, urls[-1], rel="prev") if len(urls) > 1 else ("", None)
    if back:
        assert references(client.get(back).get_data(as_text=True)) == expected[:25]


def test_small_pages_walk_each_sort_with_many_pages(app, force):
    """The shared pager, five at a time, over every sort: each row once, in order."""
    from diversion.core import paging as pager
    from diversion.referrals import queries
    from diversion.referrals.models import Referral

    made = add_referrals(9, force=force) + add_referrals(8, force=force, same_day=True)
    manager = create_user("manager")
    today = NOW.date()
    for key in queries.SORTS:
        for order in ("asc", "desc"):
            ordering = pager.Ordering.from_args({"sort": key, "order": order}, queries.SORTS,
                                                queries.DEFAULT_SORT)
            args: dict[str, str] = {}
            seen: list[Referral] = []
            while True:
                page = queries.referral_page(actor=manager, filters=queries.ReferralFilters(),
                                             ordering=ordering, args=args, today=today, size=5)
                seen += page.items
                if page.next_cursor is None:
                    break
                args = {"page": str(page.number + 1), "after": page.next_cursor}
            assert len(seen) == len({r.id for r in seen}) == len(made), (key, order)
            # And back: the previous page of the last is the one before it.
            if page.previous_cursor:
                back = queries.referral_page(
                    actor=manager, filters=queries.ReferralFilters(), ordering=ordering,
                    args={"page": str(page.number - 1), "before": page.previous_cursor},
                    today=today, size=5)
                assert back.items == seen[-len(page.items) - 5:-len(page.items)]


@pytest.mark.parametrize("query", ["after=not-a-cursor", "before=%%%", "page=0", "page=x",
                                   "page=99", "after=WyIyMDI2LTA2LTAxIl0"])
def test_a_page_that_was_not_made_here_is_404(client, force, login_as, query):
    add_referrals(3, force=force)
    login_as("manager")
    response = client.get("/referrals?" + query)
    assert response.status_code == 404
    assert "That page of results no longer exists" in response.get_data(as_text=True)


def test_filters_by_status_force_dates_and_deadline_soon(client, force, login_as):
    npt = create_force("NPT")
    old = add_referrals(3, force=force, start=dt.date(2025, 1, 1))
    recent = create_referral(force=npt)  # referred 2026-06-10 (builder)
    db.session.commit()
    user = login_as("manager")
    lifecycle.transition(old[0], lifecycle.E.WITHDRAWN, actor=user, now=NOW, reason="test")
    db.session.commit()

    def refs(query: str) -> set[str]:
        return set(references(client.get("/referrals?" + query).get_data(as_text=True)))

    assert refs("status=withdrawn") == {old[0].reference}
    assert refs(f"force={npt.id}") == {recent.reference}
    assert refs("referred_from-day=1&referred_from-month=1&referred_from-year=2025"
                "&referred_to-day=2&referred_to-month=1&referred_to-year=2025") == {
        old[0].reference, old[1].reference}
    assert client.get("/referrals?status=nonsense").status_code == 400


def test_deadline_soon_finds_open_referrals_due_in_the_next_14_days(client, force, login_as):
    from diversion.core.timeutils import london_today, now_utc

    today = london_today(now_utc())
    due = add_referrals(1, force=force, start=today - dt.timedelta(days=20))[0]  # book by +8
    add_referrals(1, force=force, family="Later", start=today - dt.timedelta(days=2))
    db.session.commit()
    login_as("police", force=force)
    page = client.get("/referrals?deadline_soon=y").get_data(as_text=True)
    assert references(page) == [due.reference]


def test_search_finds_by_reference_crime_reference_family_name_prefix_and_pnc_id(
        client, force, login_as):
    smith = create_referral(force=force, family_name="Smith-Jones", pnc_id="2019/0123456E",
                            crime_reference="13/9999/26")
    other = create_referral(force=force, family_name="Brown")
    db.session.commit()
    login_as("police", force=force)

    def found(q: str) -> list[str]:
        return references(client.get("/referrals", query_string={"q": q}).get_data(as_text=True))

    assert found(smith.reference.lower()) == [smith.reference]
    assert found("13/9999/26") == [smith.reference]
    assert found("smith") == [smith.reference]
    assert found("SMITHJ") == [smith.reference]  # normalised: the hyphen does not matter
    assert found("19/123456E") == [smith.reference]  # the short form of the PNC ID
    assert found("bro") == [other.reference]
    assert found("nobody") == []


def test_a_page_of_referrals_costs_the_same_number_of_queries_for_5_or_50(
        client, force, login_as):
    def queries_for_page() -> int:
        with count_queries() as statements:
            response = client.get("/referrals")
        assert response.status_code == 200
        return len(statements)

    officer = login_as("police", force=force)
    add_referrals(4, force=force)
    db.session.commit()
    few = queries_for_page()
    add_referrals(45, force=force, start=dt.date(2024, 1, 1))
    db.session.commit()
    many = queries_for_page()
    assert few == many
    assert len(references(client.get("/referrals").get_data(as_text=True))) == 25
    assert officer.force_id == force.id


def test_the_police_dashboard_counts_their_forces_referrals(client, force, login_as):
    create_referral(force=force)
    create_referral(force=create_force("NPT"))
    db.session.commit()
    login_as("police", force=force)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Your force&#39;s referrals" in page or "Your force's referrals" in page
    assert re.search(r'data-count="Awaiting booking">1<', page)
    assert re.search(r'data-count="Booked">0<', page)
    assert 'href="/referrals/new"' in page  # "Refer someone" in the navigation


def test_the_police_dashboard_starts_a_referral_in_one_tap_even_with_the_menu_folded(
        client, force, login_as):
    login_as("police", force=force)
    page = client.get("/dashboard").get_data(as_text=True)
    main = page[page.index('<main'):page.index('</main>')]
    assert re.search(r'<a [^>]*href="/referrals/new"[^>]*class="govuk-button[^"]*"[^>]*>\s*'
                     r'Refer someone\s*</a>', main) or re.search(
        r'<a [^>]*class="govuk-button[^"]*"[^>]*href="/referrals/new"[^>]*>\s*Refer someone\s*</a>',
        main)


def test_the_manager_dashboard_counts_open_referrals_only_in_its_summary(client, force, login_as):
    create_referral(force=force)
    create_referral(force=create_force("NPT"))
    db.session.commit()
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Open referrals" in page
    assert re.search(r'data-count="Awaiting booking">2<', page)
    assert 'href="/referrals?status=awaiting_booking"' in page
    assert 'data-count="Withdrawn"' not in page  # the closed history is not counted
    assert 'href="/referrals/new"' not in page


def test_the_list_is_refused_to_people_without_a_role_for_it(client, app, login_as):
    create_user("admin")
    login_as("admin")
    assert client.get("/referrals").status_code == 403


@pytest.mark.parametrize("role", ["police", "manager"])
def test_the_list_links_to_the_csv_upload_whose_page_keeps_referrals_current_in_the_menu(
        client, force, login_as, role):
    login_as(role, **({"force": force} if role == "police" else {}))
    page = client.get("/referrals").get_data(as_text=True)
    link = re.search(r'<a [^>]*href="(/referrals/import)"[^>]*data-import-link', page)
    assert link is not None
    upload = client.get(link.group(1))
    assert upload.status_code == 200
    assert current_menu_items(upload.get_data(as_text=True)) == ["Referrals"]


def current_menu_items(page: str) -> list[str]:
    return re.findall(r'govuk-service-navigation__item--active[^>]*>\s*<a[^>]*>\s*'
                      r'(?:<strong[^>]*>)?\s*([^<]+?)\s*<', page)


def test_an_officer_on_a_referral_page_sees_only_referrals_current_in_the_menu(
        client, force, login_as):
    officer = login_as("police", force=force)
    referral = create_referral(actor=officer)
    db.session.commit()
    page = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    assert current_menu_items(page) == ["Referrals"]
    assert current_menu_items(client.get("/referrals/new").get_data(as_text=True)) == [
        "Refer someone"]


@pytest.mark.parametrize("value", ["3000000000", "%C2%B2", "x" * 5000, "%00"])
def test_a_force_or_programme_not_offered_is_named_not_ignored(client, login_as, value):
    login_as("manager")
    response = client.get(f"/referrals?force={value}&programme={value}")
    assert response.status_code == 400
    assert error_summary(response.text) == [("#force", "Choose the force from the list"),
                                            ("#programme", "Choose the programme from the list")]
    download = client.get(f"/referrals.csv?programme={value}")
    assert download.status_code == 302 and download.headers["Location"].startswith("/referrals?")


def test_a_police_officers_list_never_reads_a_force_asked_in_the_address(client, login_as):
    login_as("police")
    response = client.get("/referrals?force=3000000000")
    assert response.status_code == 200 and "govuk-error-summary" not in response.text


def test_an_unknown_status_or_method_says_which_field_in_plain_words(client, login_as):
    """A stale bookmark's filter names its field, not WTForms' "Not a valid choice."."""
    login_as("manager")

    referrals = client.get("/referrals?status=nonsense").get_data(as_text=True)
    payments = client.get("/fees/payments?method=bitcoin").get_data(as_text=True)

    assert "Not a valid choice" not in referrals and "Not a valid choice" not in payments
    assert '<a href="#status">Choose a status from the list</a>' in referrals
    assert '<a href="#method">Choose a payment method from the list</a>' in payments
