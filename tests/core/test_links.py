"""core.links: the bulk link maker gives exactly the links `external_url` gives."""

from __future__ import annotations

import pytest

from diversion.core.links import external_url, external_url_maker

pytestmark = pytest.mark.usefixtures("app")

VALUES = ["B0000001", "abc", "Z" * 64, "Z" * 65, "a b", "a/b?c&d", "ZqMark1qZ", "ZqMark0qZ", ""]


@pytest.mark.parametrize("fixed", [{}, {"then": "pay"}, {"then": "ZqMark0qZ"}, {"then": "a b"}])
def test_the_maker_gives_the_links_external_url_gives(app, monkeypatch, fixed):
    monkeypatch.setitem(app.config, "DIVERSION_BASE_URL", "https://diversion.example/")
    with app.test_request_context():
        url = external_url_maker("selfservice.start", "ref", **fixed)
        for value in VALUES:
            assert url(value) == external_url("selfservice.start", ref=value, **fixed)
        assert url("B0000001").startswith("https://diversion.example/")
        assert "B0000001" in url("B0000001")
