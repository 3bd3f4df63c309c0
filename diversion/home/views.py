"""The landing page, each role's dashboard, and the health check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, url_for
from sqlalchemy import text

from diversion.auth.access import ALL_STAFF, current_actor, public, roles
from diversion.core.dashboard import panels_for
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc

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
