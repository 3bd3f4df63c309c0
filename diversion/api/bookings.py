"""API: book, cancel and record payments for a referral (managers)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field

from diversion.api.frame import bp
from diversion.api.schema import DatabaseId, Line, WholeNumber, operation, parse_body
from diversion.auth.access import acting_user, roles
from diversion.auth.models import Role
from diversion.bookings import fees
from diversion.bookings import places as bookings_places
from diversion.bookings.models import Booking
from diversion.core.extensions import db
from diversion.core.problems import unknown
from diversion.core.timeutils import now_utc
from diversion.courses.models import CourseSession
from diversion.referrals.models import Referral
from diversion.referrals.reading import read_referral_audited


class NewBooking(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    session_id: DatabaseId


class BookedPlace(BaseModel):
    id: int
    session_id: int
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime


class BookingResult(BaseModel):
    reference: str
    status: str
    booking: BookedPlace | None = Field(description="The booking made; null after a cancellation")


class NewPayment(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount_pence: WholeNumber = Field(ge=1, le=fees.MAX_PAYMENT_PENCE,
                              description="Whole pence, more than 0 and no more than owed")
    method: Literal["card", "cash", "bank_transfer", "cheque"]
    reference: Line = Field(default="", max_length=100)


class PaymentOut(BaseModel):
    amount_pence: int
    method: str
    reference: str
    balance_pence: int


def _referral(reference: str) -> Referral:
    return read_referral_audited(reference=reference, actor=acting_user(), now=now_utc())


def _result(referral: Referral, booking: Booking | None) -> dict[str, Any]:
    out = None
    if booking is not None:
        out = BookedPlace(id=booking.id, session_id=booking.session_id,
                         status=booking.status.value, starts_at=booking.session.starts_at,
                         ends_at=booking.session.ends_at)
    return BookingResult(reference=referral.reference, status=referral.status.value,
                         booking=out).model_dump(mode="json")


@bp.post("/referrals/<reference>/booking")
@roles(Role.MANAGER)
@operation("Book the referral onto a session", body=NewBooking,
           responses={201: BookingResult, 404: None, 409: None, 422: None}, tags=("bookings",),
           descriptions={
               404: "No such referral, or the session_id names no session (the detail says "
                    "which)",
               409: "The session is full, or the referral is booked already or not awaiting "
                    "a booking",
               422: "The session does not suit the referral, by rules no schema states: it has "
                    "started or is cancelled, it is for another programme, it ends after the "
                    "referral's completion deadline, it lacks the step-free access the person "
                    "needs, or it is online and the person has no email address"})
def create_booking(reference: str) -> Any:
    body = parse_body(NewBooking)
    referral = _referral(reference)
    session = db.session.get(CourseSession, body.session_id)
    if session is None:
        raise unknown("session_id", f"No session has the id {body.session_id}")
    booking = bookings_places.book_place(referral=referral, session=session, actor=acting_user(),
                                  now=now_utc())
    return jsonify(_result(referral, booking)), 201


@bp.delete("/referrals/<reference>/booking")
@roles(Role.MANAGER)
@operation("Cancel the referral's booking (back to awaiting booking)",
           responses={200: BookingResult, 404: None, 409: None}, tags=("bookings",),
           descriptions={409: "The booked session has begun: the register records what "
                              "happened, and the booking can no longer be cancelled"})
def delete_booking(reference: str) -> Any:
    referral = _referral(reference)
    bookings_places.cancel_booking(referral=referral, actor=acting_user(), now=now_utc(),
                            reason="Cancelled through the API")
    return jsonify(_result(referral, None)), 200


@bp.post("/referrals/<reference>/payments")
@roles(Role.MANAGER)
@operation("Record a payment towards the fee", body=NewPayment,
           responses={201: PaymentOut, 404: None, 422: None}, tags=("bookings",),
           descriptions={422: "Refused by rules no schema states: the fee has been waived, "
                              "or the amount is more than is still owed"})
def create_payment(reference: str) -> Any:
    body = parse_body(NewPayment)
    referral = _referral(reference)
    payment = fees.record_payment(referral=referral, amount_pence=body.amount_pence,
                                  method=body.method, reference=body.reference,
                                  actor=acting_user(), now=now_utc())
    balance = fees.fee_status(referral).balance_pence
    return jsonify(PaymentOut(amount_pence=payment.amount_pence, method=payment.method.value,
                              reference=payment.reference or "",
                              balance_pence=balance).model_dump()), 201
