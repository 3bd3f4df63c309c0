import secrets

import pytest

from diversion.auth.access import public
from diversion.core.config import DEVELOPMENT_SECRET_KEY, ConfigError, flask_config, read_settings


def test_defaults_give_a_development_sqlite_setup(tmp_path):
    settings = read_settings({}, instance_path=str(tmp_path))
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'diversion.sqlite'}"
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.trusted_proxies == 0


def test_the_idle_limit_of_a_sign_in_is_a_setting_in_minutes():
    assert flask_config(read_settings({}))["IDLE_TIMEOUT_SECONDS"] == 30 * 60
    settings = read_settings({"DIVERSION_IDLE_TIMEOUT_MINUTES": "45"})
    assert settings.idle_timeout_minutes == 45
    assert flask_config(settings)["IDLE_TIMEOUT_SECONDS"] == 45 * 60
    assert flask_config(settings)["ABSOLUTE_TIMEOUT_SECONDS"] == 12 * 60 * 60


def test_the_absolute_limit_of_a_sign_in_is_a_setting_in_hours():
    settings = read_settings({"DIVERSION_ABSOLUTE_SESSION_HOURS": "8"})
    assert settings.absolute_session_hours == 8
    assert flask_config(settings)["ABSOLUTE_TIMEOUT_SECONDS"] == 8 * 60 * 60


def test_postgres_urls_are_given_the_psycopg_driver():
    settings = read_settings({"DATABASE_URL": "postgres://u@db/diversion"})
    assert settings.database_url == "postgresql+psycopg://u@db/diversion"


def test_production_without_a_secret_key_is_refused():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        read_settings({"DIVERSION_ENV": "production"})


@pytest.mark.parametrize(("key", "message"), [
    ("x", "at least 32 characters"),
    ("k" * 31, "at least 32 characters"),
    (DEVELOPMENT_SECRET_KEY, "published development key"),
    ("k" * 40 + "," + "k" * 40, "must not contain a comma"),
])
def test_production_refuses_a_short_or_published_secret_key(key, message):
    with pytest.raises(ConfigError, match=message):
        read_settings({"DIVERSION_ENV": "production", "SECRET_KEY": key})


def test_production_accepts_a_long_random_secret_key():
    key = secrets.token_urlsafe(48)
    assert read_settings({"DIVERSION_ENV": "production", "SECRET_KEY": key}).secret_key == key


def test_development_falls_back_to_the_development_key():
    assert read_settings({}).secret_key == DEVELOPMENT_SECRET_KEY


@pytest.mark.parametrize(("name", "value", "message"), [
    ("DIVERSION_TRUSTED_PROXIES", "two", "whole number"),
    ("DIVERSION_TRUSTED_PROXIES", "-1", "negative"),
    ("DIVERSION_BASE_URL", "diversion.example", "http"),
    ("DIVERSION_SMTP_PORT", "smtp", "number"),
    ("DIVERSION_EMAIL_BACKEND", "pigeon", "log, smtp or notify"),
    ("DIVERSION_ENV", "staging", "development"),
    ("DIVERSION_IDLE_TIMEOUT_MINUTES", "half an hour", "whole number"),
    ("DIVERSION_IDLE_TIMEOUT_MINUTES", "1", "between 3 and 720"),
    ("DIVERSION_IDLE_TIMEOUT_MINUTES", "721", "between 3 and 720"),
    ("DIVERSION_ABSOLUTE_SESSION_HOURS", "0", "between 1 and 168"),
    ("DIVERSION_ABSOLUTE_SESSION_HOURS", "a day", "whole number"),
    ("DIVERSION_PAYMENT_BACKEND", "stripe", "none or govuk_pay"),
    ("DIVERSION_GOVUK_PAY_BASE_URL", "publicapi.example", "http"),
    ("DIVERSION_SCHEDULER_STANDBY_POLL_SECONDS", "0", "between 1 and 25"),
    ("DIVERSION_SCHEDULER_STANDBY_POLL_SECONDS", "30", "between 1 and 25"),
])
def test_impossible_settings_are_refused_with_a_clear_message(name, value, message):
    with pytest.raises(ConfigError, match=message):
        read_settings({name: value})


def test_a_standby_scheduler_polls_every_5_seconds_unless_told():
    assert read_settings({}).scheduler_standby_poll_seconds == 5
    settings = read_settings({"DIVERSION_SCHEDULER_STANDBY_POLL_SECONDS": "2"})
    assert settings.scheduler_standby_poll_seconds == 2


