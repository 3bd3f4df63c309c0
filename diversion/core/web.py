"""The web wiring every feature shares: URL converters, request checks, security headers,
error pages (problem+json under /api/), template filters and the GOV.UK Frontend assets."""

from __future__ import annotations

import datetime as dt
import logging
import re
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    has_request_context,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.json.provider import DefaultJSONProvider
from flask_wtf.csrf import CSRFError
from jinja2 import FileSystemBytecodeCache
from markupsafe import Markup
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from diversion.core.db import MAX_DATABASE_INT
from diversion.core.errors import DomainError, ValidationFailed
from diversion.core.extensions import csrf
from diversion.core.parsing import MAX_JSON_DEPTH, json_depth_exceeds
from diversion.core.problems import prefers_json, problem
from diversion.core.timeutils import format_london

log = logging.getLogger(__name__)

# Flask's own endpoints that serve files with no personal data in them.
PUBLIC_BUILTIN_ENDPOINTS = frozenset({"static", "assets"})


class QueryStringFilter(logging.Filter):
    """Drops the query string from request lines (`GET /referrals?q=Smith HTTP/1.1`): search
    boxes put names in URLs, and personal data never goes in logs. Credentials carried in a
    path (a route variable named `token`: a calendar feed, a password-reset link, a payment's
    return) are hidden too: `GET /calendar/[hidden] HTTP/1.1`."""

    _QUERY = re.compile(r"\?[^\s\"]*")

    def __init__(self, url_map: Map | None = None) -> None:
        super().__init__()
        self._url_map = weakref.ref(url_map) if url_map is not None else None
        self._tokens: tuple[int, re.Pattern[str] | None] = (-1, None)

    def _token_paths(self) -> re.Pattern[str] | None:
        url_map = self._url_map() if self._url_map is not None else None
        if url_map is None:
            return None
        rules = [rule.rule for rule in url_map.iter_rules() if "token" in rule.arguments]
        if self._tokens[0] != len(rules):  # routes are added after the filter is
            self._tokens = (len(rules), _token_pattern(rules))
        return self._tokens[1]

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            tokens = self._token_paths()
            record.args = tuple(self._hidden(a, tokens) if isinstance(a, str) else a
                                for a in record.args)
        return True

    def _hidden(self, line: str, tokens: re.Pattern[str] | None) -> str:
        line = self._QUERY.sub("", line)
        return tokens.sub(r"\g<before>[hidden]", line) if tokens is not None else line


_SEGMENT = r'[^/\s"?]+'
_TOKEN_VARIABLE = re.compile(r"<(?:[^:>]+:)?token>")


def _token_pattern(rules: list[str]) -> re.Pattern[str] | None:
    """One pattern for every route whose path holds a `<token>`: what comes before it (other
    variables as any one segment) and the token itself, so the token can be replaced."""
    alternatives = []
    for rule in rules:
        before = _TOKEN_VARIABLE.split(rule, maxsplit=1)[0]
        literal = re.split(r"<[^>]+>", before)
        alternatives.append(_SEGMENT.join(re.escape(part) for part in literal))
    if not alternatives:
        return None
    # The path begins after the method and a space: `GET /calendar/… HTTP/1.1`.
    return re.compile(rf"(?<=\s)(?P<before>{'|'.join(alternatives)}){_SEGMENT}")


