"""The API's blueprint and what every endpoint shares: errors as problem+json, the OpenAPI
document and /me. The endpoints are in the modules beside this one. A token's last use is
written when the token is read and committed with the request (core/transactions.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel

from diversion.api.openapi import build_openapi
from diversion.api.schema import operation
from diversion.auth.access import ALL_STAFF, current_actor, public, roles
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import csrf
from diversion.core.problems import problem

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Tokens, not cookies, authenticate the API, so there is no cross-site request to forge.
csrf.exempt(bp)


@bp.errorhandler(ValidationFailed)
def validation_failed(error: ValidationFailed) -> Any:
    return problem(422, "Unprocessable request", error.message, errors=error.errors)


class Me(BaseModel):
    id: int
    email: str
    name: str
    role: str
    force_code: str | None


@bp.get("/openapi.json")
@public
def openapi_document() -> Any:
    return jsonify(build_openapi(current_app))


@bp.get("/me")
@roles(*ALL_STAFF)
@operation("The account the token belongs to", responses={200: Me}, tags=("account",))
def me() -> Any:
    user = current_actor()
    assert user is not None
    return jsonify(Me(id=user.id, email=user.email, name=user.name, role=user.role.value,
                      force_code=user.force.code if user.force else None).model_dump())
