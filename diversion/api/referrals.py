"""API: create, list, read and withdraw referrals.

A police user's `force_code` defaults to their own force; naming another force is refused with
422 (errors.force_code), the same answer the form gives. Referrals of another force are 404.
Historical records (with an outcome) come in by CSV import only, not through this API.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

from flask import jsonify
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator
from sqlalchemy import and_, or_

from diversion.access import current_actor, roles
from diversion.api import bp
from diversion.api.schema import operation, parse_body, parse_query
from diversion.auth.models import Role, User
from diversion.errors import NotFound, ValidationFailed
from diversion.extensions import db
from diversion.referrals import queries, services
from diversion.referrals.lifecycle import EVENT_LABELS
from diversion.referrals.models import Referral, ReferralStatus
from diversion.timeutils import now_utc

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9 -]{1,40}$")


def _no_control_characters(value: Any) -> Any:
    if isinstance(value, str) and any(ord(c) < 32 and c not in "\t\r\n" for c in value):
        raise ValueError("Remove the control characters from this text")
    return value


def _iso_date(value: Any) -> Any:
    """Only `YYYY-MM-DD` strings: no timestamps, no other formats."""
    if value is None or isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("Enter a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise ValueError("Enter a real date as YYYY-MM-DD") from error


Date = Annotated[dt.date, BeforeValidator(_iso_date)]
Text = Annotated[str, Field(max_length=200)]


class NewReferral(BaseModel):
    """A referral: the CSV's columns, with yes/no as booleans and dates as YYYY-MM-DD."""

    model_config = ConfigDict(extra="forbid")

    force_code: str | None = Field(default=None, max_length=16,
                                   description="Defaults to a police user's own force")
    programme_code: str | None = Field(default=None, max_length=32,
                                       description="Needed only when there is more than one")
    crime_reference: str = Field(max_length=40)
    referral_date: Date
    family_name: str = Field(max_length=100)
    given_names: str = Field(max_length=200)
    date_of_birth: Date
    offence_code: str = Field(max_length=32, examples=["SOA2003-S51A"])
    offence_date: Date
    offence_time: dt.time | None = None
    officer_email: str = Field(max_length=254)
    admitted: StrictBool
    consented: StrictBool
    no_relevant_convictions: StrictBool = Field(
        description="The officer confirms no relevant previous convictions")
    pnc_id: str | None = Field(default=None, max_length=20, examples=["2019/0123456E"])
    gender: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    mobile: str | None = Field(default=None, max_length=30)
    address_line_1: Text | None = None
    address_line_2: Text | None = None
    town: str | None = Field(default=None, max_length=100)
    postcode: str | None = Field(default=None, max_length=10)
    preferred_contact: Literal["email", "sms", "post"] | None = Field(
        default=None, description="Inferred from the details given when absent")
    access_needs: str | None = Field(default=None, max_length=2000)
    needs_step_free: StrictBool = False
    language_needs: str | None = Field(default=None, max_length=2000)
    offence_location: Text | None = None
    disposal: str | None = Field(default=None, max_length=100)
    completion_deadline: Date | None = Field(
        default=None, description="The caution's own date; otherwise the programme's rule")

    _clean_text = field_validator("*", mode="before")(_no_control_characters)


class RuleResultOut(BaseModel):
    code: str
    passed: bool
    blocking: bool
    message: str


class CreatedReferralOut(BaseModel):
    reference: str
    status: str
    eligibility: list[RuleResultOut]
    booking_deadline: dt.date
    completion_deadline: dt.date
    pin: str = Field(description="Shown once; the person needs it for the booking page")


class ReferralSummary(BaseModel):
    reference: str
    status: str
    force_code: str
    crime_reference: str
    referral_date: dt.date
    family_name: str
    given_names: str
    booking_deadline: dt.date
    completion_deadline: dt.date


class ReferralPage(BaseModel):
    items: list[ReferralSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at "
                                                "the end")


class ReferralQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["awaiting_booking", "booked", "missed", "completed", "not_completed",
                    "withdrawn"] | None = None
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=200)


