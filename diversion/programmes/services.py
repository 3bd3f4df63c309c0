"""Programme settings: reading and changing them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import func, select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.core.errors import Conflict, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.programmes.models import DEFAULT_OFFENCE_CODES, Programme

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,15}$")
_OFFENCE = re.compile(r"^[A-Z0-9][A-Z0-9./-]{0,31}$")


@dataclass
class ProgrammeSettings:
    """Everything an administrator can set on a programme."""

    code: str
    name: str
    eligible_offence_codes: list[str] = field(default_factory=lambda: list(DEFAULT_OFFENCE_CODES))
    booking_deadline_days: int = 28
    completion_deadline_months: int = 4
    fee_pence: int = 20000
    transfer_limit: int = 2
    late_cutoff_minutes: int = 15
    grace_days: int = 3
    duration_minutes: int = 420
    default_capacity: int = 20
    retention_months: int = 72
    referral_warning_days: int = 28
    repeat_window_months: int = 36


# field: (lowest, highest, message)
_LIMITS: dict[str, tuple[int, int, str]] = {
    "booking_deadline_days": (1, 365, "Enter a booking deadline between 1 and 365 days"),
    "completion_deadline_months": (1, 36, "Enter a completion deadline between 1 and 36 months"),
    "fee_pence": (0, 100_000_00, "Enter a fee between £0 and £100,000"),
    "transfer_limit": (0, 20, "Enter a transfer limit between 0 and 20"),
    "late_cutoff_minutes": (0, 240, "Enter a late cut-off between 0 and 240 minutes"),
    "grace_days": (0, 60, "Enter a grace window between 0 and 60 days"),
    "duration_minutes": (30, 1440, "Enter a duration between 30 and 1440 minutes"),
    "default_capacity": (1, 500, "Enter a default capacity between 1 and 500 places"),
    "retention_months": (12, 240, "Enter a retention period between 12 and 240 months"),
    "referral_warning_days": (0, 365, "Enter a referral warning between 0 and 365 days"),
    "repeat_window_months": (0, 120, "Enter a repeat window between 0 and 120 months"),
}


def parse_offence_codes(text: str) -> list[str]:
    """Offence codes typed one a line or separated by commas, upper case, without repeats."""
    codes = []
    for part in re.split(r"[\s,;]+", text or ""):
        code = part.strip().upper()
        if code and code not in codes:
            codes.append(code)
    return codes


def _check(settings: ProgrammeSettings, *, programme_id: int | None) -> ProgrammeSettings:
    errors: dict[str, str] = {}
    settings.code = (settings.code or "").strip().upper()
    settings.name = (settings.name or "").strip()
    if not _CODE.match(settings.code):
        errors["code"] = "Enter a code of up to 16 letters, numbers and hyphens, like KCRC"
    if not settings.name or len(settings.name) > 200:
        errors["name"] = "Enter the programme's name (up to 200 characters)"
    codes = [c.strip().upper() for c in settings.eligible_offence_codes if c.strip()]
    if not codes:
        errors["eligible_offence_codes"] = "Enter at least one offence code the programme accepts"
    elif bad := [c for c in codes if not _OFFENCE.match(c)]:
        errors["eligible_offence_codes"] = f"These are not offence codes: {', '.join(bad)}"
    settings.eligible_offence_codes = codes
    for name, (low, high, message) in _LIMITS.items():
        value = getattr(settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[name] = message
    if errors:
        raise ValidationFailed(errors)
    other = get_programme_by_code(settings.code)
    if other is not None and other.id != programme_id:
        raise Conflict(f"A programme with code {settings.code} already exists", field="code")
    return settings


def _values(settings: ProgrammeSettings) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in fields(settings)}


def create_programme(*, settings: ProgrammeSettings, actor: Any, now: dt.datetime) -> Programme:
    """Add a programme."""
    settings = _check(settings, programme_id=None)
    programme = Programme(**_values(settings))
    db.session.add(programme)
    db.session.flush()
    record(action="programme.create", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="programme", object_id=programme.id, details={"code": programme.code})
    return programme


def update_programme(*, programme: Programme, settings: ProgrammeSettings, actor: Any,
                     now: dt.datetime) -> Programme:
    """Change a programme's settings; the audit row names the settings changed."""
    settings = _check(settings, programme_id=programme.id)
    changed = {}
    for name, value in _values(settings).items():
        old = getattr(programme, name)
        if old != value:
            changed[name] = {"from": old, "to": value}
            setattr(programme, name, value)
    if changed:
        record(action="programme.update", category=AuditCategory.ALTERATION, now=now,
               actor=actor, object_type="programme", object_id=programme.id,
               details={"changed": changed})
    return programme


def settings_of(programme: Programme) -> ProgrammeSettings:
    return ProgrammeSettings(**{f.name: getattr(programme, f.name)
                                for f in fields(ProgrammeSettings)})


def get_programme(programme_id: int) -> Programme:
    programme = db.session.get(Programme, programme_id)
    if programme is None:
        raise NotFound("No such programme")
    return programme


def get_programme_by_code(code: str) -> Programme | None:
    return db.session.scalar(select(Programme).where(Programme.code == (code or "").strip().upper()))


def list_programmes() -> list[Programme]:
    return list(db.session.scalars(select(Programme).order_by(Programme.name)))


def programme_names() -> list[tuple[int, str]]:
    """Every programme's id and name, by name: plain rows for a list's choices (cheaper than
    building the Programme objects a page would not use)."""
    return [(pid, name) for pid, name in db.session.execute(_PROGRAMME_NAMES)]


_PROGRAMME_NAMES = select(Programme.id, Programme.name).order_by(Programme.name)


def count_programmes() -> int:
    return db.session.scalar(select(func.count()).select_from(Programme)) or 0
