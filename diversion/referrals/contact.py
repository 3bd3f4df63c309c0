"""Correcting the person's email address, mobile number and the way to contact him.

A message stores its address when it is queued, so a correction also sends his pending
messages to the new address, and a failed message sent again goes where he can be reached now.

- `changeable_referral(reference, actor) -> Referral`: scoped (police their force's, managers
  all; NotFound otherwise), Forbidden for other roles, Conflict once his details were erased
  or, for police, while he has a referral of another force (`contact_change_refusal`).
- `record_contact_view(referral=, actor=, now=)`: the audit row `person.contact_view` of the
  form's read.
- `change_contact_details(reference=, email=, mobile=, preferred_contact=, shown=, actor=,
  now=) -> ContactChange`: `shown` is `shown_version(person)` as the page showed it (Conflict
  when the details changed since); checked as intake checks them (every problem in one
  round, ValidationFailed keyed "email", "mobile", "preferred_contact"); his pending messages
  readdressed, or cancelled when no address is left; audited `person.contact_change` with
  the names of the fields changed, never their values.
- `recipient_for_referral(referral_id, template) -> (Channel, address) | None`: where a copy of
  a message about the referral goes now (outbox.services.add_current_recipient).
- `failed_messages_to_send_again(referral=, now=) -> int`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Role, User
from diversion.core.errors import Conflict, Forbidden, ValidationFailed
from diversion.core.extensions import db
from diversion.outbox import services as outbox
from diversion.outbox.models import OutboxMessage
from diversion.outbox.rules import choose_contact
from diversion.referrals import intake
from diversion.referrals.lifecycle import OFFICER_TEMPLATE
from diversion.referrals.models import ContactChannel, Person, Referral
from diversion.referrals.reading import get_scoped_referral

CONTACT_FIELDS = ("email", "mobile", "preferred_contact")
NO_POSTAL_ADDRESS = ("There is no postal address on record for the person: choose email or "
                     "text message")


@dataclass(frozen=True)
class ContactChange:
    """What a correction did: the fields changed (in CONTACT_FIELDS order) and how many of
    his pending messages now go to the new address."""

    referral: Referral
    changed: tuple[str, ...]
    readdressed: int
    cancelled: int  # pending messages he can no longer be sent (no email or mobile left)


# Worded so as not to tell an officer that another force has referred the person.
OTHER_FORCE = "Only the programme team can change this person's contact details"


def changeable_referral(reference: str, actor: User) -> Referral:
    """The referral whose person's contact details the actor may change (without recording
    a read)."""
    referral = get_scoped_referral(reference, actor)
    if actor.role not in (Role.POLICE, Role.MANAGER):
        raise Forbidden("Only police officers and programme managers can change contact details")
    refusal = contact_change_refusal(referral, actor)
    if refusal is not None:
        raise Conflict(refusal)
    return referral


def contact_change_refusal(referral: Referral, actor: User) -> str | None:
    """Why the actor may not change the contact details of this referral's person, or None.
    One person's record serves every referral of him, whichever force made it (his messages
    about all of them go to it), so an officer may change it only while every referral of
    him is his own force's; the programme team (managers) always may."""
    if referral.person.erased_at is not None:
        return "The person's details were erased, so they cannot be changed"
    if actor.role is Role.POLICE and db.session.scalar(
            select(Referral.id).where(Referral.person_id == referral.person_id,
                                      Referral.force_id != actor.force_id).limit(1)) is not None:
        return OTHER_FORCE
    return None


def record_contact_view(*, referral: Referral, actor: User, now: dt.datetime) -> None:
    """The actor was shown the person's contact details to change them: a consultation."""
    record(action="person.contact_view", category=AuditCategory.CONSULTATION, now=now,
           actor=actor, object_type="person", object_id=referral.person_id,
           details={"referral_id": referral.id})


@dataclass(frozen=True)
class ContactDetails:
    """His contact details, checked and in their normal forms."""

    email: str | None
    mobile: str | None
    preferred_contact: ContactChannel


def check_contact_details(*, person: Person, email: str | None, mobile: str | None,
                          preferred_contact: str | None) -> ContactDetails:
    """The new details in their normal forms, checked by intake's own checks; ValidationFailed
    with every problem. Post needs the address on record (not changed here)."""
    errors: dict[str, str] = {}
    normal = intake.check_contact_addresses(email=email, mobile=mobile, errors=errors)
    channel = intake.check_preferred_contact(
        preferred_contact, email=normal.get("email"), mobile=normal.get("mobile"),
        has_postal_address=bool(person.address_line_1 and person.postcode), errors=errors)
    if errors.pop("address_line_1", None):
        errors["preferred_contact"] = NO_POSTAL_ADDRESS
    if errors:
        raise ValidationFailed(errors)
    return ContactDetails(email=normal.get("email"), mobile=normal.get("mobile"),
                          preferred_contact=ContactChannel(channel))


