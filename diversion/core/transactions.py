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
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, Response
from flask.signals import request_started

from diversion.core.extensions import db


class TransactionalFlask(Flask):
    """Flask with the request transaction rule above in `full_dispatch_request`."""

    def full_dispatch_request(self) -> Response:
        # Flask's own method, with the commit and the rollback added.
        self._got_first_request = True
        try:
            request_started.send(self, _async_wrapper=self.ensure_sync)
            rv = self.preprocess_request()
            if rv is None:
                rv = self.dispatch_request()
            # Before make_response and the after_request hooks: a failed commit is a 500.
            # A streamed body (a generator) runs after this; it only reads.
            db.session.commit()
        except Exception as error:
            db.session.rollback()
            rv = self.handle_user_exception(error)
        return self.finalize_request(rv)


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
