"""Concurrent guesses cannot pass the sign-in guards' limits: several processes (each its own
app, engine and connections, as web workers are) and several threads guess at once, on
whichever database the suite runs on (SQLite, and PostgreSQL in the PostgreSQL run)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from diversion.auth import guards, services
from diversion.auth.models import SignInGuard
from diversion.auth.throttle import Throttled
from diversion.core.extensions import db
from tests.builders import NOW, create_user
from tests.conftest import make_app

WRONG = "not the right password at all"
PROCESSES = 3
ATTEMPTS_EACH = 3
LIMITS = services.SignInLimits(
    delay=guards.DelayRule(free_failures=5,
                                    max_delay=dt.timedelta(minutes=15)),
    max_per_address=6,
    address_window=dt.timedelta(hours=1),
)


def _attempt(email: str, address: str) -> str:
    """One wrong guess, committed as a request would be: "checked" or "refused"."""
    try:
        services.authenticate(email=email, password=WRONG, address=address, now=NOW,
                              limits=LIMITS)
    except services.SignInRefused:
        outcome = "checked"
    except Throttled:
        outcome = "refused"
    db.session.commit()
    return outcome


def _guess_in_a_process(database_url: str, instance: str, emails: list[str],
                        addresses: list[str], barrier, results) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database_url, Path(instance))
    with app.app_context():
        db.session.execute(select(1))  # connect before the start
        db.session.rollback()
        barrier.wait(timeout=60)
        for email, address in zip(emails, addresses, strict=True):
            results.put(_attempt(email, address))
        db.session.remove()
        db.engine.dispose()


def _run_processes(database_url: str, instance: Path,
                   work: list[tuple[list[str], list[str]]]) -> Counter[str]:
    # Forked: each child builds its own app, engine and connections; those it inherits are never
    # used, and it ends with os._exit (multiprocessing), so they are not closed under the parent.
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(work))
    results = context.Queue()
    processes = [context.Process(target=_guess_in_a_process,
                                 args=(database_url, str(instance), emails, addresses, barrier,
                                       results))
                 for emails, addresses in work]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(sum(len(e) for e, _ in work))]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return Counter(outcomes)


def _guards_failures(scope: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.sum(SignInGuard.failures))
                             .where(SignInGuard.scope == scope)) or 0


def test_processes_guessing_at_one_account_at_once_get_five_checks_in_all(
        app, database_url, tmp_path):
    email = create_user("admin").email
    db.session.commit()
    db.session.remove()  # SQLite: no transaction of this test's may hold the writer's lock
    work = [([email] * ATTEMPTS_EACH, [f"198.51.100.{p}"] * ATTEMPTS_EACH)
            for p in range(PROCESSES)]
    outcomes = _run_processes(database_url, tmp_path, work)
    assert outcomes == Counter(checked=5, refused=PROCESSES * ATTEMPTS_EACH - 5)
    assert _guards_failures("account") == 5


def test_processes_guessing_from_one_address_at_once_get_its_limit_in_all(
        app, database_url, tmp_path):
    db.session.remove()
    work = [([f"guess{p}-{a}@example.test" for a in range(ATTEMPTS_EACH)],
             ["203.0.113.50"] * ATTEMPTS_EACH) for p in range(PROCESSES)]
    outcomes = _run_processes(database_url, tmp_path, work)
    assert outcomes == Counter(checked=6, refused=PROCESSES * ATTEMPTS_EACH - 6)
    assert _guards_failures("address") == 6


def test_threads_guessing_at_one_account_at_once_get_five_checks_in_all(app):
    email = create_user("manager").email
    db.session.commit()
    db.session.remove()
    outcomes: list[str] = []
    barrier = threading.Barrier(PROCESSES)

    def guess(worker: int) -> None:
        with app.app_context():
            barrier.wait(timeout=60)
            for _ in range(ATTEMPTS_EACH):
                outcomes.append(_attempt(email, f"192.0.2.{worker}"))
            db.session.remove()

    threads = [threading.Thread(target=guess, args=(worker,)) for worker in range(PROCESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(outcomes) == Counter(checked=5, refused=PROCESSES * ATTEMPTS_EACH - 5)
    assert _guards_failures("account") == 5