def _about_person(person_id: int) -> ColumnElement[bool]:
    """Messages about any of his referrals or their bookings, except the officer's notices."""
    referral_ids = list(db.session.scalars(
        select(Referral.id).where(Referral.person_id == person_id).order_by(Referral.id)))
    return and_(or_(*[outbox.about_subject("referral", rid) for rid in referral_ids]),
                OutboxMessage.template != OFFICER_TEMPLATE)


def _target(email: str | None, mobile: str | None,
            preferred: ContactChannel | str) -> outbox.Recipient | None:
    return choose_contact(preferred=str(preferred), email=email, mobile=mobile)


def shown_version(person: Person) -> str:
    """A short mark of his contact details as a page shows them: the form carries it, so a
    correction made from a page opened before someone else's is refused, not saved over it."""
    text = f"{person.email or ''}\n{person.mobile or ''}\n{person.preferred_contact}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


CHANGED_SINCE = ("The contact details were changed by someone else after you opened this page. "
                 "Check them and make your change again")


def change_contact_details(*, reference: str, email: str | None, mobile: str | None,
                           preferred_contact: str | None, shown: str | None, actor: User,
                           now: dt.datetime) -> ContactChange:
    """Correct his email address, mobile number and way of contact, as they were `shown`
    (`shown_version`; Conflict when they have changed since). His pending messages all go
    where a message queued now would go, or are cancelled when none can be sent (no email
    address or mobile number left)."""
    referral = changeable_referral(reference, actor)
    # The row locked (PostgreSQL; a SQLite write request holds the database's write lock), and
    # read again: two corrections at once are made one after the other, the second refused.
    person = db.session.scalars(
        select(Person).where(Person.id == referral.person_id).with_for_update(of=Person)
        .execution_options(populate_existing=True)).one()
    if shown != shown_version(person):
        raise Conflict(CHANGED_SINCE)
    new = check_contact_details(person=person, email=email, mobile=mobile,
                                preferred_contact=preferred_contact)
    old = ContactDetails(email=person.email, mobile=person.mobile,
                         preferred_contact=person.preferred_contact)
    changed = tuple(name for name in CONTACT_FIELDS if getattr(old, name) != getattr(new, name))
    if not changed:
        return ContactChange(referral=referral, changed=(), readdressed=0, cancelled=0)
    person.email, person.mobile = new.email, new.mobile
    person.preferred_contact = new.preferred_contact
    person.updated_at = now
    target = _target(person.email, person.mobile, person.preferred_contact)
    moved = outbox.readdress_pending(about=_about_person(person.id), new=target)
    readdressed, cancelled = (moved, 0) if target is not None else (0, moved)
    record(action="person.contact_change", category=AuditCategory.ALTERATION, now=now,
           actor=actor, object_type="person", object_id=person.id,
           details={"changed": list(changed), "referral_id": referral.id,
                    "pending_readdressed": readdressed, "pending_cancelled": cancelled})
    db.session.flush()
    return ContactChange(referral=referral, changed=changed, readdressed=readdressed,
                         cancelled=cancelled)


def recipient_for_referral(referral_id: int, template: str) -> outbox.Recipient | None:
    """Where a copy of a message about this referral goes now: the person's current address
    (as `choose_contact` picks it); None for the officer's notice, which keeps its address.
    Conflict when he has neither an email address nor a mobile number now."""
    if template == OFFICER_TEMPLATE:
        return None
    person = db.session.scalar(select(Person).join(Referral, Referral.person_id == Person.id)
                               .where(Referral.id == referral_id))
    if person is None:
        return None
    target = _target(person.email, person.mobile, person.preferred_contact)
    if target is None:
        raise Conflict("There is no email address or mobile number for the person now, so "
                       "the message cannot be sent again: add one to their contact details first")
    return target


def current_recipient_of_message(message: OutboxMessage) -> outbox.Recipient | None:
    """outbox.services.add_current_recipient for messages about a referral."""
    subject_id = message.subject_id or ""
    if not subject_id.isdigit() or len(subject_id) > 18:
        return None
    return recipient_for_referral(int(subject_id), message.template)


def failed_messages_to_send_again(*, referral: Referral, now: dt.datetime) -> int:
    """How many failed messages to this referral's person, about it or its bookings, could be
    sent again (what its messages list, filtered to failures, offers to send again)."""
    return outbox.count_failed_to_send_again(about=and_(
        outbox.about_subject("referral", referral.id),
        OutboxMessage.template != OFFICER_TEMPLATE), now=now)
