"""Error pages: GOV.UK pages for 400, 403, 404, 405 and 500, problem+json under /api/."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from diversion.auth.access import public
from tests.core.apps import separate_app


def test_a_missing_page_is_a_govuk_404_page(client):
    response = client.get("/no/such/page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page not found" in page
    assert "govuk-template" in page


def test_a_forbidden_page_is_a_govuk_403_page(client, login_as):
    login_as("facilitator")
    response = client.get("/admin/users")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "You do not have permission to see this page" in page
    assert "govuk-template" in page and "Go to the start" in page


def test_a_wrong_method_is_a_405_page(client):
    response = client.delete("/sign-in")
    assert response.status_code == 405
    assert "govuk-template" in response.get_data(as_text=True)


def _add_broken_routes(extra: Flask) -> None:
    def explode() -> str:
        raise RuntimeError("something broke inside")

    extra.add_url_rule("/test-only/explode", "test_only_explode", public(explode))
    extra.add_url_rule("/api/v1/test-only/explode", "api.test_only_explode", public(explode))


@pytest.fixture
def broken_app(app, database_url, tmp_path):
    with separate_app(database_url, tmp_path, setup=_add_broken_routes) as extra:
        yield extra


def test_an_unexpected_error_is_a_govuk_500_page_without_details(broken_app, caplog):
    with caplog.at_level(logging.ERROR, logger="diversion.core.web"):
        response = broken_app.test_client().get("/test-only/explode")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in page
    assert "something broke inside" not in page and "Traceback" not in page
    assert "unhandled error" in caplog.text
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_an_unexpected_api_error_is_a_500_problem(broken_app, caplog):
    with caplog.at_level(logging.ERROR, logger="diversion.core.web"):
        response = broken_app.test_client().get("/api/v1/test-only/explode")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 500
    assert "something broke inside" not in response.get_data(as_text=True)


def test_the_production_url_map_has_no_test_only_routes(app):
    assert not [r for r in app.url_map.iter_rules() if "test-only" in r.rule]


def test_a_page_asked_with_a_method_it_does_not_take_names_the_ones_it_does(client):
    # RFC 9110: a 405 carries Allow, on web pages as on the API.
    response = client.put("/sign-in")
    assert response.status_code == 405
    assert {"GET", "POST"} <= set(response.headers["Allow"].replace(" ", "").split(","))
