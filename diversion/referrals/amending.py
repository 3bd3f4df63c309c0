"""Changing a referral already made: withdrawing the offer, reissuing the PIN.

- `withdraw_referral(reference=, reason=, actor=, now=) -> Referral` (police own force, manager;
  InvalidTransition (409) when already ended).
- `reissue_pin(reference=, actor=, now=) -> (Referral, pin)`: the old PIN stops working.
Status changes go through `diversion.referrals.lifecycle.transition`.
"""

from __future__ import annotations

import datetime as dt

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Role, User
from diversion.auth.passwords import hash_password
from diversion.core.errors import Conflict, Forbidden, ValidationFailed
from diversion.referrals import lifecycle
from diversion.referrals.models import Referral
from diversion.referrals.pins import new_pin
from diversion.referrals.reading import get_scoped_referral


def _check_can_change(actor: User) -> None:
    if actor.role not in (Role.POLICE, Role.MANAGER):
        raise Forbidden("Only police officers and programme managers can change referrals")


def withdraw_referral(*, reference: str, reason: str, actor: User, now: dt.datetime) -> Referral:
    """Withdraw the offer of a diversion; the reason is kept in the history."""
    referral = get_scoped_referral(reference, actor)
    _check_can_change(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Enter why the offer is being withdrawn"})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "Enter a reason of up to 1000 characters"})
    lifecycle.transition(referral, lifecycle.E.WITHDRAWN, actor=actor, now=now, reason=reason)
    return referral


def reissue_pin(*, reference: str, actor: User, now: dt.datetime) -> tuple[Referral, str]:
    """A new PIN for the person's self-service page; the old one stops working at once."""
    referral = get_scoped_referral(reference, actor)
    _check_can_change(actor)
    if referral.status.is_terminal:
        raise Conflict("This referral has ended, so it has no PIN to reissue")
    pin = new_pin()
    referral.pin_hash = hash_password(pin)
    referral.pin_issued_at = now
    record(action="referral.pin_reissue", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id)
    return referral, pin
