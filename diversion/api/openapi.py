"""The OpenAPI 3 document, generated from the routes and their pydantic models with apispec."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from flask import Flask
from pydantic import BaseModel

from diversion.access import access_rule_for
from diversion.api.schema import OPENAPI_ATTRIBUTE, Operation

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["title", "status", "detail"],
}

STATUS_TEXT = {200: "OK", 201: "Created", 400: "Malformed request", 401: "Not signed in",
               403: "Forbidden", 404: "Not found", 409: "Conflict", 415: "Not JSON",
               422: "Invalid or refused", 429: "Too many requests"}


def _register(spec: APISpec, model: type[BaseModel]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        if name not in spec.components.schemas:
            spec.components.schema(name, definition)
    if model.__name__ not in spec.components.schemas:
        spec.components.schema(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_openapi(app: Flask) -> dict[str, Any]:
    """Walk the url map and describe every API endpoint that declares an operation."""
    spec = APISpec(
        title="Diversion API",
        version="1.0.0",
        openapi_version="3.1.0",
        info={"description": "Referrals, sessions, bookings, registers and reports."},
        servers=[{"url": "/api/v1"}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Problem", PROBLEM_SCHEMA)
    problem_ref = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    rules = sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
    for rule in rules:
        if not rule.endpoint.startswith("api."):
            continue
        view = app.view_functions[rule.endpoint]
        op: Operation | None = getattr(view, OPENAPI_ATTRIBUTE, None)
        if op is None:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule).removeprefix("/api/v1")
        access = access_rule_for(app, rule.endpoint)
        operations: dict[str, Any] = {}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            responses: dict[str, Any] = {}
            for status, model in sorted(op.responses.items()):
                entry: dict[str, Any] = {"description": STATUS_TEXT.get(status, str(status))}
                if model is not None:
                    entry["content"] = {"application/json": {"schema": _register(spec, model)}}
                elif status >= 400:
                    entry["content"] = problem_ref
                responses[str(status)] = entry
            for status in (401, 403):
                responses.setdefault(str(status), {"description": STATUS_TEXT[status],
                                                   "content": problem_ref})
            operation: dict[str, Any] = {
                "summary": op.summary,
                "operationId": rule.endpoint.removeprefix("api.") + "_" + method.lower(),
                "responses": responses,
                "tags": list(op.tags),
            }
            if access is not None and not access.is_public:
                operation["security"] = [{"bearer": []}]
                operation["x-roles"] = sorted(role.value for role in access.roles)
            parameters = [
                {"name": arg, "in": "path", "required": True, "schema": {"type": "string"}}
                for arg in sorted(rule.arguments)
            ]
            if op.query is not None:
                query_schema = op.query.model_json_schema()
                required = set(query_schema.get("required", []))
                for name, prop in query_schema.get("properties", {}).items():
                    parameters.append({"name": name, "in": "query", "required": name in required,
                                       "schema": {k: v for k, v in prop.items() if k != "title"}})
            if parameters:
                operation["parameters"] = parameters
            if op.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _register(spec, op.body)}},
                }
            operations[method.lower()] = operation
        spec.path(path=path, operations=operations)
    return spec.to_dict()
