"""Absolute addresses for links that leave the app: emails, letters, calendar files, PDFs.

They are built from the DIVERSION_BASE_URL setting, never from the request's Host header, which
the client chooses: a forged Host must not put someone else's address into a letter or a feed.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

DEFAULT_BASE_URL = "http://127.0.0.1:5000"


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint` at the address people use (DIVERSION_BASE_URL)."""
    base = str(current_app.config.get("DIVERSION_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    return base + current_app.url_map.bind("localhost").build(endpoint, values)
