"""Request parsing and the OpenAPI description of each API endpoint, declared beside it.

Every JSON body goes through `parse_body`: size and nesting depth are checked on the raw bytes
before anything is parsed (413 too large, 400 too deep or malformed, 415 not JSON), then the
model validates it (422, with a message per field in words a person understands). The text
types below carry the single-line rule of `diversion.core.parsing` into both the validation and the
OpenAPI document (as a `pattern`), so a generated client refuses what the server refuses.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from flask import abort, request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)
from werkzeug.exceptions import RequestEntityTooLarge

from diversion.core.db import MAX_DATABASE_INT
from diversion.core.errors import ValidationFailed
from diversion.core.parsing import (
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_JSON_DEPTH,
    ParseError,
    check_text,
    json_depth_exceeds,
    parse_date,
)

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)

OPENAPI_ATTRIBUTE = "openapi_operation"

# A JSON body larger than this is refused (413) before it is read in full; the largest real
# body, a register of a full session, is a few kilobytes.
MAX_JSON_BYTES = 1024 * 1024



def _whole_number(value: Any) -> Any:
    """JSON Schema's `integer` includes 1.0: take a float with no fraction as the int it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
"""An `integer` as JSON Schema means it: 3 or 3.0, never 3.5, "3" or true."""

# A reference to a stored row by its id: a number that cannot name a row is a 422, not a 500.
DatabaseId = Annotated[int, Field(ge=1, le=MAX_DATABASE_INT), BeforeValidator(_whole_number)]

# The single-line rule of diversion.core.parsing as a JSON Schema pattern (ECMA-262 and Python agree
# on these escapes): no C0 or C1 control, DEL, line or paragraph separator.
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
# The multi-line rule: line breaks (CR, LF) and tabs allowed, no other control.
_CONTROLS_EXCEPT_LINE_BREAKS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029"
# What str.strip() removes, beside the controls: a required field needs one character that is
# neither (" " would be stripped to nothing and refused).
_SPACES = r"\x20\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
SINGLE_LINE_PATTERN = rf"^[^{_CONTROLS}]*$"
MULTI_LINE_PATTERN = rf"^[^{_CONTROLS_EXCEPT_LINE_BREAKS}]*$"
FILLED_SINGLE_LINE_PATTERN = rf"^[^{_CONTROLS}]*[^{_CONTROLS}{_SPACES}][^{_CONTROLS}]*$"
FILLED_MULTI_LINE_PATTERN = (rf"^[^{_CONTROLS_EXCEPT_LINE_BREAKS}]*"
                             rf"[^{_CONTROLS}{_SPACES}][^{_CONTROLS_EXCEPT_LINE_BREAKS}]*$")
_FILLED = re.compile(rf"[^{_CONTROLS}{_SPACES}]")
SPACE = rf"[{_SPACES}]"
"""One of the spaces str.strip() removes that the single-line rule allows (a pattern)."""
SPACES = rf"{SPACE}*"
"""Any run of them, none included."""

# A PNC ID's format (diversion.referrals.pnc), or nothing: the server removes spaces and
# upper-cases. Its check letter and a year not in the future are rules a pattern cannot state.
PNC_PATTERN = rf"^$|^{SPACES}([0-9]{{2}}|[0-9]{{4}})/[0-9]{{1,7}}[A-Za-z]{SPACES}$"


def _label(info: ValidationInfo) -> str:
    return (info.field_name or "the text").replace("_", " ").capitalize()


def _single_line(value: str, info: ValidationInfo) -> str:
    try:
        return check_text(value, what=_label(info))
    except ParseError as error:
        raise ValueError(str(error)) from error


def _multi_line(value: str, info: ValidationInfo) -> str:
    try:
        return check_text(value, what=_label(info), multiline=True)
    except ParseError as error:
        raise ValueError(str(error)) from error


def _filled(value: str, info: ValidationInfo) -> str:
    if not _FILLED.search(value):
        raise ValueError(f"Enter the {_label(info).lower()}")
    return value


# Text fields. Give the length with Field(max_length=...) beside the type.
Line = Annotated[str, Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN}),
                 AfterValidator(_single_line)]
"""Single-line text: no control characters or line breaks."""
FilledLine = Annotated[str, Field(min_length=1, json_schema_extra={
    "pattern": FILLED_SINGLE_LINE_PATTERN}), AfterValidator(_single_line), AfterValidator(_filled)]
