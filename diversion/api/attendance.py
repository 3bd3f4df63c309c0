"""API: take a session's register (PUT /api/v1/sessions/{id}/register)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field, field_validator

from diversion.access import current_actor, roles
from diversion.api import bp
from diversion.api.scheduling import parse_instant
from diversion.api.schema import operation, parse_body
from diversion.attendance import services
from diversion.attendance.rules import AttendanceStatus
from diversion.auth.models import Role
from diversion.errors import ValidationFailed
from diversion.extensions import db
from diversion.referrals.services import normalise_reference
from diversion.timeutils import now_utc


class RegisterLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str = Field(max_length=20, description="The referral's reference")
    status: AttendanceStatus
    id_checked: bool = False
    arrived_at: dt.datetime | None = Field(default=None, description="RFC 3339 with an offset")
    reason: str | None = Field(default=None, max_length=1000,
                               description="Required when the status is `excused`")
    participation_note: str | None = Field(
        default=None, max_length=1000, description="The facilitator's opinion; not a fact")

    @field_validator("arrived_at", mode="before")
    @classmethod
    def _with_offset(cls, value: Any) -> dt.datetime | None:
        return None if value in (None, "") else parse_instant(value)


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[RegisterLineIn] = Field(max_length=1000)
    submit: bool = False


class RegisterLineOut(BaseModel):
    reference: str
    attendance: str | None
    outcome: str | None
    status: str = Field(description="The referral's status after this request")


class RegisterOut(BaseModel):
    session_id: int
    state: str
    entries: list[RegisterLineOut]


@bp.put("/sessions/<int:session_id>/register")
@roles(Role.FACILITATOR, Role.MANAGER)
@operation("Record a session's register; with `submit`, lock it and apply the outcomes",
           body=RegisterIn, responses={200: RegisterOut, 404: None, 409: None, 422: None},
           tags=("sessions",))
def put_register(session_id: int) -> Any:
    actor = current_actor()
    assert actor is not None
    session = services.get_session_for(session_id=session_id, actor=actor)
    body = parse_body(RegisterIn)
    marks, names, seen = [], {}, set()
    for index, line in enumerate(body.entries):
        reference = normalise_reference(line.reference)
        names[reference] = f"entries.{index}"
        if reference in seen:
            raise ValidationFailed({f"entries.{index}.reference": "This person is listed twice"})
        seen.add(reference)
        marks.append(services.MarkInput(
            reference=reference, status=line.status, id_checked=line.id_checked,
            arrived_at=line.arrived_at, clear_arrival=line.arrived_at is None,
            reason=line.reason or "", participation_note=line.participation_note))
    result = services.save_register(session=session, marks=marks, submit=body.submit,
                                    actor=actor, now=now_utc(), field_names=names)
    db.session.commit()
    return jsonify(RegisterOut(
        session_id=session.id, state=result.register.state.value,
        entries=[RegisterLineOut(reference=r.reference, attendance=r.attendance,
                                 outcome=r.outcome, status=r.referral_status)
                 for r in result.lines]).model_dump())
