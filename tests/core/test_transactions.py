"""One transaction per request (core/transactions.py): a handler that returns is committed, one
that raises is rolled back, web and API alike; the refusals that must be kept are kept.

Every check reads what is *committed*: `db.session.remove()` first throws away anything the
test's own session (shared with the app's requests) still holds uncommitted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, abort
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.auth.access import public
from diversion.auth.models import ApiToken, Force, RefusedAttempt, SignInGuard
from diversion.core.errors import Conflict, ValidationFailed
from diversion.core.extensions import db
from diversion.core.transactions import TransactionalFlask, discarded, savepoint
from tests.builders import create_token, create_user, known_referral
from tests.selfservice.helpers import sign_in

PROBLEM = "application/problem+json"


def _write(code: str) -> None:
    db.session.add(Force(code=code, name=f"Test force {code}"))
    db.session.flush()


def _committed_codes() -> set[str]:
    db.session.remove()
    return set(db.session.scalars(select(Force.code)))


def _returns() -> str:
    _write("RET")
    return "done"


def _returns_a_refusal_it_caught() -> tuple[str, int]:
    _write("KEPT")
    try:
        raise Conflict("Refused, but the attempt is recorded")
    except Conflict as refusal:
        return refusal.message, refusal.status


def _raises_a_domain_error() -> str:
    _write("DOM")
    raise Conflict("That cannot be done now")


def _raises_a_validation_error() -> str:
    _write("VAL")
    raise ValidationFailed({"name": "Enter a name"})


def _aborts() -> str:
    _write("ABT")
    abort(404)


def _explodes() -> str:
    _write("BOOM")
    raise RuntimeError("something broke inside")


def _commit_fails() -> str:
    # The same unique code twice, unflushed: the request's own commit is what fails.
    db.session.add(Force(code="TWICE", name="One"))
    db.session.add(Force(code="TWICE", name="Two"))
    return "done"


def _shows_a_refusal_on_its_form() -> tuple[str, int]:
    _write("BEFORE")
    try:
        with savepoint():
            _write("INSIDE")
            raise ValidationFailed({"name": "Enter a name"})
    except ValidationFailed:
        return "form with errors", 422


def _previews() -> str:
    with discarded():
        _write("PREVIEW")
    return "preview"


ROUTES = {
    "returns": _returns,
    "caught": _returns_a_refusal_it_caught,
    "domain-error": _raises_a_domain_error,
    "validation-error": _raises_a_validation_error,
    "abort": _aborts,
    "explode": _explodes,
    "commit-fails": _commit_fails,
    "savepoint": _shows_a_refusal_on_its_form,
    "preview": _previews,
}


def _add_routes(extra: Flask) -> None:
    for name, view in ROUTES.items():
        endpoint = name.replace("-", "_")
        extra.add_url_rule(f"/test-only/tx/{name}", f"test_only_tx_{endpoint}", public(view),
                           methods=["POST"])
        extra.add_url_rule(f"/api/v1/test-only/tx/{name}", f"api.test_only_tx_{endpoint}",
                           public(view), methods=["POST"])


@pytest.fixture
def tx_app(app, database_url, tmp_path) -> Iterator[Flask]:
    from tests.core.apps import separate_app

    db.session.commit()
    with separate_app(database_url, tmp_path, setup=_add_routes) as extra:
        yield extra


PREFIXES = pytest.mark.parametrize("prefix", ["", "/api/v1"], ids=["web", "api"])


def test_the_app_is_built_with_the_request_transaction(app):
    assert isinstance(app, TransactionalFlask)


@PREFIXES
def test_a_handler_that_returns_is_committed(tx_app, prefix):
    response = tx_app.test_client().post(f"{prefix}/test-only/tx/returns")
    assert response.status_code == 200
    assert _committed_codes() == {"RET"}


@PREFIXES
def test_a_refusal_the_handler_catches_and_answers_itself_is_committed(tx_app, prefix):
    response = tx_app.test_client().post(f"{prefix}/test-only/tx/caught")
    assert response.status_code == 409
    assert _committed_codes() == {"KEPT"}


@PREFIXES
@pytest.mark.parametrize(("name", "status"), [
    ("domain-error", 409), ("validation-error", 422), ("abort", 404), ("explode", 500)])
def test_a_handler_that_raises_is_rolled_back(tx_app, prefix, name, status):
    response = tx_app.test_client().post(f"{prefix}/test-only/tx/{name}")
    assert response.status_code == status
    if prefix:
        assert response.mimetype == PROBLEM
    else:
        assert "govuk-template" in response.get_data(as_text=True)
    assert _committed_codes() == set()


@PREFIXES
def test_a_commit_that_fails_is_a_500_answer_and_writes_nothing(tx_app, prefix):
    response = tx_app.test_client().post(f"{prefix}/test-only/tx/commit-fails")
    assert response.status_code == 500
    assert "done" not in response.get_data(as_text=True)
    assert _committed_codes() == set()


def test_a_savepoint_undoes_only_what_the_refused_service_wrote(tx_app):
    response = tx_app.test_client().post("/test-only/tx/savepoint")
    assert response.status_code == 422
    assert _committed_codes() == {"BEFORE"}


def test_a_preview_is_discarded_even_though_the_handler_returns(tx_app):
    response = tx_app.test_client().post("/test-only/tx/preview")
    assert response.status_code == 200
    assert _committed_codes() == set()


@PREFIXES
@pytest.mark.parametrize(("name", "status"), [
    ("domain-error", 409), ("abort", 404), ("explode", 500), ("commit-fails", 500)])
def test_a_rolled_back_request_leaves_nothing_for_the_next_one_to_commit(
        tx_app, prefix, name, status):
    # With an application context kept open (as a test's is), both requests share one
    # session: without the rollback, the next request's commit would keep the failed writes.
    client = tx_app.test_client()
    with tx_app.app_context():
        assert client.post(f"{prefix}/test-only/tx/{name}").status_code == status
        assert client.post(f"{prefix}/test-only/tx/returns").status_code == 200
    assert _committed_codes() == {"RET"}


# The deliberate keeps: refusals whose rows must outlive the refusal, in the real handlers.

def test_a_refused_staff_sign_in_keeps_its_failure_and_audit_row(client):
    user = create_user("manager")
    db.session.commit()
    response = client.post("/sign-in", data={"email": user.email, "password": "wrong password"})
    assert response.status_code == 200
    db.session.remove()
    # The failure is counted against the account and the address (auth.guards), and kept
    # although the request answered with the form again.
    assert dict(db.session.execute(select(SignInGuard.scope, SignInGuard.failures)).all()) == {
        "account": 1, "address": 1}
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "auth.sign_in_failed")) == 1


def test_a_refused_self_service_sign_in_keeps_its_failure_row(client, clock):
    known = known_referral()
    db.session.commit()
    response = sign_in(client, known, pin="000000" if known.pin != "000000" else "111111")
    assert response.status_code == 200
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(RefusedAttempt).where(
        RefusedAttempt.kind == "self_service")) == 1


def test_a_read_only_api_call_keeps_the_tokens_last_use(client):
    token = create_token(create_user("manager"))
    db.session.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    db.session.remove()
    assert db.session.scalar(select(ApiToken.last_used_at)) is not None
