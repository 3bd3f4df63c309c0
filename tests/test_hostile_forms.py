"""Every staff and public form, submitted the way people and attackers get it wrong: no 500.

The walk is over `app.url_map`: every page that a role may open is fetched as that role, every
form on it is read from the HTML, and the form is sent back empty, with each field blank in turn,
and with overlong, control-character, huge-number and far-date values in each field. Query
strings get the same treatment on every page. A new page or form is covered without editing
this file.

What is asserted: never a 500; every error summary link points at a field on the page; and every
field shown in error is named (linked) in the error summary, so the summary names what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from diversion import create_app
from diversion.attendance.models import RegisterEntry
from diversion.auth import second_factor
from diversion.auth.access import access_rule_for
from diversion.auth.models import ApiToken, Role
from diversion.core.extensions import db
from diversion.outbox.dispatcher import render_message
from diversion.outbox.models import OutboxMessage
from tests.builders import (
    DEFAULT_PASSWORD,
    NOW,
    World,
    build_world,
    create_user,
    future_session,
    known_referral,
)
from tests.selfservice.helpers import sign_in as person_sign_in
from tests.test_scoping import sign_in

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

# The role that exercises a page most fully, when several may open it.
ROLE_ORDER = [Role.MANAGER, Role.ADMIN, Role.POLICE, Role.FACILITATOR]
USER_FOR_ROLE = {Role.MANAGER: "manager", Role.ADMIN: "admin", Role.POLICE: "police_a",
                 Role.FACILITATOR: "fac1"}
SIGN_OUT_PATHS = {"/sign-out", "/book/sign-out"}
SKIPPED_ENDPOINTS = {
    "static", "assets",
    "auth.sign_out",  # ends the walk's own session
}
HUGE_NUMBER = "9" * 40
# A number SQLite's integer holds but PostgreSQL's 32-bit one does not; a digit that is not
# ASCII (str.isdigit() passes it, int() refuses it).
BIG_NUMBER, NOT_ASCII_DIGIT = "3000000000", "\u00b2"
# Typed into a text box: overlong, control characters and a line break, a number no column can
# hold, a negative, a far date written whole.
TEXT_VALUES = ["x" * 5000, "a\x1b[31mb\x07c\r\nd\x00", HUGE_NUMBER, "-1", "31/12/9999",
               BIG_NUMBER, NOT_ASCII_DIGIT]
# Sent for a radio button, checkbox or select: a choice the page never offered.
CHOICE_VALUES = ["x" * 300, HUGE_NUMBER, "-1"]
DATE_PART_VALUES = {"day": ["32", HUGE_NUMBER], "month": ["13", HUGE_NUMBER],
                    "year": ["9999", "0001", HUGE_NUMBER]}
QUERY_VALUES = [HUGE_NUMBER, "-1", "9999-12", "9999-12-31", "x" * 3000, "\x00", BIG_NUMBER,
                NOT_ASCII_DIGIT]
# Query names every list or calendar may read, beside those its own links and filters use.
QUERY_NAMES = {"page", "before", "after", "month", "cursor", "status", "q", "format", "next"}


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (name, kind, value)
    choices: dict[str, list[str]] = field(default_factory=dict)


class FormReader(HTMLParser):
    """The forms of a page, their fields, and every element id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.ids: set[str] = set()
        self.summary_links: list[str] = []
        self._form: Form | None = None
        self._textarea: str | None = None
        self._select: str | None = None
        self._in_summary = 0  # depth of <div>s inside the error summary
        self.hrefs: list[str] = []
        # The ids inside each form group marked as in error, and the groups still open.
        self.error_groups: list[set[str]] = []
        self._open_groups: list[list[Any]] = []  # [ids, depth of <div>s]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
            for group in self._open_groups:
                group[0].add(a["id"])
        if tag == "div":
            for group in self._open_groups:
                group[1] += 1
            if "govuk-form-group--error" in a.get("class", "").split():
                self._open_groups.append([set(), 1])
        if self._in_summary and tag == "div":
            self._in_summary += 1
        elif "govuk-error-summary" in a.get("class", "").split():
            self._in_summary = 1
        elif self._in_summary and tag == "a" and a.get("href", "").startswith("#"):
            self.summary_links.append(a["href"][1:])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("radio", "checkbox"):
                self._form.choices.setdefault(name, []).append(a.get("value", "on"))
                if "checked" in a:
                    self._form.fields.append((name, kind, a.get("value", "on")))
                elif not any(n == name for n, _, _ in self._form.fields):
                    self._form.fields.append((name, kind, ""))
                return
            self._form.fields.append((name, kind, a.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea = name
            self._form.fields.append((name, "textarea", ""))
        elif tag == "select" and name:
            self._select = name
            self._form.fields.append((name, "select", ""))
        elif tag == "option" and self._select:
            self._form.choices.setdefault(self._select, []).append(a.get("value", ""))
            if "selected" in a:
                self._set(self._select, a.get("value", ""))

    def query_names(self, path: str) -> set[str]:
        """The query-string names this page's own links and GET forms send back to `path`."""
        names = {name for form in self.forms if form.method == "get"
                 for name, _, _ in form.fields}
        for href in self.hrefs:
            parts = urlsplit(href)
            if parts.path in ("", path) and parts.query:
                names |= {pair.partition("=")[0] for pair in parts.query.split("&")}
        return names

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            for group in self._open_groups:
                group[1] -= 1
            while self._open_groups and self._open_groups[-1][1] == 0:
                self.error_groups.append(self._open_groups.pop()[0])
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "div" and self._in_summary:
            self._in_summary -= 1

    def handle_data(self, data: str) -> None:
        if self._textarea and self._form is not None:
            self._set(self._textarea, data)

    def _set(self, name: str, value: str) -> None:
        assert self._form is not None
        self._form.fields = [(n, k, value if n == name else v) for n, k, v in self._form.fields]


def _plausible(name: str, kind: str, value: str, choices: list[str]) -> str:
    """A value a person might type, so that one blank field is the only thing wrong."""
    if value:
        return value
    if choices:
        return next((c for c in choices if c), "")
    last = name.rsplit("-", 1)[-1]
    if last == "day":
        return "15"
    if last == "month":
        return "6"
    if last == "year":
        return "2027"
    if "email" in name:
        return "someone@example.com"
    if "time" in name or name.endswith("_at"):
        return "9:30"
    if kind == "number" or name in ("capacity", "count", "amount", "amount_pence"):
        return "5"
    return "Test value"


def _pages(app: Flask) -> list[tuple[str, str, Role | None]]:
    pages = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS or rule.endpoint.startswith("api."):
            continue
        if "GET" not in (rule.methods or ()) or rule.rule.endswith((".pdf", ".csv", ".ics")):
            continue
        access = access_rule_for(app, rule.endpoint)
        if access is None:
            continue
        role = None if access.is_public else next(r for r in ROLE_ORDER if r in access.roles)
        pages.append((rule.endpoint, rule.rule, role))
    return sorted(pages)


def _listing_app() -> Flask:
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                       "WTF_CSRF_ENABLED": False})