def _hide_query_strings_in_request_logs(url_map: Map) -> None:
    """The development server (werkzeug) logs every request line; keep the query and any
    credential in the path out."""
    logger = logging.getLogger("werkzeug")
    for old in [f for f in logger.filters if isinstance(f, QueryStringFilter)]:
        logger.removeFilter(old)
    logger.addFilter(QueryStringFilter(url_map))


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` that matches only what fits the database's 32-bit integer ids."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_DATABASE_INT)
        super().__init__(map, *args, **kwargs)


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nesting arrays and objects more than MAX_JSON_DEPTH deep refused
    before it is parsed, as the API refuses it: the parser would recurse until it failed, and
    `request.get_json()` (the register's autosave) lets only a ValueError become a 400."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        raw = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s
        if json_depth_exceeds(raw, MAX_JSON_DEPTH):
            raise ValueError(f"arrays and objects nested more than {MAX_JSON_DEPTH} deep")
        return super().loads(s, **kwargs)


FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse_null_characters() -> None:
    """A NUL is never text anyone typed, and PostgreSQL can neither store nor compare it: a path
    holding one names nothing (404), and a query string name or form fields holding one are
    refused (400), before any handler or query sees them. A NUL in a query string's value (a
    GET filter form's box) becomes U+001A SUBSTITUTE, a control character PostgreSQL does
    store and compare, so that the form names the field at fault with the text rule, as it does
    for any other control character; no NUL reaches a handler either way. Other control
    characters are the text rule's to refuse, field by field."""
    if "\x00" in request.path:
        abort(404)
    values = list(request.args.keys())
    if request.mimetype in FORM_TYPES:
        values += [*request.form.keys(), *request.form.values()]
    if any("\x00" in value for value in values):
        abort(400, description="The request contains a character that is not allowed. "
                               "Check what you entered and try again")
    if any("\x00" in value for value in request.args.values()):
        request.args = ImmutableMultiDict(
            [(name, value.replace("\x00", "\x1a"))
             for name, value in request.args.items(multi=True)])


# Called with the refusal when a post's CSRF token is refused; returns an answer to send instead
# of the 400 page, or None to let the refusal stand (auth keeps a form sent after its sign-in
# ended this way: see auth.held).
CsrfRefusalHandler = Callable[[CSRFError], Any]
_CSRF_REFUSAL_HANDLERS = "diversion.csrf_refusal_handlers"


def add_csrf_refusal_handler(app: Flask, handler: CsrfRefusalHandler) -> None:
    """Let `handler` answer a refused CSRF token before the 400 is raised."""
    app.extensions.setdefault(_CSRF_REFUSAL_HANDLERS, []).append(handler)


def _check_csrf_token() -> Any:
    """Flask-WTF's check (WTF_CSRF_CHECK_DEFAULT is off so that this one runs instead), with the
    refusal offered to the registered handlers first. An answer they return is returned from
    here, so what they wrote is committed with it (core/transactions.py)."""
    if not current_app.config["WTF_CSRF_ENABLED"]:
        return None
    try:
        csrf.protect(apply_exemptions=True)
    except CSRFError as refusal:
        for handler in current_app.extensions.get(_CSRF_REFUSAL_HANDLERS, []):
            answer = handler(refusal)
            if answer is not None:
                return answer
        raise
    return None


def init_app(app: Flask) -> None:
    """Install the shared request checks, headers, error pages and template helpers."""
    # Before any route is added: an id too large for the database's integer is a 404 in the
    # URL map, not an overflow error from the driver (a 500).
    app.url_map.converters["int"] = DatabaseIdConverter
    app.json = BoundedJSONProvider(app)
    app.before_request(_check_csrf_token)
    app.before_request(_refuse_null_characters)
    _hide_query_strings_in_request_logs(app.url_map)
    app.after_request(_security_headers)
    _register_error_handlers(app)
    _register_template_helpers(app)

    assets_folder = app.static_folder + "/govuk/assets" if app.static_folder else "static"

    # GOV.UK Frontend's stylesheet asks for its fonts and images at /assets/.
    @app.get("/assets/<path:filename>", endpoint="assets")
    def assets(filename: str) -> Response:
        return send_from_directory(assets_folder, filename, max_age=31536000)


CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.endpoint not in PUBLIC_BUILTIN_ENDPOINTS:
        headers.setdefault("Cache-Control", "no-store")
    if current_app.config["SETTINGS"].is_production:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def _wants_problem_json() -> bool:
    return request.path.startswith("/api/")


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Any:
        if _wants_problem_json() or prefers_json():
            return problem(400, "The page had expired",
                           "The security token sent with the request was missing or out of date. "
                           "Reload the page and try again")
        return render_template("errors/400.html", reason="csrf"), 400

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Any:
        if _wants_problem_json():
            extra = dict(error.extra)
            if isinstance(error, ValidationFailed):
                extra["errors"] = error.errors
            return problem(error.status, error.title, error.message, **extra)
        return render_template("errors/generic.html", error=error), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        code = error.code or 500
        # A 405 names the methods the resource does allow (RFC 9110 section 15.5.6).
        headers = {name: value for name, value in error.get_headers() if name == "Allow"}
        if _wants_problem_json():
            return problem(code, error.name, error.description or error.name, headers=headers)
        template = f"errors/{code}.html" if code in (400, 403, 404, 405, 409, 413) else None
        if template is None:
            return render_template("errors/generic.html", error=error), code, headers
        return render_template(template, error=error), code, headers

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return http_error(error)
        log.exception("unhandled error on %s %s", request.method, request.endpoint)
        if _wants_problem_json():
            return problem(500, "Internal Server Error", "Something went wrong. Try again later")
        return render_template("errors/500.html"), 500


def short_day(value: dt.date | None) -> Markup:
    """A date in a table: "3 Jun 2026", kept on one line (a filter: a macro in each of a long
    table's cells costs the page more than its query)."""
    if value is None:
        return Markup("")
    # Digits and an English month abbreviation: nothing to escape.
    return Markup(f'<span class="app-nowrap">{value.strftime("%-d %b %Y")}</span>')  # noqa: S704


_FIXED_URLS = "diversion.fixed_urls"
_FIXED_URLS_KEPT = 1000  # a bound, should something vary the script root request by request


def fixed_url(endpoint: str, **values: Any) -> str:
    """`url_for` for an address that is the same on every request (the layout's stylesheets,
    scripts and links on every page): built once per endpoint, values and the script root where
    the app is mounted (as the menu is, diversion.navigation), then looked up."""
    if not has_request_context():
        return url_for(endpoint, **values)
    made: dict[tuple[Any, ...], str] = current_app.extensions.setdefault(_FIXED_URLS, {})
    key = (request.script_root, endpoint, *values.items())
    url = made.get(key)
    if url is None:
        url = url_for(endpoint, **values)
        if len(made) < _FIXED_URLS_KEPT:
            made[key] = url
    return url


def _register_template_helpers(app: Flask) -> None:
    app.jinja_env.globals["fixed_url"] = fixed_url
    app.jinja_env.filters["london"] = format_london
    app.jinja_env.filters["london_date"] = lambda v: format_london(v, "%-d %B %Y")
    app.jinja_env.filters["pounds"] = format_pounds
    app.jinja_env.filters["short_day"] = short_day
    app.jinja_env.add_extension("jinja2.ext.do")
    app.context_processor(_service_contact)
    # Templates are compiled once per worker and kept (Flask turns auto_reload off outside
    # debug); the compiled code is also kept in the instance folder, so a new worker starts
    # without compiling them again. A read-only instance folder only loses that.
    cache = Path(app.instance_path) / "jinja-cache"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        log.warning("no template bytecode cache: %s cannot be created", cache)
    else:
        app.jinja_env.bytecode_cache = FileSystemBytecodeCache(str(cache))

    # Make GOV.UK Frontend's Jinja macros importable as "govuk_frontend_jinja/…".
    from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader

    app.jinja_loader = ChoiceLoader(
        [app.jinja_loader,  # type: ignore[list-item]
         PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")})]
    )


def service_contact() -> dict[str, str]:
    """Who runs the programme and how to reach them (DIVERSION_PROVIDER_NAME, …_BOOKING_PHONE,
    …_BOOKING_HOURS, …_CONTACT_EMAIL): every public page's "Get help", letters, certificates."""
    config = current_app.config
    phone = str(config.get("DIVERSION_BOOKING_PHONE") or "0113 496 0000")
    return {
        "provider": str(config.get("DIVERSION_PROVIDER_NAME") or "The Diversion programme team"),
        "phone": phone,
        "phone_href": "tel:" + "".join(c for c in phone if c.isdigit() or c == "+"),
        "hours": str(config.get("DIVERSION_BOOKING_HOURS") or "Monday to Friday, 9am to 5pm"),
        "email": str(config.get("DIVERSION_CONTACT_EMAIL") or "diversion@example.org"),
    }


def _service_contact() -> dict[str, Any]:
    return {"service_contact": service_contact()}


def format_pounds(pence: int | None) -> str:
    """Integer pence as '£1,234.50' (or '£200' for whole pounds)."""
    if pence is None:
        return ""
    pounds, rest = divmod(abs(pence), 100)
    sign = "-" if pence < 0 else ""
    return f"{sign}£{pounds:,}" + (f".{rest:02d}" if rest else "")


