"""The layout's fixed links (stylesheets, scripts, footer and account links) are built once per
place the app is mounted, and are the same as url_for makes (core.web.fixed_url)."""

from __future__ import annotations

import re

from flask import url_for

from diversion.core.web import fixed_url


def _stylesheets(page: str) -> list[str]:
    return re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)


def test_the_layout_links_follow_where_the_app_is_mounted(client, login_as):
    login_as("manager")
    mounted = client.get("/cookies", base_url="http://localhost/diversion").get_data(as_text=True)
    plain = client.get("/cookies").get_data(as_text=True)

    assert _stylesheets(mounted) == ["/diversion/static/govuk/govuk-frontend.min.css",
                                     "/diversion/static/css/app.css"]
    assert _stylesheets(plain) == ["/static/govuk/govuk-frontend.min.css", "/static/css/app.css"]
    assert 'href="/diversion/privacy"' in mounted and 'href="/privacy"' in plain
    assert 'action="/diversion/sign-out"' in mounted and 'action="/sign-out"' in plain


def test_a_fixed_link_is_what_url_for_makes(app):
    with app.test_request_context("/", base_url="http://localhost/x"):
        for endpoint, values in [("static", {"filename": "css/app.css"}), ("home.privacy", {}),
                                 ("auth.sign_out", {}), ("auth.keep_alive", {})]:
            assert fixed_url(endpoint, **values) == url_for(endpoint, **values)
            assert fixed_url(endpoint, **values) == url_for(endpoint, **values)  # kept
