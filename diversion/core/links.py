"""Absolute addresses for links that leave the app: emails, letters, calendar files, PDFs.

They are built from the DIVERSION_BASE_URL setting, never from the request's Host header, which
the client chooses: a forged Host must not put someone else's address into a letter or a feed.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from werkzeug.routing import Map, MapAdapter

DEFAULT_BASE_URL = "http://127.0.0.1:5000"


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint` at the address people use (DIVERSION_BASE_URL)."""
    base = str(current_app.config.get("DIVERSION_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    return base + _adapter().build(endpoint, values)


def _adapter() -> MapAdapter:
    """The app's URL map bound once (it follows rules added later: it builds from the map);
    binding again for every link was a third of the cost of a link in bulk messages."""
    bound: tuple[Map, MapAdapter] | None = current_app.extensions.get("diversion_link_adapter")
    if bound is None or bound[0] is not current_app.url_map:
        bound = (current_app.url_map, current_app.url_map.bind("localhost"))
        current_app.extensions["diversion_link_adapter"] = bound
    return bound[1]
