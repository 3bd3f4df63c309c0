"""Settings read from the environment once, when the app is created."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRUE_WORDS = {"1", "true", "yes", "on"}


# Published in this repository, so it signs nothing in production.
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"  # noqa: S105
# A key shorter than this can be guessed offline from one signed cookie.
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(RuntimeError):
    """A required setting is missing or has an impossible value."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in TRUE_WORDS


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    secret_key: str
    email_backend: str
    sms_backend: str
    smtp_host: str
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None
    smtp_starttls: bool
    mail_from: str
    notify_api_key: str | None
    notify_base_url: str
    # Notify sends only from templates: one generic template per channel (docs/notify.md).
    notify_email_template_id: str | None = None
    notify_sms_template_id: str | None = None
    smtp_timeout_seconds: float = 10.0
    # Where people reach the service: used for links in emails (never taken from a request).
    base_url: str = "http://127.0.0.1:5000"
    # The programme team's phone number, printed on offer letters and pages.
    booking_phone: str = "0113 496 0000"
    # Who runs the programme (named on public pages, letters, certificates and the privacy
    # notice), when the phone line is open, and the email address people may write to.
    provider_name: str = "The Diversion programme team"
    booking_hours: str = "Monday to Friday, 9am to 5pm"
    contact_email: str = "diversion@example.org"
    # How many reverse proxies in front of the app set X-Forwarded-For (0: none). Without it,
    # behind a proxy every sign-in would seem to come from one address and share one throttle.
    trusted_proxies: int = 0
    # A staff sign-in ends after this many minutes with no request (the warning comes 2 minutes
    # before). Courses run all day, so keep it short only where the risk calls for it.
    idle_timeout_minutes: int = 30
    absolute_session_hours: int = 12
    # How the referred man pays his fee online: `none` (managers record payments by hand only)
    # or `govuk_pay`, with its API key and address.
    payment_backend: str = "none"
    govuk_pay_api_key: str | None = None
    govuk_pay_base_url: str = "https://publicapi.payments.service.gov.uk"
    # How often a standby scheduler tries the single-scheduler lock (and the active one checks
    # it still holds it): a standby takes over within this many seconds of the active one dying.
    scheduler_standby_poll_seconds: int = 5
    # The roles that must sign in with a second factor (TOTP, auth.second_factor): they are
    # sent to set one up right after their password until they have.
    require_second_factor_roles: frozenset[str] = frozenset()
    # Earlier values of SECRET_KEY, newest first, kept while SECRET_KEY is being changed: sign-ins
    # signed with them stay valid, and authenticator secrets sealed under them still open
    # (auth.sealing) and are sealed again under the new key when next used.
    secret_key_fallbacks: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def read_settings(environ: dict[str, str] | None = None, instance_path: str | None = None) -> Settings:
    """Read DESIGN.md's settings from the environment, refusing unsafe production values."""
    environ = dict(os.environ if environ is None else environ)
    env = environ.get("DIVERSION_ENV", "development").strip() or "development"
    if env not in {"development", "production"}:
        raise ConfigError("DIVERSION_ENV must be 'development' or 'production'")
    instance = Path(instance_path or "instance")
    default_db = f"sqlite:///{(instance / 'diversion.sqlite').resolve()}"
    secret_key = environ.get("SECRET_KEY", "")
    if env == "production":
        if not secret_key:
            raise ConfigError("SECRET_KEY must be set when DIVERSION_ENV=production")
        if secret_key == DEVELOPMENT_SECRET_KEY:
            raise ConfigError("SECRET_KEY is the published development key: generate a new one, "
                              "for example with: python3 -c 'import secrets; "
                              "print(secrets.token_urlsafe(48))'")
        if len(secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters "
                              "when DIVERSION_ENV=production")
        if "," in secret_key:
            raise ConfigError("SECRET_KEY must not contain a comma (SECRET_KEY_FALLBACKS "
                              "separates keys with commas, so it could not be kept there)")
    elif not secret_key:
        secret_key = DEVELOPMENT_SECRET_KEY
    secret_key_fallbacks = _secret_key_fallbacks(environ.get("SECRET_KEY_FALLBACKS", ""),
                                                 production=env == "production")
    email_backend = environ.get("DIVERSION_EMAIL_BACKEND", "log")
    sms_backend = environ.get("DIVERSION_SMS_BACKEND", "log")
    if email_backend not in {"log", "smtp", "notify"}:
        raise ConfigError("DIVERSION_EMAIL_BACKEND must be log, smtp or notify")
    if sms_backend not in {"log", "notify"}:
        raise ConfigError("DIVERSION_SMS_BACKEND must be log or notify")
    try:
        smtp_port = int(environ.get("DIVERSION_SMTP_PORT", "25"))
    except ValueError as exc:
        raise ConfigError("DIVERSION_SMTP_PORT must be a number") from exc
    try:
        trusted_proxies = int(environ.get("DIVERSION_TRUSTED_PROXIES", "0"))
    except ValueError as exc:
        raise ConfigError("DIVERSION_TRUSTED_PROXIES must be a whole number") from exc
    if trusted_proxies < 0:
        raise ConfigError("DIVERSION_TRUSTED_PROXIES must not be negative")
    require_second_factor_roles = _second_factor_roles(
        environ.get("DIVERSION_REQUIRE_SECOND_FACTOR_ROLES", ""), production=env == "production")
    idle_timeout_minutes = _whole_number(environ, "DIVERSION_IDLE_TIMEOUT_MINUTES", 30,
                                         low=3, high=12 * 60)
    absolute_session_hours = _whole_number(environ, "DIVERSION_ABSOLUTE_SESSION_HOURS", 12,
                                           low=1, high=7 * 24)
    scheduler_standby_poll_seconds = _whole_number(
        environ, "DIVERSION_SCHEDULER_STANDBY_POLL_SECONDS", 5, low=1, high=25)
    base_url = environ.get("DIVERSION_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError("DIVERSION_BASE_URL must start with http:// or https://")
    payment_backend = environ.get("DIVERSION_PAYMENT_BACKEND", "none").strip() or "none"
    if payment_backend not in {"none", "govuk_pay"}:
        raise ConfigError("DIVERSION_PAYMENT_BACKEND must be none or govuk_pay")
    govuk_pay_api_key = environ.get("DIVERSION_GOVUK_PAY_API_KEY") or None
    if payment_backend == "govuk_pay" and not govuk_pay_api_key and env == "production":
        raise ConfigError("DIVERSION_GOVUK_PAY_API_KEY must be set when "
                          "DIVERSION_PAYMENT_BACKEND=govuk_pay")
    govuk_pay_base_url = environ.get(
        "DIVERSION_GOVUK_PAY_BASE_URL", "https://publicapi.payments.service.gov.uk").rstrip("/")
    if not govuk_pay_base_url.startswith(("http://", "https://")):
        raise ConfigError("DIVERSION_GOVUK_PAY_BASE_URL must start with http:// or https://")
    return Settings(
        env=env,
        database_url=_normalise_database_url(environ.get("DATABASE_URL") or default_db),
        secret_key=secret_key,
        secret_key_fallbacks=secret_key_fallbacks,
        email_backend=email_backend,
        sms_backend=sms_backend,
        smtp_host=environ.get("DIVERSION_SMTP_HOST", "localhost"),
        smtp_port=smtp_port,
        smtp_username=environ.get("DIVERSION_SMTP_USERNAME") or None,
        smtp_password=environ.get("DIVERSION_SMTP_PASSWORD") or None,
        smtp_starttls=_bool(environ.get("DIVERSION_SMTP_STARTTLS"), False),
        mail_from=environ.get("DIVERSION_MAIL_FROM", "diversion@localhost"),
        notify_api_key=environ.get("DIVERSION_NOTIFY_API_KEY") or None,
        notify_base_url=environ.get(
            "DIVERSION_NOTIFY_BASE_URL", "https://api.notifications.service.gov.uk"
        ),
        notify_email_template_id=environ.get("DIVERSION_NOTIFY_EMAIL_TEMPLATE_ID") or None,
        notify_sms_template_id=environ.get("DIVERSION_NOTIFY_SMS_TEMPLATE_ID") or None,
        base_url=base_url,
        booking_phone=environ.get("DIVERSION_BOOKING_PHONE", "0113 496 0000"),
        provider_name=environ.get("DIVERSION_PROVIDER_NAME", "").strip()
        or "The Diversion programme team",
        booking_hours=environ.get("DIVERSION_BOOKING_HOURS", "").strip()
        or "Monday to Friday, 9am to 5pm",
        contact_email=environ.get("DIVERSION_CONTACT_EMAIL", "").strip()
        or "diversion@example.org",
        trusted_proxies=trusted_proxies,
        idle_timeout_minutes=idle_timeout_minutes,
        absolute_session_hours=absolute_session_hours,
        payment_backend=payment_backend,
        govuk_pay_api_key=govuk_pay_api_key,
        govuk_pay_base_url=govuk_pay_base_url,
        scheduler_standby_poll_seconds=scheduler_standby_poll_seconds,
        require_second_factor_roles=require_second_factor_roles,
    )


def _secret_key_fallbacks(raw: str, *, production: bool) -> tuple[str, ...]:
    """SECRET_KEY_FALLBACKS: earlier SECRET_KEYs separated by commas, newest first; in
    production each must pass the checks SECRET_KEY does."""
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    if production:
        for key in keys:
            if key == DEVELOPMENT_SECRET_KEY or len(key) < MIN_SECRET_KEY_LENGTH:
                raise ConfigError(f"each of SECRET_KEY_FALLBACKS must be at least "
                                  f"{MIN_SECRET_KEY_LENGTH} characters and not the published "
                                  "development key when DIVERSION_ENV=production")
    return keys


STAFF_ROLES = frozenset({"police", "facilitator", "manager", "admin"})


def _second_factor_roles(raw: str, *, production: bool) -> frozenset[str]:
    """DIVERSION_REQUIRE_SECOND_FACTOR_ROLES: roles separated by commas, `all`, or `none`.
    Blank means admin and manager in production, and no one in development, so that the demo
    and a developer's machine can be tried with passwords alone; the setting names the roles
    there too."""
    text = raw.strip().lower()
    if not text:
        return frozenset({"admin", "manager"}) if production else frozenset()
    if text == "all":
        return STAFF_ROLES
    if text == "none":
        return frozenset()
    roles = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = roles - STAFF_ROLES
    if unknown:
        raise ConfigError("DIVERSION_REQUIRE_SECOND_FACTOR_ROLES must name roles among "
                          f"{', '.join(sorted(STAFF_ROLES))}, or be all or none")
    return roles


def _whole_number(environ: dict[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise ConfigError(f"{name} must be a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value


def _normalise_database_url(url: str) -> str:
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy needs the psycopg 3 driver named.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def flask_config(settings: Settings) -> dict[str, Any]:
    """The Flask configuration derived from the settings."""
    # hide_parameters: a failed statement's message (and so any logged traceback) would
    # otherwise carry its bound values, i.e. names, dates of birth and emails.
    engine_options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if settings.database_url.startswith("sqlite"):
        engine_options = {"connect_args": {"timeout": 15}, "hide_parameters": True}
    return {
        "SETTINGS": settings,
        "SECRET_KEY": settings.secret_key,
        "SECRET_KEY_FALLBACKS": list(settings.secret_key_fallbacks),
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.is_production,
        "SESSION_COOKIE_NAME": "diversion_session",
        "PREFERRED_URL_SCHEME": "https" if settings.is_production else "http",
        "WTF_CSRF_TIME_LIMIT": None,  # the sign-in itself expires; see auth.web
        # core.web checks the token itself, so that a refused post can still be kept (auth.held).
        "WTF_CSRF_CHECK_DEFAULT": False,
        "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
        "IDLE_TIMEOUT_SECONDS": settings.idle_timeout_minutes * 60,
        "ABSOLUTE_TIMEOUT_SECONDS": settings.absolute_session_hours * 60 * 60,
        # The time-out warning opens this long before a sign-in ends (GOV.UK's pattern: 2 min).
        "SIGN_OUT_WARNING_SECONDS": 2 * 60,
        # What a post sent after its sign-in ended is kept for, until the person signs in again.
        "HELD_FORM_LIFETIME_SECONDS": 2 * 60 * 60,
        # Sign-in guards (auth.guards): after this many failures in a row, each further attempt
        # at an account waits 1, 2, 4 ... seconds, at most SIGN_IN_MAX_DELAY_SECONDS.
        "SIGN_IN_FREE_FAILURES_PER_ACCOUNT": 5,
        "SIGN_IN_MAX_DELAY_SECONDS": 15 * 60,
        # Failures from one address across every account, in a window of an hour.
        "SIGN_IN_MAX_FAILURES_PER_ADDRESS": 50,
        "SIGN_IN_ADDRESS_WINDOW_SECONDS": 60 * 60,
        # The known-device cookie's life (auth.devices).
        "KNOWN_DEVICE_LIFETIME_DAYS": 90,
        # Roles that must prove a second factor (auth.second_factor), and how long the page
        # asking for it waits after the password.
        "REQUIRE_SECOND_FACTOR_ROLES": settings.require_second_factor_roles,
        "SECOND_FACTOR_STEP_SECONDS": 5 * 60,
        # How hard passwords (and referral PINs) are hashed (auth.passwords.PROFILES): always
        # "production" outside the test suite, which sets "test".
        "PASSWORD_HASH_PROFILE": "production",
        # A dashboard count that grows with a national programme's open work (the fees owed
        # over every booked referral) is counted at most this often in each worker, and its
        # panel says when it was counted (core.dashboard.counted_recently). 0: every time.
        "DASHBOARD_COUNTS_MAX_AGE_SECONDS": 60,
        # Password reset links: valid this long; so many requests from one address an hour.
        "PASSWORD_RESET_LINK_SECONDS": 60 * 60,
        "PASSWORD_RESET_MAX_PER_ADDRESS": 10,
        "DIVERSION_BASE_URL": settings.base_url,
        "DIVERSION_BOOKING_PHONE": settings.booking_phone,
        "DIVERSION_PROVIDER_NAME": settings.provider_name,
        "DIVERSION_BOOKING_HOURS": settings.booking_hours,
        "DIVERSION_CONTACT_EMAIL": settings.contact_email,
    }
