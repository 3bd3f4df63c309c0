"""Who the self-service request is for: the person session behind the cookie, and its referral.

`person_required` lets a view through only with a live person session and makes its referral
`current_referral()`; every self-service page module (views, paying) uses these two.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, flash, g, redirect, session, url_for

from diversion.core.timeutils import now_utc
from diversion.referrals.models import Referral
from diversion.selfservice import services

PERSON_TOKEN = "person_token"  # noqa: S105 (the session key that holds the token, not a secret)
F = TypeVar("F", bound=Callable[..., Any])


def limits() -> services.Limits:
    """The self-service limits; tests and deployments may override them in the app config."""
    return current_app.config.get("SELF_SERVICE_LIMITS") or services.Limits()


def signed_in_referral() -> Referral | None:
    """The referral of the live person session in this request's cookie, if there is one."""
    found = services.person_session_for(session.get(PERSON_TOKEN), now=now_utc(), limits=limits())
    return found.referral if found is not None else None


def person_required(view: F) -> F:
    """Let the request through only with a live person session; `current_referral()` is its
    referral."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = session.get(PERSON_TOKEN)
        found = services.person_session_for(token, now=now_utc(), limits=limits())
        if found is None:
            # The expired session's row is deleted: a return commits that.
            if token:
                session.pop(PERSON_TOKEN, None)
                flash("Your session ended because you were away for a while. "
                      "Enter your details again to continue", "info")
            return redirect(url_for("selfservice.start"))
        g.referral = found.referral
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def current_referral() -> Referral:
    """The signed-in person's referral, inside a `person_required` view."""
    referral: Referral = g.referral
    return referral
