"""One database transaction per request, committed or rolled back in one place.

The rule (after Indico's `indico/web/rh.py`), for every web page and API call alike:

- The request's handling — the `before_request` checks and the view — *returns* a response
  (a page, a redirect, JSON, a download, or an error page the view renders itself): the
  session is committed before the response is finalised, so a commit that fails becomes a 500
  answer, never a write lost after the answer went out.
- It *raises* — a `DomainError` (turned into a 4xx page or problem+json by the error
  handlers), an `HTTPException` such as `abort(404)`, a CSRF failure, or anything unexpected
  (a 500) — the session is rolled back before the error handler builds the answer.

So handlers never call `db.session.commit()` or `rollback()`. Services never commit either.
The CLI commands and scheduler jobs (`core.jobs.run_job`) keep their own single commit.

Writes that must outlive a refusal (a failed sign-in's count and audit row, a self-service
PIN attempt) are kept by a handler that *catches* the refusal and renders the answer itself:
a return commits. A handler that catches a `DomainError` only to show it on its form wraps the
service call in `savepoint()`, so that what the service wrote before refusing is undone while
the rest of the request (and its commit) goes on. A preview that runs a service for its result
only wraps it in `discarded()`.

On SQLite a request with a safe method (GET, HEAD, OPTIONS) reads in a deferred transaction
(core.db): it sees a WAL snapshot and neither waits for nor holds the write lock. What such a
page must write all the same — the audit row of a read of personal data — goes through
`add_after_read`: the row is written once the page's reads are committed, and only if the
handling returned (as before: a refused page leaves no row), by core.readspool: at once in a
short transaction of its own if the write lock is free this instant, else into the audit spool
beside the database (its own lock), folded into the table by a background thread as soon as
the writer commits — the page never waits for the writer, and the row is on disk before the
page is sent. A safe-method request that writes anything else upgrades its transaction in
place; if SQLite refuses that because another connection holds the write lock, its handling is
rolled back and run once more with the write lock from the start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, has_request_context, request
from flask.signals import request_started
from sqlalchemy.exc import OperationalError

from diversion.core.db import is_lock_refused, is_read_request, take_write_lock
from diversion.core.extensions import db
from diversion.core.readspool import write_after_read

_AFTER_READ_KEY = "diversion.after_read"


class TransactionalFlask(Flask):
    """Flask with the request transaction rule above in `full_dispatch_request`."""

    def log_exception(self, exc_info: Any) -> None:
        """As Flask's, naming the route's rule instead of the path: a path may carry a
        credential (a calendar feed's or a password-reset link's token) or a reference, and
        personal data and secrets never go in logs. `Exception on /calendar/<token>.ics [GET]`."""
        rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
        self.logger.error("Exception on %s [%s]", rule, request.method, exc_info=exc_info)

    def full_dispatch_request(self) -> Response:
        # Flask's own method, with the commit and the rollback added.
        self._got_first_request = True
        try:
            request_started.send(self, _async_wrapper=self.ensure_sync)
            try:
                rv = self._handle_and_commit()
            except OperationalError as error:
                # A reading request that wrote, refused the upgrade to the write lock: once
                # more, holding the lock from the start (a safe method may be repeated).
                if not (is_read_request() and is_lock_refused(error)):
                    raise
                db.session.rollback()
                take_write_lock()
                rv = self._handle_and_commit()
        except Exception as error:
            db.session.rollback()
            rv = self.handle_user_exception(error)
        return self.finalize_request(rv)

    def _handle_and_commit(self) -> Any:
        request.environ[_AFTER_READ_KEY] = []
        rv = self.preprocess_request()
        if rv is None:
            rv = self.dispatch_request()
        # Before make_response and the after_request hooks: a failed commit is a 500.
        # A streamed body (a generator) runs after this; it only reads.
        db.session.commit()
        pending = request.environ.pop(_AFTER_READ_KEY, [])
        if pending:
            write_after_read(pending)  # never waits for a writer: core.readspool
        return rv


def add_after_read(row: Any) -> None:
    """Add a row to the request's transaction; in a reading request on SQLite, write it once the
    page's reads are committed, without waiting for the write lock (see the module's text)."""
    pending = request.environ.get(_AFTER_READ_KEY) if has_request_context() else None
    if pending is not None and is_read_request() and db.engine.dialect.name == "sqlite":
        pending.append(row)
    else:
        db.session.add(row)


@contextmanager
def savepoint() -> Iterator[None]:
    """Undo what the block wrote if it raises (then re-raise); keep it if it does not. For a
    handler that catches a service's refusal to show it on the page it returns."""
    with db.session.begin_nested():
        yield


@contextmanager
def discarded() -> Iterator[None]:
    """Run the block for its result and undo whatever it wrote, whether it raises or not: a
    dry run, a preview."""
    nested = db.session.begin_nested()
    try:
        yield
    finally:
        if nested.is_active:
            nested.rollback()