class PersonOut(BaseModel):
    family_name: str
    given_names: str
    date_of_birth: dt.date
    pnc_id: str | None
    gender: str | None
    email: str | None
    mobile: str | None
    address_line_1: str | None
    address_line_2: str | None
    town: str | None
    postcode: str | None
    preferred_contact: str
    access_needs: str | None
    needs_step_free: bool
    language_needs: str | None


class OffenceOut(BaseModel):
    code: str
    date: dt.date
    time: dt.time | None
    location: str | None
    crime_reference: str
    disposal: str | None
    admitted: bool
    consented: bool
    no_relevant_convictions: bool | None


class FeeOut(BaseModel):
    amount_pence: int = Field(description="The programme's fee")
    paid_pence: int = Field(description="Payments recorded so far")
    waived: bool
    balance_pence: int = Field(description="Still owed: 0 once paid in full or waived")


class BookingOut(BaseModel):
    session_id: int
    starts_at: dt.datetime
    venue: str = Field(description="The venue's name")
    status: str = Field(description="active, attended, missed or closed")


class HistoryOut(BaseModel):
    event: str
    label: str
    from_status: str | None
    to_status: str
    at: dt.datetime
    actor: str
    reason: str | None


class ReferralDetail(BaseModel):
    reference: str
    status: str
    force_code: str
    programme_code: str
    referral_date: dt.date
    booking_deadline: dt.date
    completion_deadline: dt.date
    closed_on: dt.date | None
    is_historical: bool
    officer_email: str
    has_pin: bool
    eligibility: list[RuleResultOut]
    person: PersonOut
    offence: OffenceOut
    booking: BookingOut | None = Field(
        description="The booking holding the referral's place (active), or the one it ended "
                    "with (attended, missed, closed); null when none")
    fee: FeeOut
    history: list[HistoryOut]


class WithdrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)

    _clean_text = field_validator("*", mode="before")(_no_control_characters)


class WithdrawnOut(BaseModel):
    reference: str
    status: str


# Cursors --------------------------------------------------------------------------------------

