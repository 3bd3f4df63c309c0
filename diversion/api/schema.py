"""Request parsing and the OpenAPI description of each API endpoint, declared beside it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from flask import abort, request
from pydantic import BaseModel, Field, ValidationError

from diversion.db import MAX_DATABASE_INT
from diversion.errors import ValidationFailed

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)

OPENAPI_ATTRIBUTE = "openapi_operation"

# A reference to a stored row by its id: a number that cannot name a row is a 422, not a 500.
DatabaseId = Annotated[int, Field(ge=1, le=MAX_DATABASE_INT)]


@dataclass(frozen=True)
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()


def operation(summary: str, *, body: type[BaseModel] | None = None,
              responses: dict[int, type[BaseModel] | None] | None = None,
              query: type[BaseModel] | None = None, tags: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Describe an API endpoint for the OpenAPI document (see diversion.api.openapi)."""

    def decorate(view: F) -> F:
        setattr(view, OPENAPI_ATTRIBUTE, Operation(summary, body, responses or {}, query, tags))
        return view

    return decorate


class MalformedBody(Exception):
    """The request body is not a JSON object."""


def parse_body(model: type[M]) -> M:
    """The JSON body validated against `model`; 400 when not JSON, 422 when invalid."""
    if not request.is_json:
        abort(415, description="Send the request body as application/json")
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        abort(400, description="The request body is not a valid JSON object")
    return validate(model, payload)


def parse_query(model: type[M]) -> M:
    """Query-string parameters validated against `model`; 422 when invalid."""
    return validate(model, {k: v for k, v in request.args.items()})


def validate(model: type[M], payload: dict[str, Any]) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ValidationFailed(pydantic_errors(exc), "The request has invalid fields") from exc


def pydantic_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's errors as {dotted.field: message}."""
    errors: dict[str, str] = {}
    for item in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"]
        if item["type"] == "missing":
            message = "This field is required"
        elif item["type"] == "extra_forbidden":
            message = "This field is not allowed"
        errors.setdefault(name, message.removeprefix("Value error, "))
    return errors
