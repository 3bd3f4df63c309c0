"""The completion certificate: a one-page PDF that says who completed which course, and when,
who ran it (DIVERSION_PROVIDER_NAME) and which police force referred him (its name), with a
verification code the court or the police can check.

It is discreet: it names the programme by a neutral title and never the offence, because the
person may have to show it to others.

- `ensure_certificate_code(referral, now=)` -> the referral's code, made once (on completion, by
  `follow_referral(s)`, or at the first certificate made for a referral completed before codes).
- `verify_certificate(code=, actor=, address=, now=)` -> `Verified`; `CodeNotRecognised` for a
  code that matches nothing this user may see (a police user sees only his force's referrals,
  and another force's code is answered exactly as a wrong one), `Throttled` after too many.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select

from diversion.attendance.models import CertificateCode
from diversion.attendance.outcomes import attended_entry
from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth import throttle
from diversion.auth.models import Role, User
from diversion.core.errors import DomainError
from diversion.core.extensions import db
from diversion.core.links import external_url
from diversion.core.pdf import render_pdf
from diversion.core.timeutils import london_today
from diversion.core.web import service_contact
from diversion.outbox.channels import Attachment
from diversion.referrals.lifecycle import Moved
from diversion.referrals.models import Referral, ReferralStatus

S = ReferralStatus

# 27 letters and digits no one misreads for another (no 0/O, 1/I/L, 2/Z, 5/S); 12 of them are
# 27**12, about 1.5 x 10**17 codes, so a guess that lands on a real one is hopeless, and the
# throttle below bounds how many guesses are possible at all.
CODE_ALPHABET = "346789ABCDEFGHJKMNPQRTUVWXY"
CODE_LENGTH = 12
# Wrong codes allowed per user and per address in the window before the page refuses more.
VERIFY_LIMIT = throttle.Throttle(kind=throttle.CERTIFICATE_VERIFY,
                                 window=dt.timedelta(minutes=15), max_per_key=10,
                                 max_per_address=30)
NOT_RECOGNISED = ("No certificate matches that code. Check it against the certificate: "
                  "it has 12 letters and numbers")
THROTTLED = "You have entered too many codes that match no certificate. Wait 15 minutes"


@dataclass(frozen=True)
class CertificateFacts:
    name: str
    reference: str
    course: str
    completed_on: dt.date
    provider: str
    force: str
    code: str

    @property
    def printed_code(self) -> str:
        """The code in groups of four, as printed: 7KQ4-MX9P-T3WD."""
        return "-".join(self.code[i:i + 4] for i in range(0, len(self.code), 4))


@dataclass(frozen=True)
class Verified:
    """What the verification page shows for a genuine code."""

    facts: CertificateFacts
    date_of_birth: dt.date
    referral: Referral


class NoCertificate(DomainError):
    status = 404
    title = "Not found"


class CodeNotRecognised(DomainError):
    status = 200  # the form is shown again with the message
    title = "Code not recognised"


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """The code as typed, without spaces or dashes, in capitals."""
    return "".join(c for c in text.upper() if c.isalnum())[:40]


def ensure_certificate_code(referral: Referral, *, now: dt.datetime) -> str:
    """The referral's verification code, made (and flushed) the first time it is asked for."""
    found = db.session.get(CertificateCode, referral.id)
    if found is not None:
        return found.code
    while True:
        code = _new_code()
        if db.session.scalar(select(CertificateCode.code).where(CertificateCode.code == code)):
            continue  # a collision is all but impossible; the unique key would refuse it anyway
        db.session.add(CertificateCode(referral_id=referral.id, code=code, issued_at=now))
        db.session.flush()
        return code


def follow_referral(moved: Moved) -> None:
    """A referral that completes gets its certificate's code at once."""
    if moved.to_status is S.COMPLETED:
        ensure_certificate_code(moved.referral, now=moved.now)


