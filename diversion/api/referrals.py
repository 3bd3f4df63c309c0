"""API: create, list, read and withdraw referrals.

A police user's `force_code` defaults to their own force; naming another force is refused with
422 (errors.force_code), the same answer the form gives. Referrals of another force are 404.
Historical records (with an outcome) come in by CSV import only, not through this API.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import select

from diversion.api.frame import bp
from diversion.api.schema import (
    FILLED_SINGLE_LINE_PATTERN,
    PNC_PATTERN,
    CalendarDate,
    ClockTime,
    FilledLine,
    FilledLines,
    Line,
    Lines,
    operation,
    parse_body,
    parse_query,
)
from diversion.audit.models import AuditCategory
from diversion.audit.services import record, shown_details
from diversion.auth.access import acting_user, roles
from diversion.auth.models import Force, Role, User
from diversion.bookings import queries as bookings_queries
from diversion.bookings.fees import fee_status
from diversion.core.errors import NotFound
from diversion.core.extensions import db
from diversion.core.problems import unknown
from diversion.core.timeutils import now_utc
from diversion.programmes.services import get_programme_by_code
from diversion.referrals import amending, creation, intake, paging, pins, reading
from diversion.referrals.lifecycle import EVENT_LABELS
from diversion.referrals.models import Referral, ReferralStatus

_REFERENCE = re.compile(r"^[A-Za-z0-9 -]{1,40}$")


def _given(*names: str) -> dict[str, Any]:
    return {"required": list(names),
            "properties": {name: {"type": "string", "pattern": FILLED_SINGLE_LINE_PATTERN}
                           for name in names}}


def _chosen(channel: str) -> dict[str, Any]:
    return {"properties": {"preferred_contact": {"const": channel}},
            "required": ["preferred_contact"]}


# referrals.intake: the person can be contacted the way chosen; with no choice, the first of
# email, text message and post whose details are given. (Their formats are 422s.)
CONTACT_RULES: dict[str, Any] = {"allOf": [
    {"if": _chosen("email"), "then": _given("email")},
    {"if": _chosen("sms"), "then": _given("mobile")},
    {"if": _chosen("post"), "then": _given("address_line_1", "postcode")},
    {"if": {"properties": {"preferred_contact": {"type": "null"}}},
     "then": {"anyOf": [_given("email"), _given("mobile"),
                        _given("address_line_1", "postcode")]}},
]}


class NewReferral(BaseModel):
    """A referral: the CSV's columns, with yes/no as booleans and dates as YYYY-MM-DD."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=CONTACT_RULES)

    force_code: Line | None = Field(default=None, max_length=16,
                                    description="Defaults to a police user's own force")
    programme_code: Line | None = Field(default=None, max_length=32,
                                        description="Needed only when there is more than one")
    crime_reference: FilledLine = Field(max_length=40)
    referral_date: CalendarDate
    family_name: FilledLine = Field(max_length=100)
    given_names: FilledLine = Field(max_length=200)
    date_of_birth: CalendarDate
    offence_code: FilledLine = Field(max_length=32, examples=["SOA2003-S51A"])
    offence_date: CalendarDate
    offence_time: ClockTime | None = None
    officer_email: FilledLine = Field(max_length=254)
    admitted: StrictBool
    consented: StrictBool
    no_relevant_convictions: StrictBool = Field(
        description="The officer confirms no relevant previous convictions")
    pnc_id: Line | None = Field(default=None, max_length=20, examples=["2019/0123456E"],
                                json_schema_extra={"pattern": PNC_PATTERN})
    gender: Line | None = Field(default=None, max_length=40)
    email: Line | None = Field(default=None, max_length=254)
    mobile: Line | None = Field(default=None, max_length=30)
    address_line_1: Line | None = Field(default=None, max_length=200)
    address_line_2: Line | None = Field(default=None, max_length=200)
    town: Line | None = Field(default=None, max_length=100)
    postcode: Line | None = Field(default=None, max_length=10)
    preferred_contact: Literal["email", "sms", "post"] | None = Field(
        default=None, description="Inferred from the details given when absent")
    access_needs: Lines | None = Field(default=None, max_length=2000)
    needs_step_free: StrictBool = False
    language_needs: Lines | None = Field(default=None, max_length=2000)
    offence_location: Line | None = Field(default=None, max_length=200)
    disposal: Line | None = Field(default=None, max_length=100)
    completion_deadline: CalendarDate | None = Field(
        default=None, description="The caution's own date; otherwise the programme's rule")


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
    cursor: Line | None = Field(default=None, max_length=200,
                                description="The `next_cursor` of the page before")
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
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: FilledLines = Field(max_length=1000)


class WithdrawnOut(BaseModel):
    reference: str
    status: str


# Endpoints ------------------------------------------------------------------------------------

