"""Absolute addresses for links that leave the app: emails, letters, calendar files, PDFs.

They are built from the DIVERSION_BASE_URL setting, never from the request's Host header, which
the client chooses: a forged Host must not put someone else's address into a letter or a feed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from werkzeug.routing import BuildError, Map, MapAdapter

DEFAULT_BASE_URL = "http://127.0.0.1:5000"


_PLAIN = re.compile(r"[A-Za-z0-9]{1,64}")


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint` at the address people use (DIVERSION_BASE_URL)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # once, not a proxy a use
    base = str(app.config.get("DIVERSION_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if values and all(isinstance(v, str) and _PLAIN.fullmatch(v) for v in values.values()):
        # Letters and digits come out of the router as they go in: the link is built once per
        # endpoint and names, with markers, and the markers replaced (bulk messages carry
        # tens of thousands of links).
        names = tuple(sorted(values))
        template = _template(app, endpoint, names)
        if template is not None:
            url = template
            for index, name in enumerate(names):
                url = url.replace(_marker(index), values[name])
            return base + url
    return base + _adapter().build(endpoint, values)


def external_url_maker(endpoint: str, name: str, **fixed: str) -> Callable[[str], str]:
    """`value -> external_url(endpoint, name=value, **fixed)`, the base and the link's template
    looked up once, for bulk messages' tens of thousands of links to one endpoint."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    base = str(app.config.get("DIVERSION_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    names = tuple(sorted({name, *fixed}))
    template = (_template(app, endpoint, names) if all(
        _PLAIN.fullmatch(v) and _MARK not in v for v in fixed.values()) else None)

    def slow(value: str) -> str:
        return external_url(endpoint, **{name: value}, **fixed)

    if template is None:
        return slow
    for index, other in enumerate(names):
        if other != name:
            template = template.replace(_marker(index), fixed[other])
    head, tail = template.split(_marker(names.index(name)))
    head = base + head

    def url(value: str) -> str:
        # A value holding a marker would be replaced further in external_url: it goes there.
        if isinstance(value, str) and _PLAIN.fullmatch(value) and _MARK not in value:
            return head + value + tail
        return slow(value)

    return url


_MARK = "ZqMark"


def _marker(index: int) -> str:
    return f"{_MARK}{index}qZ"


def _template(app: Flask, endpoint: str, names: tuple[str, ...]) -> str | None:
    """The endpoint's path and query with a marker for each value, or None when the router
    does not give each marker back exactly once, unchanged (a converter that rewrites)."""
    templates: dict[tuple[Any, str, tuple[str, ...]], str | None] = (
        app.extensions.setdefault("diversion_link_templates", {}))
    key = (id(app.url_map), endpoint, names)
    if key not in templates:
        try:
            url: str | None = _adapter().build(
                endpoint, {name: _marker(i) for i, name in enumerate(names)})
        except (BuildError, ValueError):
            url = None
        if url is not None and any(url.count(_marker(i)) != 1 for i in range(len(names))):
            url = None
        templates[key] = url
    return templates[key]


def _adapter() -> MapAdapter:
    """The app's URL map bound once (it follows rules added later: it builds from the map);
    binding again for every link was a third of the cost of a link in bulk messages."""
    bound: tuple[Map, MapAdapter] | None = current_app.extensions.get("diversion_link_adapter")
    if bound is None or bound[0] is not current_app.url_map:
        bound = (current_app.url_map, current_app.url_map.bind("localhost"))
        current_app.extensions["diversion_link_adapter"] = bound
    return bound[1]
