"""RFC 9457 problem details: the API's only error format."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request

from diversion.core.errors import NotFound

PROBLEM_TYPE_BASE = "https://diversion.example/problems/"


def problem(status: int, title: str, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> Response:
    """A problem+json response. `extra` members (e.g. `errors`, `clashes`) are added as-is."""
    body: dict[str, Any] = {
        "type": "about:blank" if not extra.get("type") else extra.pop("type"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    body.update({k: v for k, v in extra.items() if k != "type"})
    response = Response(json.dumps(body, default=str), status=status,
                        mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


JSON_TYPES = ("application/json", "application/problem+json")


def prefers_json() -> bool:
    """Whether the request is a script's (a JSON body, or an Accept that ranks JSON above HTML),
    so that an error is answered with problem+json rather than a page or a redirect."""
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", *JSON_TYPES])
    return best in JSON_TYPES


def unknown(field: str, message: str) -> NotFound:
    """A 404 for a body (not a path) naming a stored object that does not exist: `detail` and
    `errors` say which field named it."""
    return NotFound(message, field=field, errors={field: message})