def test_online_payment_is_off_by_default_and_points_at_gov_uk_pay():
    settings = read_settings({})
    assert settings.payment_backend == "none" and settings.govuk_pay_api_key is None
    assert settings.govuk_pay_base_url == "https://publicapi.payments.service.gov.uk"


def test_gov_uk_pay_without_its_api_key_is_refused_in_production():
    production = {"DIVERSION_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
                  "DIVERSION_PAYMENT_BACKEND": "govuk_pay"}
    with pytest.raises(ConfigError, match="DIVERSION_GOVUK_PAY_API_KEY"):
        read_settings(production)
    settings = read_settings({**production, "DIVERSION_GOVUK_PAY_API_KEY": "api_live_x",
                              "DIVERSION_GOVUK_PAY_BASE_URL": "https://pay.example/"})
    assert settings.payment_backend == "govuk_pay" and settings.govuk_pay_api_key == "api_live_x"
    assert settings.govuk_pay_base_url == "https://pay.example"


def test_behind_one_proxy_the_client_address_comes_from_x_forwarded_for(monkeypatch, tmp_path):
    from diversion import create_app

    monkeypatch.setenv("DIVERSION_TRUSTED_PROXIES", "1")
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"})
    seen = {}

    @app.get("/_test/address")
    def address():  # a throwaway app's route: the production url map is untouched
        from flask import request

        seen["address"] = request.remote_addr
        return "ok"

    public(address)
    app.test_client().get("/_test/address", headers={"X-Forwarded-For": "203.0.113.9"},
                          environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert seen["address"] == "203.0.113.9"


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "postgres://u@db/diversion"])
def test_a_failed_statement_never_carries_its_values_into_error_messages_or_logs(url):
    import sqlalchemy as sa

    from diversion.core.config import flask_config

    options = flask_config(read_settings({"DATABASE_URL": url}))["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["hide_parameters"] is True
    engine = sa.create_engine("sqlite://", hide_parameters=options["hide_parameters"])
    with engine.connect() as connection:
        connection.execute(sa.text("CREATE TABLE people (name TEXT UNIQUE)"))
        insert = sa.text("INSERT INTO people (name) VALUES (:name)")
        connection.execute(insert, {"name": "Jane Example"})
        with pytest.raises(sa.exc.IntegrityError) as error:
            connection.execute(insert, {"name": "Jane Example"})
    assert "Jane Example" not in str(error.value)


def test_admins_and_managers_must_use_a_second_factor_unless_the_setting_says_otherwise():
    production = {"DIVERSION_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48)}
    assert read_settings(production).require_second_factor_roles == {"admin", "manager"}
    assert read_settings({**production, "DIVERSION_REQUIRE_SECOND_FACTOR_ROLES": "none"}
                         ).require_second_factor_roles == frozenset()
    # A developer's machine and the demo can be tried with passwords alone, unless set.
    assert read_settings({}).require_second_factor_roles == frozenset()
    assert read_settings({"DIVERSION_REQUIRE_SECOND_FACTOR_ROLES": "admin,manager"}
                         ).require_second_factor_roles == {"admin", "manager"}
    assert read_settings({"DIVERSION_REQUIRE_SECOND_FACTOR_ROLES": "all"}
                         ).require_second_factor_roles == {"police", "facilitator", "manager",
                                                           "admin"}
    assert read_settings({"DIVERSION_REQUIRE_SECOND_FACTOR_ROLES": "none"}
                         ).require_second_factor_roles == frozenset()
    assert read_settings({"DIVERSION_REQUIRE_SECOND_FACTOR_ROLES": " Admin, police "}
                         ).require_second_factor_roles == {"admin", "police"}
    with pytest.raises(ConfigError, match="DIVERSION_REQUIRE_SECOND_FACTOR_ROLES"):
        read_settings({"DIVERSION_REQUIRE_SECOND_FACTOR_ROLES": "admin,superuser"})


def test_earlier_secret_keys_are_kept_as_fallbacks_newest_first():
    old, older = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    settings = read_settings({"DIVERSION_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
                              "SECRET_KEY_FALLBACKS": f" {old} , {older},"})
    assert settings.secret_key_fallbacks == (old, older)
    assert flask_config(settings)["SECRET_KEY_FALLBACKS"] == [old, older]
    assert read_settings({}).secret_key_fallbacks == ()


@pytest.mark.parametrize("fallback", ["short", DEVELOPMENT_SECRET_KEY])
def test_production_refuses_a_short_or_published_fallback_key(fallback):
    with pytest.raises(ConfigError, match="SECRET_KEY_FALLBACKS"):
        read_settings({"DIVERSION_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
                       "SECRET_KEY_FALLBACKS": f"{secrets.token_urlsafe(48)},{fallback}"})