PAGES = _pages(_listing_app())


def _fill(rule: str, world: World) -> str:
    ids = world.ids
    values = {"reference": ids["ref"], "session_id": ids["s1"], "venue_id": ids["venue"],
              "programme_id": ids["programme"], "user_id": ids["user"], "kind": "attendance",
              "entry_id": ids.get("entry", 1), "token_id": ids.get("token", 1),
              "message_id": ids.get("message", 1), "archive_id": 1, "referral_id": 1,
              "token": "not-a-calendar-token", "online_payment_id": 1, "force_id": 1}
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule)


def _world() -> World:
    world = build_world()
    entry = db.session.scalar(select(RegisterEntry.id).limit(1))
    token = db.session.scalar(select(ApiToken.id).limit(1))
    message = db.session.scalar(select(OutboxMessage.id).limit(1))
    world.ids.update(entry=entry or 1, token=token or 1, message=message or 1)
    return world


def _problem(response: Any, what: str) -> str | None:
    """What is wrong with the answer, or None."""
    if response.status_code >= 500:
        return f"{what}: answered {response.status_code}"
    if response.mimetype != "text/html":
        return None
    reader = FormReader()
    reader.feed(response.get_data(as_text=True))
    title = re.search(r"<title>(.*?)</title>", response.get_data(as_text=True), re.S)
    if title and "Error: Error:" in title[1]:
        return f"{what}: the page title says Error: twice: {title[1]!r}"
    if title and reader.summary_links and not title[1].strip().startswith("Error: "):
        return f"{what}: the page shows errors but its title does not start 'Error: '"
    dangling = [link for link in reader.summary_links if link not in reader.ids]
    if dangling:
        return f"{what}: the error summary links to no field: {dangling}"
    unnamed = [sorted(group) for group in reader.error_groups
               if not group & set(reader.summary_links)]
    if unnamed:
        return f"{what}: a field in error is not named in the error summary: {unnamed}"
    return None


def _submissions(form: Form) -> list[tuple[str, dict[str, str]]]:
    baseline = {name: _plausible(name, kind, value, form.choices.get(name, []))
                for name, kind, value in form.fields}
    hidden = {name for name, kind, _ in form.fields if kind == "hidden"}
    empty = {name: (value if name in hidden else "") for name, value in baseline.items()}
    cases: list[tuple[str, dict[str, str]]] = [("empty", empty), ("filled", baseline)]
    for name, kind, _ in form.fields:
        if name in hidden or name == "csrf_token":
            continue
        cases.append((f"{name} blank", {**baseline, name: ""}))
        part = name.rsplit("-", 1)[-1]
        if part in DATE_PART_VALUES:
            values = DATE_PART_VALUES[part]
        elif kind in ("radio", "checkbox", "select"):
            values = CHOICE_VALUES
        else:
            values = TEXT_VALUES
        for value in values:
            cases.append((f"{name}={value[:20]!r}", {**baseline, name: value}))
    return cases