"""Single-line text that is not blank."""
Lines = Annotated[str, Field(json_schema_extra={"pattern": MULTI_LINE_PATTERN}),
                  AfterValidator(_multi_line)]
"""Multi-line text: line breaks and tabs allowed, no other control character."""
FilledLines = Annotated[str, Field(min_length=1, json_schema_extra={
    "pattern": FILLED_MULTI_LINE_PATTERN}), AfterValidator(_multi_line), AfterValidator(_filled)]
"""Multi-line text that is not blank."""


def _calendar_date(value: Any, info: ValidationInfo) -> Any:
    """Only `YYYY-MM-DD` strings, of real dates from 1900 to 2100."""
    if not isinstance(value, str):
        raise ValueError("Enter a date as YYYY-MM-DD")
    try:
        return parse_date(value, what=_label(info))
    except ParseError as error:
        raise ValueError(str(error)) from error


# A real calendar date from 1900-01-01 to 2100-12-31 as a pattern: each month's length, and
# 29 February only in leap years (1900 and 2100 are not; 2000 is).
_DAY = (r"(?:(?:19[0-9][0-9]|20[0-9][0-9]|2100)-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
        r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
        r"|(?:(?:19|20)(?:0[48]|[2468][048]|[13579][26])|2000)-02-29)")
DATE_PATTERN = rf"^{_DAY}$"
CalendarDate = Annotated[
    dt.date, BeforeValidator(_calendar_date),
    WithJsonSchema({"type": "string", "pattern": DATE_PATTERN,
                    "description": "YYYY-MM-DD: a real date from 1900-01-01 to 2100-12-31"})]