def follow_referrals(moves: Sequence[Moved]) -> None:
    """`follow_referral` for a batch (an import of completed records): the codes the batch
    lacks made with a few set queries, not two a referral."""
    completed = [m.referral.id for m in moves if m.to_status is S.COMPLETED]
    have: set[int] = set()
    for start in range(0, len(completed), 500):
        have.update(db.session.scalars(select(CertificateCode.referral_id).where(
            CertificateCode.referral_id.in_(completed[start:start + 500]))))
    wanted = list(dict.fromkeys(i for i in completed if i not in have))
    if not wanted:
        return
    now = moves[0].now
    codes: list[str] = []
    while len(codes) < len(wanted):
        fresh = list(dict.fromkeys(_new_code() for _ in range(len(wanted) - len(codes))))
        fresh = [code for code in fresh if code not in codes]
        for start in range(0, len(fresh), 500):
            part = fresh[start:start + 500]
            # A collision is all but impossible; the unique key would refuse it anyway.
            taken = set(db.session.scalars(select(CertificateCode.code).where(
                CertificateCode.code.in_(part))))
            codes.extend(code for code in part if code not in taken)
    db.session.execute(insert(cast(Table, CertificateCode.__table__)), [
        {"referral_id": referral_id, "code": code, "issued_at": now}
        for referral_id, code in zip(wanted, codes, strict=True)])


def certificate_facts(referral: Referral, *, now: dt.datetime) -> CertificateFacts:
    """What a completion certificate shows: nothing about the offence."""
    if referral.status is not S.COMPLETED:
        raise NoCertificate("There is a certificate only for a completed course")
    entry = attended_entry(referral)
    completed_on = (london_today(entry.register.session.starts_at) if entry is not None
                    else referral.closed_on or london_today(referral.created_at))
    return CertificateFacts(name=referral.person.full_name, reference=referral.reference,
                            course=f"Diversion course ({referral.programme.code})",
                            completed_on=completed_on, provider=service_contact()["provider"],
                            force=referral.force.name,
                            code=ensure_certificate_code(referral, now=now))


def verify_certificate(*, code: str, actor: User, address: str, now: dt.datetime) -> Verified:
    """Whether a code is on a genuine certificate this user may see; audited either way."""
    key = throttle.key_digest(f"user:{actor.id}")
    if throttle.is_throttled(VERIFY_LIMIT, key=key, address=address, now=now):
        record(action="certificate.verify_throttled", category=AuditCategory.SECURITY, now=now,
               actor=actor, address=address)
        raise throttle.Throttled(THROTTLED)
    wanted = normalise_code(code)
    found = db.session.scalar(select(CertificateCode).where(CertificateCode.code == wanted))
    referral = found.referral if found is not None else None
    if (referral is None or referral.status is not S.COMPLETED
            or (actor.role is Role.POLICE and referral.force_id != actor.force_id)):
        throttle.note_refusal(throttle.CERTIFICATE_VERIFY, key=key, address=address, now=now)
        record(action="certificate.verify_failed", category=AuditCategory.SECURITY, now=now,
               actor=actor, address=address)
        raise CodeNotRecognised(NOT_RECOGNISED)
    record(action="certificate.verify", category=AuditCategory.CONSULTATION, now=now,
           actor=actor, object_type="referral", object_id=referral.id, address=address)
    return Verified(facts=certificate_facts(referral, now=now),
                    date_of_birth=referral.person.date_of_birth, referral=referral)


def render_certificate(referral: Referral, *, now: dt.datetime) -> bytes:
    """The certificate's PDF bytes; NoCertificate (404) unless the referral completed."""
    facts = certificate_facts(referral, now=now)
    return render_pdf("attendance/certificate.html", title="Certificate of completion",
                      facts=facts, generated_at=now,
                      verify_url=external_url("attendance.verify_certificate_page"))


def certificate_filename(referral: Referral) -> str:
    return f"certificate-{referral.reference}.pdf"


def certificate_attachment(spec: dict[str, Any], now: dt.datetime) -> Attachment | None:
    """The certificate a completion email names (`{"kind": "completion_certificate",
    "reference": …}`), made when the email is sent; None when the referral is gone or has no
    certificate (the email then tells the man how to ask for one)."""
    referral = db.session.scalar(select(Referral).where(Referral.reference == spec["reference"]))
    if referral is None:
        return None
    try:
        content = render_certificate(referral, now=now)
    except NoCertificate:
        return None
    return Attachment(certificate_filename(referral), "application/pdf", content)
