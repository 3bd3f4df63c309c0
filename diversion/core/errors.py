"""Domain errors raised by services; views and the API map them to HTTP in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused the request. `field` names the input it concerns, if any."""

    status = 422
    title = "Unprocessable request"

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class ValidationFailed(DomainError):
    """Input that cannot be accepted as given. `errors` maps a field to its message."""

    def __init__(self, errors: dict[str, str], message: str = "There is a problem") -> None:
        super().__init__(message)
        self.errors = errors


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class InvalidTransition(Conflict):
    """The referral's current state does not allow the requested move."""