def _refuse_unknown_codes(body: NewReferral, actor: User) -> None:
    """A programme or force code that names nothing stored is a 404 naming it. (A police user's
    force_code other than their own is the documented 422, whether or not it exists.)"""
    programme_code = (body.programme_code or "").strip().upper()
    if programme_code and get_programme_by_code(programme_code) is None:
        raise unknown("programme_code", f"No programme has the code {programme_code}")
    force_code = (body.force_code or "").strip().upper()
    if (force_code and actor.role is not Role.POLICE
            and db.session.scalar(select(Force.id).where(Force.code == force_code)) is None):
        raise unknown("force_code", f"No police force has the code {force_code}")


REFERRAL_RULES = (
    "Invalid or ineligible, by rules no schema states: `errors` names each field. The dates "
    "in order (date of birth before the offence, offence on or before the referral date, "
    "neither in the future; a completion deadline after the offence); 18 or over on the "
    "offence date; a PNC ID whose year is not in the future and whose check letter matches; "
    "an officer's, the person's email and mobile in a real format; a real UK postcode; names "
    "with letters in them; the chosen (or inferred) way of contact given; a police user's "
    "own force only; the programme named when there is more than one. An ineligible "
    "referral's 422 carries `eligibility`, every rule's result.")


def _reference(reference: str) -> str:
    if not _REFERENCE.match(reference):
        raise NotFound("No referral with that reference")
    return reference


@bp.post("/referrals")
@roles(Role.POLICE, Role.MANAGER)
@operation("Refer a person: eligibility is checked at once",
           body=NewReferral,
           responses={201: CreatedReferralOut, 404: None, 409: None, 422: None},
           tags=("referrals",),
           descriptions={404: "The programme_code, or a manager's force_code, names none stored",
                         409: "This crime reference has been referred by the force already",
                         422: REFERRAL_RULES})
def create_referral() -> Any:
    body = parse_body(NewReferral)
    _refuse_unknown_codes(body, acting_user())
    data = intake.ReferralInput(**body.model_dump())
    created = creation.create_referral(data=data, actor=acting_user(), now=now_utc())
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
           query=ReferralQuery, responses={200: ReferralPage, 404: None, 422: None},
           tags=("referrals",),
           descriptions={404: f"The cursor names no page: {paging.NO_SUCH_PAGE}. Start again "
                              "without one"})
def list_referrals() -> Any:
    params = parse_query(ReferralQuery)
    query = reading.visible_referrals(acting_user())
    if params.status is not None:
        query = query.where(Referral.status == ReferralStatus(params.status))
    try:
        found = paging.keyset_page(query, limit=params.limit, after=params.cursor or None)
    except paging.InvalidCursor:
        raise NotFound(paging.NO_SUCH_PAGE) from None
    referrals = found.items
    page = ReferralPage(
        items=[ReferralSummary(
            reference=r.reference, status=r.status.value, force_code=r.force.code,
            crime_reference=r.crime_reference, referral_date=r.referral_date,
            family_name=r.person.family_name, given_names=r.person.given_names,
            booking_deadline=r.booking_deadline, completion_deadline=r.completion_deadline)
            for r in referrals],
        next_cursor=found.next_cursor)
    # Who saw which referrals, by id: the names and crime references stay out of the row.
    record(action="referral.api_list", category=AuditCategory.CONSULTATION, now=now_utc(),
           actor=acting_user(), object_type="referral", details=shown_details(
               (r.id for r in referrals), filters={"status": params.status},
               limit=params.limit, after_cursor=bool(params.cursor)))
    return jsonify(page.model_dump(mode="json"))


def _detail(referral: Referral) -> ReferralDetail:
    person = referral.person
    place, fee = bookings_queries.get_place(referral), fee_status(referral)
    return ReferralDetail(
        reference=referral.reference, status=referral.status.value,
        force_code=referral.force.code, programme_code=referral.programme.code,
        referral_date=referral.referral_date, booking_deadline=referral.booking_deadline,
        completion_deadline=referral.completion_deadline, closed_on=referral.closed_on,
        is_historical=referral.is_historical, officer_email=referral.officer_email,
        has_pin=referral.pin_hash != pins.NO_PIN,
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
    referral = reading.read_referral_audited(reference=_reference(reference), actor=acting_user(),
                                          now=now_utc())
    detail = _detail(referral)
    return jsonify(detail.model_dump(mode="json"))


@bp.post("/referrals/<reference>/withdraw")
@roles(Role.POLICE, Role.MANAGER)
@operation("Withdraw the offer of a diversion, with a reason", body=WithdrawBody,
           responses={200: WithdrawnOut, 404: None, 409: None, 422: None}, tags=("referrals",))
def withdraw_referral(reference: str) -> Any:
    body = parse_body(WithdrawBody)
    referral = amending.withdraw_referral(reference=_reference(reference), reason=body.reason,
                                          actor=acting_user(), now=now_utc())
    result = WithdrawnOut(reference=referral.reference, status=referral.status.value)
    return jsonify(result.model_dump(mode="json"))
