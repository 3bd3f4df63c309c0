"""Authenticator secrets are kept sealed (auth.sealing): the database alone does not give the
codes; a changed SECRET_KEY with the old one in SECRET_KEY_FALLBACKS keeps every authenticator
working and seals each again when it is next used; a secret no key opens fails safe."""

from __future__ import annotations

import datetime as dt
import logging

import pyotp
import pytest
from sqlalchemy import select, text

from diversion.auth import sealing, second_factor
from diversion.auth.models import SecondFactor, User
from diversion.core.extensions import db
from tests.builders import DEFAULT_PASSWORD, NOW, create_user, enrolled_user

pytestmark = pytest.mark.usefixtures("clock")

NEW_KEY = "a new secret key for these tests, long enough to pass"




def _stored(user: User | int) -> str:
    db.session.expire_all()
    user_id = user if isinstance(user, int) else user.id
    return db.session.scalar(select(SecondFactor.secret).where(SecondFactor.user_id == user_id))


def _signs_in_with(client, user: User, code: str) -> bool:
    client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    response = client.post("/sign-in/code", data={"code": code})
    return response.status_code == 302 and client.get("/account/password").status_code == 200


def test_the_stored_secret_is_sealed_and_opens_to_the_one_the_authenticator_has(app):
    user = create_user(role="facilitator")
    enrolment = second_factor.start_enrolment(user, now=NOW)
    db.session.commit()
    stored = _stored(user)
    assert enrolment.secret not in stored and enrolment.secret.lower() not in stored.lower()
    assert stored.startswith("gAAAAA")  # a Fernet token
    assert sealing.unseal(stored) == (enrolment.secret, False)
    # Reloading the enrolment page shows the same secret, not a new one.
    assert second_factor.start_enrolment(user, now=NOW).secret == enrolment.secret
    # Sealing twice gives two different tokens (a random IV each time).
    assert sealing.seal(enrolment.secret) != sealing.seal(enrolment.secret)


def test_a_changed_secret_key_with_the_old_one_as_a_fallback_keeps_the_authenticator(
        app, client, clock, monkeypatch):
    user, totp, _codes = enrolled_user()
    old_key, sealed_before = app.config["SECRET_KEY"], _stored(user)
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [old_key])
    clock.advance(seconds=60)
    assert _signs_in_with(client, user, totp.at(clock.now))
    sealed_after = _stored(user)
    assert sealed_after != sealed_before
    # Sealed again under the new key: it opens without the fallback now.
    assert sealing.unseal(sealed_after, secret_keys=[NEW_KEY]) == (totp.secret, False)
    with pytest.raises(sealing.SealBroken):
        sealing.unseal(sealed_after, secret_keys=[old_key])


def test_a_secret_no_key_opens_refuses_codes_without_an_error_page_and_recovery_still_works(
        app, client, clock, monkeypatch, caplog):
    user, totp, codes = enrolled_user()
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])
    clock.advance(seconds=60)
    with caplog.at_level(logging.WARNING, logger="diversion.auth.second_factor"):
        client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
        refused = client.post("/sign-in/code", data={"code": totp.at(clock.now)})
    assert refused.status_code == 200 and "govuk-error-summary" in refused.text
    assert client.get("/account/password").status_code != 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("could not be opened" in w for w in warnings)
    assert not any(user.email in w or str(user.id) in w or totp.secret in w for w in warnings)
    # A recovery code does not depend on the sealed secret.
    assert client.post("/sign-in/code", data={"code": codes[0]}).status_code == 302
    assert client.get("/account/password").status_code == 200


def test_an_enrolment_whose_secret_no_longer_opens_is_offered_a_new_secret(app, monkeypatch):
    user = create_user(role="facilitator")
    first = second_factor.start_enrolment(user, now=NOW)
    db.session.commit()
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
    again = second_factor.start_enrolment(user, now=NOW + dt.timedelta(minutes=1))
    db.session.commit()
    assert again.secret != first.secret
    assert sealing.unseal(_stored(user)) == (again.secret, False)
    code = pyotp.TOTP(again.secret).at(NOW + dt.timedelta(minutes=1))
    assert second_factor.confirm_enrolment(user, code=code,
                                           now=NOW + dt.timedelta(minutes=1)) is not None


