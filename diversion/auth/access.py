"""Deny by default: every endpoint declares who may use it, and one hook enforces it.

    @bp.get("/referrals")
    @roles(Role.POLICE, Role.MANAGER)
    def list_referrals(): ...

An endpoint with no declaration is refused for everyone, and tests/test_access.py fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, request

from diversion.auth.models import Role, User
from diversion.core.web import PUBLIC_BUILTIN_ENDPOINTS

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_ATTRIBUTE = "access_rule"


@dataclass(frozen=True)
class AccessRule:
    is_public: bool
    roles: frozenset[Role]

    def allows(self, user: User | None) -> bool:
        if self.is_public:
            return True
        return user is not None and user.is_active and user.role in self.roles


def public(view: F) -> F:
    """Anyone may use this endpoint, signed in or not."""
    setattr(view, ACCESS_ATTRIBUTE, AccessRule(is_public=True, roles=frozenset()))
    return view


def roles(*allowed: Role) -> Callable[[F], F]:
    """Only signed-in users with one of these roles may use this endpoint."""
    if not allowed:
        raise ValueError("name at least one role, or use @public")

    def decorate(view: F) -> F:
        setattr(view, ACCESS_ATTRIBUTE, AccessRule(is_public=False, roles=frozenset(allowed)))
        return view

    return decorate


ALL_STAFF = (Role.POLICE, Role.FACILITATOR, Role.MANAGER, Role.ADMIN)


def access_rule_for(app: Flask, endpoint: str | None) -> AccessRule | None:
    """The declared rule of an endpoint, or None when it declares nothing (and is refused)."""
    if endpoint is None:
        return None
    if endpoint in PUBLIC_BUILTIN_ENDPOINTS:
        return AccessRule(is_public=True, roles=frozenset())
    view = app.view_functions.get(endpoint)
    return getattr(view, ACCESS_ATTRIBUTE, None)


def acting_user() -> User:
    """The user a request to a `@roles` endpoint acts as: the token's owner or the signed-in
    user. The access hook guarantees one there; public endpoints use current_actor()."""
    user = current_actor()
    if user is None:
        raise RuntimeError("acting_user() needs an endpoint declared with @roles")
    return user


def current_actor() -> User | None:
    """The user behind this request: the API token's owner, or the signed-in user."""
    actor: User | None = g.get("actor")
    return actor


def init_app(app: Flask, *, web_user: Callable[[], User | None],
             api_user: Callable[[], User | None],
             on_anonymous: Callable[[], Any]) -> None:
    """Install the hook that checks every request against its endpoint's rule."""

    @app.before_request
    def enforce_access() -> Any:
        is_api = request.blueprint == "api" or request.path.startswith("/api/")
        user = api_user() if is_api else web_user()
        g.actor = user  # set even for 404s, so error pages show the right navigation
        if request.endpoint is None:
            return None  # 404 or 405: Flask answers those itself
        rule = access_rule_for(current_app, request.endpoint)
        if rule is None:
            current_app.logger.error("endpoint %s declares no access rule", request.endpoint)
            abort(403)
        if rule.allows(user):
            return None
        if user is None:
            return on_anonymous()
        abort(403)
        return None
