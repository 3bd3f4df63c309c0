"""Each role's dashboard shows its own panels, with real counts."""

from __future__ import annotations

import re

from diversion.core.extensions import db
from tests.builders import create_force, create_user


def _counts(page: str) -> dict[str, int]:
    return {label: int(n) for label, n in re.findall(
        r'<span class="app-count" data-count="([^"]+)">(\d+)</span>', page)}


def _headings(page: str) -> list[str]:
    return re.findall(r'<h2 class="govuk-heading-m" id="panel-\d+">([^<]+)</h2>', page)


def test_a_police_officer_sees_how_many_officers_in_their_force_have_accounts(client, login_as):
    force = create_force("WYP", "West Yorkshire Police")
    other_force = create_force("NYP", "North Yorkshire Police")
    create_user("police", force=force)
    gone = create_user("police", force=force)
    gone.is_active_account = False
    create_user("police", force=other_force)
    create_user("manager")
    db.session.commit()
    login_as("police", force=force)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "West Yorkshire Police" in _headings(page)
    assert _counts(page)["Officers with accounts"] == 2  # active WYP officers only
    assert "Accounts" not in _headings(page) and "Messages" not in _headings(page)


def test_the_officer_count_includes_the_officer_and_only_active_colleagues(client, login_as):
    force = create_force("WYP", "West Yorkshire Police")
    db.session.commit()
    login_as("police", force=force)
    page = client.get("/dashboard").get_data(as_text=True)
    assert _counts(page)["Officers with accounts"] == 1


def test_a_facilitator_sees_no_made_up_numbers_and_no_other_roles_panels(client, login_as):
    login_as("facilitator")
    page = client.get("/dashboard").get_data(as_text=True)
    headings = _headings(page)
    for other in ("Accounts", "Messages", "Officers with accounts"):
        assert other not in headings and other not in _counts(page)
    if not headings:
        assert "There is nothing for you to do yet." in page


def test_a_manager_sees_the_messages_panel_but_not_accounts(client, login_as):
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Messages" in _headings(page)
    assert "Accounts" not in _headings(page)
    assert _counts(page)["Pending"] == 0


def test_an_administrator_sees_account_counts(client, login_as):
    create_force("WYP", "West Yorkshire Police")
    inactive = create_user("manager")
    inactive.is_active_account = False
    db.session.commit()
    login_as("admin")
    page = client.get("/dashboard").get_data(as_text=True)
    assert {"Accounts", "Messages"} <= set(_headings(page))
    counts = _counts(page)
    assert counts["Active users"] == 1
    assert counts["Deactivated users"] == 1
    assert counts["Police forces"] == 1
    assert counts["API tokens in use"] == 0


def test_the_dashboard_names_the_role_and_the_force(client, login_as):
    force = create_force("WYP", "West Yorkshire Police")
    db.session.commit()
    login_as("police", force=force)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Police officer, West Yorkshire Police" in page