def encode_cursor(referral_date: dt.date, referral_id: int) -> str:
    raw = json.dumps([referral_date.isoformat(), referral_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.date, int]:
    """The (referral_date, id) a cursor holds; ValidationFailed when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        day, referral_id = json.loads(raw)
        if not isinstance(day, str) or type(referral_id) is not int:
            raise ValueError(cursor)
        return dt.date.fromisoformat(day), referral_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise ValidationFailed({"cursor": "This cursor is not valid. Start again without one"},
                               "The request has invalid fields") from error


# Endpoints ------------------------------------------------------------------------------------

def _actor() -> User:
    user = current_actor()
    assert user is not None
    return user


def _reference(reference: str) -> str:
    if not _REFERENCE.match(reference):
        raise NotFound("No referral with that reference")
    return reference


@bp.post("/referrals")
@roles(Role.POLICE, Role.MANAGER)
@operation("Refer a person: eligibility is checked at once",
           body=NewReferral,
           responses={201: CreatedReferralOut, 409: None, 422: None}, tags=("referrals",))
def create_referral() -> Any:
    body = parse_body(NewReferral)
    data = services.ReferralInput(**body.model_dump())
    created = services.create_referral(data=data, actor=_actor(), now=now_utc())
    db.session.commit()
    referral = created.referral
    result = CreatedReferralOut(
        reference=referral.reference, status=referral.status.value,
        eligibility=[RuleResultOut(**r.as_dict()) for r in created.eligibility],
        booking_deadline=referral.booking_deadline,
        completion_deadline=referral.completion_deadline, pin=created.pin)
    return jsonify(result.model_dump(mode="json")), 201


@bp.get("/referrals")
@roles(Role.POLICE, Role.MANAGER)
@operation("Referrals, newest first (police: their force's), a page at a time",
           query=ReferralQuery, responses={200: ReferralPage, 422: None}, tags=("referrals",))
def list_referrals() -> Any:
    params = parse_query(ReferralQuery)
    query = services.visible_referrals(_actor())
    if params.status is not None:
        query = query.where(Referral.status == ReferralStatus(params.status))
    if params.cursor:
        day, referral_id = decode_cursor(params.cursor)
        query = query.where(or_(Referral.referral_date < day,
                                and_(Referral.referral_date == day, Referral.id < referral_id)))
    query = query.order_by(Referral.referral_date.desc(), Referral.id.desc()).limit(
        params.limit + 1)
    referrals = list(db.session.scalars(query))
    has_more = len(referrals) > params.limit
    referrals = referrals[:params.limit]
    page = ReferralPage(
        items=[ReferralSummary(
            reference=r.reference, status=r.status.value, force_code=r.force.code,
            crime_reference=r.crime_reference, referral_date=r.referral_date,
            family_name=r.person.family_name, given_names=r.person.given_names,
            booking_deadline=r.booking_deadline, completion_deadline=r.completion_deadline)
            for r in referrals],
        next_cursor=(encode_cursor(referrals[-1].referral_date, referrals[-1].id)
                     if has_more else None))
    return jsonify(page.model_dump(mode="json"))


def _detail(referral: Referral) -> ReferralDetail:
    person = referral.person
    place, fee = queries.get_place(referral), queries.get_fee(referral)
    return ReferralDetail(
        reference=referral.reference, status=referral.status.value,
        force_code=referral.force.code, programme_code=referral.programme.code,
        referral_date=referral.referral_date, booking_deadline=referral.booking_deadline,
        completion_deadline=referral.completion_deadline, closed_on=referral.closed_on,
        is_historical=referral.is_historical, officer_email=referral.officer_email,
        has_pin=referral.pin_hash != services.NO_PIN,
        eligibility=[RuleResultOut(**r) for r in referral.eligibility or []],
        person=PersonOut(
            family_name=person.family_name, given_names=person.given_names,
            date_of_birth=person.date_of_birth, pnc_id=person.pnc_id, gender=person.gender,
            email=person.email, mobile=person.mobile, address_line_1=person.address_line_1,
            address_line_2=person.address_line_2, town=person.town, postcode=person.postcode,
            preferred_contact=person.preferred_contact.value, access_needs=person.access_needs,
            needs_step_free=person.needs_step_free, language_needs=person.language_needs),
        offence=OffenceOut(
            code=referral.offence_code, date=referral.offence_date, time=referral.offence_time,
            location=referral.offence_location, crime_reference=referral.crime_reference,
            disposal=referral.disposal, admitted=referral.admitted,
            consented=referral.consented,
            no_relevant_convictions=referral.no_relevant_convictions),
        booking=None if place is None else BookingOut(
            session_id=place.session_id, starts_at=place.session.starts_at,
            venue=place.session.venue.name, status=place.status.value),
        fee=FeeOut(amount_pence=fee.fee_pence, paid_pence=fee.paid_pence, waived=fee.is_waived,
                   balance_pence=fee.balance_pence),
        history=[HistoryOut(event=e.event.value, label=EVENT_LABELS[e.event],
                            from_status=e.from_status.value if e.from_status else None,
                            to_status=e.to_status.value, at=e.at, actor=e.actor_label,
                            reason=e.reason)
                 for e in referral.events],
    )


@bp.get("/referrals/<reference>")
@roles(Role.POLICE, Role.MANAGER)
@operation("A referral with its person, offence, booking, fee and history",
           responses={200: ReferralDetail, 404: None}, tags=("referrals",))
def get_referral(reference: str) -> Any:
    referral = services.get_referral_for(reference=_reference(reference), actor=_actor(),
                                          now=now_utc())
    detail = _detail(referral)
    db.session.commit()
    return jsonify(detail.model_dump(mode="json"))


@bp.post("/referrals/<reference>/withdraw")
@roles(Role.POLICE, Role.MANAGER)
@operation("Withdraw the offer of a diversion, with a reason", body=WithdrawBody,
           responses={200: WithdrawnOut, 404: None, 409: None, 422: None}, tags=("referrals",))
def withdraw_referral(reference: str) -> Any:
    body = parse_body(WithdrawBody)
    referral = services.withdraw_referral(reference=_reference(reference), reason=body.reason,
                                          actor=_actor(), now=now_utc())
    result = WithdrawnOut(reference=referral.reference, status=referral.status.value)
    db.session.commit()
    return jsonify(result.model_dump(mode="json"))
