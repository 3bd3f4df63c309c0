"""JSON API v1: Bearer tokens, problem+json errors, OpenAPI at /api/v1/openapi.json.

Each module beside this one adds its endpoints to `frame.bp`; all are imported here, once.
"""

from __future__ import annotations

from flask import Flask

from diversion.api import attendance, bookings, courses, frame, referrals, reoffences, reports

ENDPOINT_MODULES = (referrals, courses, bookings, attendance, reoffences, reports)


def init_app(app: Flask) -> None:
    app.register_blueprint(frame.bp)
