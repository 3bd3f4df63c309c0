"""CSRF: every non-API form POST, public ones (/book, /sign-in) included, refuses a request
without the token. The walk is over `app.url_map`, so new forms are covered automatically."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from tests.builders import DEFAULT_PASSWORD, create_user
from tests.conftest import PROJECT_ROOT


def test_every_web_post_without_a_token_is_refused(app: Flask, client) -> None:  # type: ignore[no-untyped-def]
    manager = create_user("manager")
    from diversion.core.extensions import db

    db.session.commit()
    client.post("/sign-in", data={"email": manager.email, "password": DEFAULT_PASSWORD})
    app.config.update(WTF_CSRF_ENABLED=True)
    posts = sorted(rule.rule for rule in app.url_map.iter_rules()
                   if "POST" in (rule.methods or ()) and not rule.endpoint.startswith("api."))
    assert "/book" in posts and "/sign-in" in posts

    for rule in posts:
        url = re.sub(r"<[^>]+>", "X", re.sub(r"<int:[^>]+>", "1", rule))
        response = client.post(url, data={"reason": "x", "email": manager.email,
                                          "password": DEFAULT_PASSWORD})
        assert response.status_code == 400, f"{rule}: {response.status_code}"


def test_every_post_form_in_the_templates_carries_the_token() -> None:
    missing = []
    for path in Path(PROJECT_ROOT, "templates").rglob("*.html"):
        text = path.read_text()
        for form in re.finditer(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", text, re.S | re.I):
            if "csrf" not in form.group(1):
                missing.append(f"{path.name}:{text[:form.start()].count(chr(10)) + 1}")
    assert missing == []
