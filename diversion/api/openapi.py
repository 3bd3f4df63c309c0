"""The OpenAPI 3 document, generated from the routes and their pydantic models with apispec."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from flask import Flask
from pydantic import BaseModel

from diversion.api.schema import OPENAPI_ATTRIBUTE, Operation
from diversion.auth.access import access_rule_for
from diversion.core.db import MAX_DATABASE_INT

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "422: a message for each field, by its (dotted) name; "
                                  "404 to a body naming something not stored: that field"},
        "eligibility": {"type": "array", "items": {"$ref": "#/components/schemas/RuleResult"},
                        "description": "422 from POST /referrals: every eligibility rule's "
                                       "result"},
        "clashes": {"type": "array", "items": {"type": "object"},
                    "description": "409 from POST /sessions: the sessions that clash"},
    },
    "required": ["type", "title", "status", "detail", "instance"],
}
RULE_RESULT_SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "passed": {"type": "boolean"},
                   "blocking": {"type": "boolean"}, "message": {"type": "string"}},
    "required": ["code", "passed", "blocking", "message"],
}

STATUS_TEXT = {200: "OK", 201: "Created", 400: "Malformed request: not JSON, or nested too deep",
               401: "Not signed in", 403: "Forbidden: the token's role may not do this",
               404: "Not found", 409: "Conflict", 413: "Request body too large",
               415: "Not JSON", 422: "Invalid or refused", 429: "Too many requests"}

# Path arguments as the url map matches them: anything else never reaches the view (404).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "reference": {"type": "string", "pattern": "^[A-Za-z0-9 -]{1,40}$",
                  "description": "The referral's reference, like DIV-ABCD-EFGH"},
    "session_id": {"type": "integer", "minimum": 1, "maximum": MAX_DATABASE_INT},
}


def _register(spec: APISpec, model: type[BaseModel]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        _add_schema(spec, name, definition)
    _add_schema(spec, model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _add_schema(spec: APISpec, name: str, definition: dict[str, Any]) -> None:
    existing = spec.components.schemas.get(name)
    if existing is None:
        spec.components.schema(name, definition)
    elif existing != definition:
        # Two models with one name would silently share the first one's schema.
        raise ValueError(f"Two different API models are named {name}: rename one")


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: absent means the default, so it is never null."""
    schema = {k: v for k, v in prop.items() if k not in ("title", "default") or
              (k == "default" and v is not None)}
    options = [o for o in schema.pop("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        schema = {**options[0], **schema}
    elif options:
        schema["anyOf"] = options
    return schema


def _statuses(op: Operation, path_arguments: set[str]) -> dict[int, type[BaseModel] | None]:
    """The operation's own statuses plus those its shape implies."""
    statuses: dict[int, type[BaseModel] | None] = {401: None, 403: None}
    if path_arguments:
        statuses[404] = None
    if op.query is not None:
        statuses[422] = None
    if op.body is not None:
        statuses.update({400: None, 413: None, 415: None, 422: None})
    statuses.update(op.responses)
    return statuses


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
    spec.components.schema("RuleResult", RULE_RESULT_SCHEMA)
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
            for status, model in sorted(_statuses(op, set(rule.arguments)).items()):
                entry: dict[str, Any] = {"description": op.descriptions.get(
                    status, STATUS_TEXT.get(status, str(status)))}
                if status >= 400:
                    # Errors are problem+json; a model here names its extra members.
                    entry["content"] = problem_ref
                elif model is not None:
                    entry["content"] = {"application/json": {"schema": _register(spec, model)}}
                else:
                    entry["content"] = {"application/json": {"schema": {"type": "object"}}}
                responses[str(status)] = entry
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
                {"name": arg, "in": "path", "required": True,
                 "schema": PATH_PARAMETERS.get(arg, {"type": "string"})}
                for arg in sorted(rule.arguments)
            ]
            if op.query is not None:
                query_schema = op.query.model_json_schema(by_alias=True)
                required = set(query_schema.get("required", []))
                for name, prop in query_schema.get("properties", {}).items():
                    parameters.append({"name": name, "in": "query", "required": name in required,
                                       "schema": _query_schema(prop)})
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