def test_migration_0030_seals_the_secrets_kept_before_it_and_its_downgrade_opens_them(
        app, monkeypatch, capfd):
    from flask_migrate import downgrade, upgrade

    from tests.conftest import PROJECT_ROOT

    user = create_user(role="facilitator")
    enrolment = second_factor.start_enrolment(user, now=NOW)  # sealed under the suite's key
    db.session.commit()
    user_id, directory = user.id, str(PROJECT_ROOT / "migrations")
    factor_id = db.session.scalar(select(SecondFactor.id).where(SecondFactor.user_id == user_id))
    suite_key = app.config["SECRET_KEY"]
    db.session.remove()
    try:
        # The service's key changed meanwhile: the downgrade opens what the old one sealed.
        monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
        monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [suite_key])
        downgrade(directory=directory, revision="0029")
        assert _stored(user_id) == enrolment.secret  # kept as it was before 0030
        db.session.remove()
        upgrade(directory=directory, revision="0030")
        stored = _stored(user_id)
        assert stored != enrolment.secret
        assert sealing.unseal(stored, secret_keys=[NEW_KEY]) == (enrolment.secret, False)
        # A downgrade that no key can open refuses, naming the row, and changes nothing.
        monkeypatch.setitem(app.config, "SECRET_KEY", "yet another key, long enough to pass")
        monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])
        db.session.remove()
        capfd.readouterr()
        with pytest.raises(SystemExit):  # Flask-Migrate logs the error and exits
            downgrade(directory=directory, revision="0029")
        assert f"second factor {factor_id}: no key" in capfd.readouterr().err
        assert _stored(user_id) == stored
    finally:
        monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
        db.session.remove()
        upgrade(directory=directory, revision="heads")
    assert db.session.execute(text("SELECT count(*) FROM second_factors")).scalar() == 1


def test_migration_0030_refuses_to_seal_kept_secrets_under_the_development_key(
        app, monkeypatch, capfd):
    from flask_migrate import downgrade, upgrade

    from diversion.core.config import DEVELOPMENT_SECRET_KEY
    from tests.conftest import PROJECT_ROOT

    monkeypatch.setitem(app.config, "SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    monkeypatch.delenv("DIVERSION_SEAL_WITH_DEVELOPMENT_KEY", raising=False)
    user = create_user(role="facilitator")
    enrolment = second_factor.start_enrolment(user, now=NOW)
    db.session.commit()
    user_id, directory = user.id, str(PROJECT_ROOT / "migrations")
    db.session.remove()
    try:
        downgrade(directory=directory, revision="0029")
        db.session.remove()
        # `db upgrade` run without the service's SECRET_KEY would seal the live secrets
        # under the published key: refused, before anything changes.
        capfd.readouterr()
        with pytest.raises(SystemExit):  # Flask-Migrate logs the error and exits
            upgrade(directory=directory, revision="0030")
        assert "published development key" in capfd.readouterr().err
        assert _stored(user_id) == enrolment.secret
        # Said to be meant (a developer's own database): sealed.
        monkeypatch.setenv("DIVERSION_SEAL_WITH_DEVELOPMENT_KEY", "yes")
        db.session.remove()
        upgrade(directory=directory, revision="0030")
        assert sealing.unseal(_stored(user_id)) == (enrolment.secret, False)
    finally:
        monkeypatch.setenv("DIVERSION_SEAL_WITH_DEVELOPMENT_KEY", "yes")
        db.session.remove()
        upgrade(directory=directory, revision="heads")


def test_the_reseal_command_seals_every_secret_under_the_new_key_and_names_what_it_cannot(
        app, monkeypatch):
    from diversion.audit.models import AuditEvent

    (first, first_totp, _), (second, _, _) = enrolled_user(), enrolled_user()
    old_key = app.config["SECRET_KEY"]
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [old_key])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "reseal-authenticators"])
    assert result.exit_code == 0, result.output
    assert "sealed again: 2; already under the current key: 0" in result.output
    # The old key can leave the fallbacks: both still open, under the new key alone.
    for user in (first, second):
        assert sealing.unseal(_stored(user.id), secret_keys=[NEW_KEY])[1] is False
    assert sealing.unseal(_stored(first.id), secret_keys=[NEW_KEY])[0] == first_totp.secret
    again = runner.invoke(args=["users", "reseal-authenticators"])
    assert "sealed again: 0; already under the current key: 2" in again.output
    # A secret no key opens is named, and the command says so by its exit status.
    monkeypatch.setitem(app.config, "SECRET_KEY", "a third key for this test, long enough")
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [NEW_KEY])
    db.session.execute(text("UPDATE second_factors SET secret = 'gAAAAA-not-a-token' "
                            "WHERE user_id = :id"), {"id": second.id})
    db.session.commit()
    broken = runner.invoke(args=["users", "reseal-authenticators"])
    assert broken.exit_code == 1
    assert "sealed again: 1; already under the current key: 0" in broken.output
    assert "1 could not be opened" in broken.output
    db.session.expire_all()
    details = [e.details for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.second_factors_resealed")
        .order_by(AuditEvent.id))]
    assert details == [{"resealed": 2, "current": 0, "unopened": 0},
                       {"resealed": 0, "current": 2, "unopened": 0},
                       {"resealed": 1, "current": 0, "unopened": 1}]
