"""Helpers shared by every feature's forms."""

from __future__ import annotations

from flask_wtf import FlaskForm

from diversion.errors import ValidationFailed


def attach_errors(form: FlaskForm, error: ValidationFailed, *, fallback: str | None = None) -> None:
    """Put a service's field errors onto the form, so the page shows them beside the fields."""
    for name, message in error.errors.items():
        field = getattr(form, name, None)
        if field is None and fallback is not None:
            field = getattr(form, fallback, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors or []), message]
        else:
            form.form_errors.append(message)
