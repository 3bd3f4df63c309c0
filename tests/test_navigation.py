"""The staff menu: each role's items only, one marked current; the account (change password,
sign out) in the header; a manager's occasional pages on the More page."""

from __future__ import annotations

import re

import pytest

from diversion.core.extensions import db
from tests.builders import create_force


def _menu(page: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Menu".*?</nav>', page, re.S)
    assert nav is not None
    return [text.strip() for text in re.findall(
        r'class="govuk-service-navigation__link"[^>]*>\s*(?:<strong[^>]*>)?\s*([^<]+?)\s*<',
        nav.group(0))]


def _current(page: str) -> list[str]:
    return re.findall(r'govuk-service-navigation__item--active[^>]*>\s*<a[^>]*>\s*'
                      r'(?:<strong[^>]*>)?\s*([^<]+?)\s*<', page)


def _account(page: str) -> str:
    nav = re.search(r'<nav class="app-account" aria-label="Account">.*?</nav>', page, re.S)
    assert nav is not None
    return nav.group(0)


MENUS = {
    "manager": ["Dashboard", "Referrals", "Sessions", "Registers", "Fees", "Messages", "Reports",
                "More"],
    "police": ["Dashboard", "Referrals", "Refer someone", "Reports", "Reoffences",
               "Verify a certificate"],
    "facilitator": ["Dashboard", "My sessions", "Registers"],
    "admin": ["Dashboard", "Users", "Forces", "API tokens", "Audit log", "Programmes",
              "Messages"],
}


@pytest.mark.parametrize("role", list(MENUS))
def test_each_role_has_its_own_short_menu_and_the_account_in_the_header(client, login_as, role):
    user = login_as(role, **({"force": create_force("WYP")} if role == "police" else {}))
    page = client.get("/dashboard").get_data(as_text=True)
    assert _menu(page) == MENUS[role]
    assert _current(page) == ["Dashboard"]
    account = _account(page)
    assert user.name in account
    assert 'href="/account/password"' in account and ">Sign out</button>" in account
    assert "Change password" not in _menu(page)


def test_the_managers_more_page_lists_the_occasional_pages_and_is_current_on_them(
        client, login_as):
    login_as("manager")
    page = client.get("/more").get_data(as_text=True)
    assert _current(page) == ["More"]
    for href in ('/venues"', '/reminder-plans"', '/reoffences/new"', '/certificates/verify"'):
        assert f'href="{href[:-1]}' in page, href
    assert _current(client.get("/venues").get_data(as_text=True)) == ["More"]
    assert _current(client.get("/venues/new").get_data(as_text=True)) == ["More"]
    assert _current(client.get("/sessions").get_data(as_text=True)) == ["Sessions"]


@pytest.mark.parametrize("role", ["police", "facilitator", "admin"])
def test_the_more_page_is_the_managers_only(client, login_as, role):
    login_as(role, **({"force": create_force("WYP")} if role == "police" else {}))
    assert client.get("/more").status_code == 403


def test_change_password_is_marked_current_in_the_account_area(client, login_as):
    login_as("manager")
    db.session.commit()
    page = client.get("/account/password").get_data(as_text=True)
    assert 'href="/account/password" aria-current="page"' in _account(page)
    assert _current(page) == []
