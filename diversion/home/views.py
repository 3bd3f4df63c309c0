"""The landing page, each role's dashboard, and the health check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from sqlalchemy import text

from diversion.auth.access import ALL_STAFF, current_actor, public, roles
from diversion.core.dashboard import panels_for
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.programmes.services import list_programmes

bp = Blueprint("home", __name__)


@bp.get("/")
@public
def index() -> Any:
    if current_actor() is None:
        return redirect(url_for("auth.sign_in"))
    return redirect(url_for("home.dashboard"))


@bp.get("/dashboard")
@roles(*ALL_STAFF)
def dashboard() -> Any:
    user = current_actor()
    assert user is not None
    return render_template("home/dashboard.html", panels=panels_for(user, now=now_utc()))


@bp.get("/healthz")
@public
def health() -> Any:
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")


@bp.get("/accessibility")
@public
def accessibility_statement() -> Any:
    return render_template("home/accessibility.html")


@bp.get("/privacy")
@public
def privacy() -> Any:
    """The privacy notice (UK GDPR articles 13 and 14), written for the referred person."""
    periods = sorted({programme.retention_months for programme in list_programmes()})
    return render_template("home/privacy.html", retention_months=periods or [72],
                           session_cookie=current_app.config["SESSION_COOKIE_NAME"])


@bp.get("/cookies")
@public
def cookies() -> Any:
    return render_template("home/cookies.html",
                           session_cookie=current_app.config["SESSION_COOKIE_NAME"])