# RFC 3339 date-time, the offset (Z or +hh:mm) not optional, in the same years.
INSTANT_PATTERN = (rf"^{_DAY}[Tt ]"
                   r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
                   r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
_INSTANT = re.compile(INSTANT_PATTERN)
INSTANT_EXAMPLE = "2026-03-05T09:30:00+00:00"


def parse_instant(value: Any) -> dt.datetime:
    """An RFC 3339 date-time with an offset, from 1900 to 2100, as an aware datetime."""
    text = value.strip() if isinstance(value, str) else None
    if text is None or not _INSTANT.match(text):
        raise ValueError(f"Enter a date and time with an offset, like {INSTANT_EXAMPLE}, "
                         f"from {EARLIEST_DATE.year} to {LATEST_DATE.year}")
    try:
        return dt.datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError as error:
        raise ValueError(f"Enter a real date and time, like {INSTANT_EXAMPLE}") from error


def _instant(value: Any) -> Any:
    return value if isinstance(value, dt.datetime) and value.tzinfo else parse_instant(value)


Instant = Annotated[
    dt.datetime, BeforeValidator(_instant),
    WithJsonSchema({"type": "string", "pattern": INSTANT_PATTERN,
                    "description": "RFC 3339 date and time with an offset (Z or +hh:mm), "
                                   "from 1900 to 2100", "examples": [INSTANT_EXAMPLE]})]


TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


def _clock_time(value: Any) -> Any:
    if isinstance(value, str) and re.match(TIME_PATTERN, value):
        return dt.time.fromisoformat(value)
    raise ValueError("Enter a time of day as HH:MM, like 21:30")


ClockTime = Annotated[dt.time, BeforeValidator(_clock_time),
                      WithJsonSchema({"type": "string", "pattern": TIME_PATTERN,
                                      "description": "HH:MM or HH:MM:SS, 24-hour clock"})]


def _query_bool(value: Any) -> Any:
    if value in ("true", "false"):
        return value == "true"
    if isinstance(value, bool):
        return value
    raise ValueError("Enter true or false")


QueryBool = Annotated[bool, BeforeValidator(_query_bool),
                      WithJsonSchema({"type": "boolean"})]
"""A yes/no query parameter, written `true` or `false`."""


@dataclass(frozen=True)
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    descriptions: dict[int, str] = field(default_factory=dict)


def operation(summary: str, *, body: type[BaseModel] | None = None,
              responses: dict[int, type[BaseModel] | None] | None = None,
              query: type[BaseModel] | None = None, tags: tuple[str, ...] = (),
              descriptions: dict[int, str] | None = None) -> Callable[[F], F]:
    """Describe an API endpoint for the OpenAPI document (see diversion.api.openapi).

    `descriptions` words a status for this operation: a 404 naming what a body refers to, or a
    422 naming the business rules no schema can state (data the schema allows may still get
    it; schemathesis.toml allows exactly those)."""

    def decorate(view: F) -> F:
        setattr(view, OPENAPI_ATTRIBUTE, Operation(summary, body, responses or {}, query, tags,
                                                   descriptions or {}))
        return view

    return decorate


class MalformedBody(Exception):
    """The request body is not a JSON object."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json_object() -> dict[str, Any]:
    """The request's JSON object, with its size and depth checked before it is parsed."""
    if not request.is_json:
        abort(415, description="Send the request body as application/json")
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise RequestEntityTooLarge(f"The request body is larger than {MAX_JSON_BYTES:,} bytes")
    raw = request.stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise RequestEntityTooLarge(f"The request body is larger than {MAX_JSON_BYTES:,} bytes")
    if json_depth_exceeds(raw, MAX_JSON_DEPTH):
        abort(400, description=f"The request body nests arrays and objects more than "
                               f"{MAX_JSON_DEPTH} deep")
    try:
        payload = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        abort(400, description="The request body is not valid JSON")
    if not isinstance(payload, dict):
        abort(400, description="The request body is not a valid JSON object")
    return payload


def parse_body(model: type[M]) -> M:
    """The JSON body validated against `model`: 415 not JSON, 413 too large, 400 malformed or
    too deep, 422 invalid."""
    return validate(model, read_json_object())


def parse_query(model: type[M]) -> M:
    """Query-string parameters validated against `model`; 422 when invalid."""
    return validate(model, {k: v for k, v in request.args.items()})


# The detail of a 422 from the model's own validation: what the schema states. A business rule's
# 422 (diversion.services) says something else.
INVALID_FIELDS = "The request has invalid fields"


def validate(model: type[M], payload: dict[str, Any]) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = pydantic_errors(exc)
        # A model's rules across fields (`rule_errors`, on the raw body) would not run once a
        # field fails: run them here so every problem is reported in one round.
        rule_errors = getattr(model, "rule_errors", None)
        if rule_errors is not None:
            for name, message in rule_errors(payload).items():
                errors.setdefault(name, message)
        raise ValidationFailed(errors, INVALID_FIELDS) from exc


def _choices(expected: str) -> str:
    return ", ".join(re.findall(r"'([^']*)'", expected)) or expected


def _message(item: Any) -> str:
    """Pydantic's error in words for the person who sent the request (never its internals)."""
    kind, ctx = item["type"], item.get("ctx") or {}
    if kind == "missing":
        return "This field is required"
    if kind == "extra_forbidden":
        return "This field is not allowed"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", item["msg"])).removeprefix("Value error, ")
    if kind == "string_too_long":
        return f"Enter {ctx['max_length']:,} characters or fewer"
    if kind == "string_too_short":
        return "Enter this" if ctx.get("min_length") == 1 else \
            f"Enter at least {ctx['min_length']:,} characters"
    if kind in ("too_long", "too_short"):
        # Pydantic says too_long/too_short for text in an optional field, as for a list.
        unit = "character" if isinstance(item.get("input"), str) else "item"
        count = ctx.get("max_length" if kind == "too_long" else "min_length", 0)
        words = f"{count:,} {unit}" + ("" if count == 1 else "s")
        return f"Give {words} or fewer" if kind == "too_long" else f"Give at least {words}"
    if kind.startswith("string_") or kind == "string_type":
        return "Enter text"
    if kind in ("int_parsing", "int_type", "int_from_float", "float_parsing", "float_type"):
        return "Enter a whole number"
    if kind in ("greater_than_equal", "greater_than"):
        return f"Enter a number from {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"Enter a number up to {ctx.get('le', ctx.get('lt')):,}"
    if kind in ("bool_parsing", "bool_type"):
        return "Enter true or false"
    if kind in ("literal_error", "enum"):
        return f"Choose one of: {_choices(str(ctx.get('expected', '')))}"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "Give a list"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "Give an object"
    if kind.startswith("datetime") or kind.startswith("timezone"):
        return f"Enter a date and time with an offset, like {INSTANT_EXAMPLE}"
    if kind.startswith("date"):
        return "Enter a real date as YYYY-MM-DD"
    if kind.startswith("time"):
        return "Enter a time as HH:MM"
    return "This value is not valid"


def pydantic_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's errors as {dotted.field: message}."""
    errors: dict[str, str] = {}
    # The input is read to choose words, never echoed back (it may be personal data).
    for item in exc.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"]) or "body"
        errors.setdefault(name, _message(item))
    return errors