def _sign_in_as(client: Any, world: World, role: Role | None) -> None:
    if role is not None:
        sign_in(client, world.users[USER_FOR_ROLE[role]])


def _walk_forms(client: Any, url: str, sign_in_again: Any) -> list[str]:
    """Open `url` and send each of its forms every submission above; what went wrong."""
    page = client.get(url)
    problems = [_problem(page, f"GET {url}")]
    if page.status_code == 200 and page.mimetype == "text/html":
        reader = FormReader()
        reader.feed(page.get_data(as_text=True))
        for form in reader.forms:
            action = urljoin(url, form.action) if form.action else url
            if urlsplit(action).path in SIGN_OUT_PATHS:
                continue
            for label, data in _submissions(form):
                if form.method == "post":
                    response = client.post(action, data=data)
                else:
                    response = client.get(f"{urlsplit(action).path}?{urlencode(data)}")
                problems.append(_problem(response, f"{form.method.upper()} {action} ({label})"))
                location = response.headers.get("Location", "")
                if response.status_code == 302 and ("/sign-in" in location
                                                    or location.endswith("/book")):
                    sign_in_again()
    return [problem for problem in problems if problem]


@pytest.mark.parametrize(("endpoint", "rule", "role"), PAGES, ids=[p[0] for p in PAGES])
def test_no_form_on_the_page_answers_500(app: Flask, client: Any, endpoint: str, rule: str,
                                        role: Role | None) -> None:
    world = _world()
    _sign_in_as(client, world, role)
    found = _walk_forms(client, _fill(rule, world), lambda: _sign_in_as(client, world, role))
    assert not found, "\n".join(found)


def test_no_form_on_the_new_password_page_answers_500(app: Flask, client: Any) -> None:
    """The page a password reset link opens: walked with a real link (the crawl above reaches
    it only without one, and is sent to ask for one)."""
    user = create_user("manager")
    db.session.commit()
    client.post("/sign-in/forgotten-password", data={"email": user.email})
    message = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.template == "password_reset"))
    link = urlsplit(re.search(r"http://\S+", render_message(message, for_delivery=True).text)[0])

    def open_link() -> None:
        client.get(link.path)

    open_link()
    assert client.get("/sign-in/reset-password").status_code == 200
    found = _walk_forms(client, "/sign-in/reset-password", open_link)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("enrolled", "path"), [(True, "/sign-in/code"),
                                              (False, "/sign-in/set-up-authenticator")])
def test_no_form_on_the_second_factor_pages_answers_500(app: Flask, client: Any,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        enrolled: bool, path: str) -> None:
    """The pages between the password and a full sign-in, walked half signed in."""
    monkeypatch.setitem(app.config, "REQUIRE_SECOND_FACTOR_ROLES", frozenset({"manager"}))
    user = create_user("manager")
    if enrolled:
        enrolment = second_factor.start_enrolment(user, now=NOW)
        assert second_factor.confirm_enrolment(
            user, code=pyotp.TOTP(enrolment.secret).at(NOW), now=NOW) is not None
    db.session.commit()

    def password() -> None:
        client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})

    password()
    assert client.get(path).status_code == 200
    found = _walk_forms(client, path, password)
    assert not found, "\n".join(found)


SELF_SERVICE_PAGES = sorted(rule for endpoint, rule, role in PAGES
                            if endpoint.startswith("selfservice.") and role is None
                            and rule.startswith("/book/"))


@pytest.mark.parametrize("rule", SELF_SERVICE_PAGES)
def test_no_form_on_the_referred_mans_pages_answers_500_once_he_is_signed_in(
        app: Flask, client: Any, rule: str) -> None:
    known = known_referral()
    future_session(10)
    future_session(12)

    def sign_in_again() -> None:
        person_sign_in(client, known)

    sign_in_again()
    found = _walk_forms(client, rule, sign_in_again)
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("endpoint", "rule", "role"), PAGES, ids=[p[0] for p in PAGES])
def test_no_query_string_answers_500(app: Flask, client: Any, endpoint: str, rule: str,
                                     role: Role | None) -> None:
    world = _world()
    _sign_in_as(client, world, role)
    url = _fill(rule, world)
    page = client.get(url)
    names = set(QUERY_NAMES)
    if page.mimetype == "text/html":
        reader = FormReader()
        reader.feed(page.get_data(as_text=True))
        names |= reader.query_names(urlsplit(url).path)
    problems = []
    for name in sorted(names):
        for value in QUERY_VALUES:
            response = client.get(f"{url}?{urlencode({name: value})}")
            problems.append(_problem(response, f"GET {url}?{name}={value[:20]!r}"))
    found = [problem for problem in problems if problem]
    assert not found, "\n".join(found)
