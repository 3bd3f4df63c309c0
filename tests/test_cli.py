"""The command line, through Flask's CLI runner."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.auth.models import ApiToken, Force, Role, User
from diversion.auth.services import hash_token
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.demo import DEMO_PASSWORD, DEMO_USERS
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.services import enqueue
from tests.builders import create_force, create_user

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

PASSWORD = "a long enough cli password"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_users_create_reads_the_password_from_standard_input(runner, client):
    create_force("WYP", "West Yorkshire Police")
    db.session.commit()
    result = runner.invoke(args=["users", "create", "--email", "Officer@WYP.example",
                                 "--name", "PC Officer", "--role", "police", "--force", "wyp"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created police officer@wyp.example" in result.output
    user = db.session.scalar(select(User).where(User.email == "officer@wyp.example"))
    assert user.role is Role.POLICE and user.force.code == "WYP"
    assert PASSWORD not in user.password_hash
    signed_in = client.post("/sign-in", data={"email": "officer@wyp.example", "password": PASSWORD})
    assert signed_in.status_code == 302


def test_users_create_refuses_a_weak_password_and_writes_nothing(runner):
    result = runner.invoke(args=["users", "create", "--email", "weak@example.test", "--name", "W",
                                 "--role", "manager"], input="password\n")
    assert result.exit_code == 1
    assert "password: Password must be 12 characters or more" in result.output
    assert _count(User) == 0


def test_users_create_refuses_an_unknown_force_and_a_police_user_without_one(runner):
    unknown = runner.invoke(args=["users", "create", "--email", "a@example.test", "--name", "A",
                                  "--role", "police", "--force", "NOPE"], input=PASSWORD + "\n")
    assert unknown.exit_code == 1 and "no force with code NOPE" in unknown.output
    missing = runner.invoke(args=["users", "create", "--email", "a@example.test", "--name", "A",
                                  "--role", "police"], input=PASSWORD + "\n")
    assert missing.exit_code == 1 and "force:" in missing.output
    assert _count(User) == 0


def test_users_create_refuses_an_unknown_role(runner):
    result = runner.invoke(args=["users", "create", "--email", "a@example.test", "--name", "A",
                                 "--role", "superuser"], input=PASSWORD + "\n")
    assert result.exit_code == 2
    assert _count(User) == 0


def test_forces_create_adds_a_force_once(runner):
    result = runner.invoke(args=["forces", "create", "--code", "nyp", "--name", "North Yorkshire"])
    assert result.exit_code == 0 and "created force NYP" in result.output
    again = runner.invoke(args=["forces", "create", "--code", "NYP", "--name", "Again"])
    assert again.exit_code == 1 and "already exists" in again.output
    assert _count(Force) == 1


def test_tokens_create_prints_a_working_token_that_is_stored_hashed(runner, client):
    user = create_user("manager")
    db.session.commit()
    result = runner.invoke(args=["tokens", "create", "--email", user.email])
    assert result.exit_code == 0, result.output
    clear = result.output.strip()
    assert clear.startswith("dvn_")
    stored = db.session.scalar(select(ApiToken))
    assert stored.token_hash == hash_token(clear)
    assert clear not in (stored.token_hash, stored.prefix)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {clear}"})
    assert response.status_code == 200 and response.json["email"] == user.email


def test_tokens_create_can_give_the_token_an_expiry_and_refuses_a_silly_one(runner):
    user = create_user("manager")
    db.session.commit()
    result = runner.invoke(args=["tokens", "create", "--email", user.email,
                                 "--expires-in-days", "7"])
    assert result.exit_code == 0, result.output
    stored = db.session.scalar(select(ApiToken))
    assert stored.expires_at - stored.created_at == dt.timedelta(days=7)
    for silly in ("0", "-3", "100000", "soon"):
        refused = runner.invoke(args=["tokens", "create", "--email", user.email,
                                      "--expires-in-days", silly])
        assert refused.exit_code == 2 and "--expires-in-days" in refused.output
    assert _count(ApiToken) == 1


def test_tokens_create_for_an_unknown_email_fails(runner):
    result = runner.invoke(args=["tokens", "create", "--email", "nobody@example.test"])
    assert result.exit_code == 1
    assert _count(ApiToken) == 0


def test_demo_load_twice_changes_nothing_and_prints_the_logins(runner, client):
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    counts = (_count(User), _count(Force), _count(AuditEvent))
    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0
    assert (_count(User), _count(Force), _count(AuditEvent)) == counts
    for output in (first.output, second.output):
        assert DEMO_PASSWORD in output
        for _role, email, _name in DEMO_USERS:
            assert email in output
    assert counts[0] == len(DEMO_USERS)
    signed_in = client.post("/sign-in", data={"email": DEMO_USERS[0][1], "password": DEMO_PASSWORD})
    assert signed_in.status_code == 302


def test_stats_prints_json_counts(runner):
    create_user("police")
    create_user("manager")
    db.session.commit()
    result = runner.invoke(args=["stats"])
    assert result.exit_code == 0
    stats = json.loads(result.output)
    assert stats["forces"] == 1
    assert stats["users"]["police"] == 1 and stats["users"]["manager"] == 1
    assert stats["messages"]["pending"] == 0


def test_scheduler_run_once_dispatch_sends_a_due_message_through_the_log_channel(runner, app):
    now = now_utc()
    message = enqueue(dedupe_key="cli-dispatch", channel=Channel.EMAIL,
                      recipient="person@example.test", template="test_message",
                      due_at=now - dt.timedelta(minutes=1), now=now, context={"note": "hello"})
    db.session.commit()
    message_id = message.id
    result = runner.invoke(args=["scheduler", "run-once", "dispatch"])
    assert result.exit_code == 0, result.output
    assert "dispatch:" in result.output
    sent = db.session.get(OutboxMessage, message_id)
    db.session.refresh(sent)
    assert sent.status is MessageStatus.SENT
    assert sent.attempts == 1 and sent.sent_at is not None
    assert sent.provider_reference == f"log-{message_id}"


def test_scheduler_run_once_refuses_an_unknown_job(runner):
    result = runner.invoke(args=["scheduler", "run-once", "nosuchjob"])
    assert result.exit_code == 2
    assert "unknown job: nosuchjob" in result.output


@pytest.mark.parametrize("args", [
    ["forces", "create", "--code", "X" * 40, "--name", "Somewhere"],
    ["forces", "create", "--code", "NEW", "--name", "Line one\nline two"],
    ["forces", "create", "--code", "NEW", "--name", "Bell\x07"],
    ["users", "create", "--email", "x@example.com", "--name", "A\r\nB", "--role", "manager"],
    ["users", "create", "--email", "x\n@example.com", "--name", "A B", "--role", "manager"],
    ["tokens", "create", "--email", "\x00"],
    ["reports", "reoffending", "--from", "2024-01-01", "--to", "9999-12-31", "--format", "json"],
    ["reports", "attendance", "--from", "9" * 40, "--to", "2024-12-31", "--format", "csv"],
    ["reports", "outcomes", "--from", "2024-01-01", "--to", "2024-12-31", "--as-of",
     "31/12/9999", "--format", "json"],
    ["referrals", "import", "/nonexistent/file.csv"],
    ["reoffences", "import", "/nonexistent/file.csv"],
    ["scheduler", "run-once", "x" * 500],
])
def test_hostile_arguments_get_a_message_and_an_exit_status_never_a_traceback(runner, args):
    result = runner.invoke(args=args, input=PASSWORD + "\n")
    assert result.exit_code != 0
    # A refusal is SystemExit (click's usage errors and our sys.exit(1)); anything else escaped.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.output.strip(), "the refusal says why"
    assert _count(Force) == 0 and _count(User) == 0


@pytest.mark.parametrize("args", [
    ["users", "create", "--email", "x@example.com", "--name", "A B", "--role", "police",
     "--force", "W\x00YP"],
    ["tokens", "create", "--email", "someone\x00@example.com"],
])
def test_a_nul_in_an_argument_finds_nothing_rather_than_failing_in_the_database(runner, args):
    result = runner.invoke(args=args, input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "no " in result.output
