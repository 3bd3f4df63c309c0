"""API: take a session's register (PUT /api/v1/sessions/{id}/register)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field

from diversion.api.frame import bp
from diversion.api.schema import (
    FILLED_MULTI_LINE_PATTERN,
    FilledLine,
    Instant,
    Lines,
    operation,
    parse_body,
)
from diversion.attendance import register as attendance_register
from diversion.attendance import sessions as attendance_sessions
from diversion.attendance.rules import ARRIVED_STATUSES, AttendanceStatus
from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role
from diversion.core.errors import ValidationFailed
from diversion.core.timeutils import now_utc
from diversion.courses.venues import MAX_VENUE_CAPACITY
from diversion.referrals.reading import normalise_reference

# What attendance.rules.mark_problems checks of one line, as JSON Schema: an excused person has
# a reason; only someone who arrived has an arrival time. (The late cut-off, a time after the
# session's start, depends on the session and is a 422.)
LINE_RULES: dict[str, Any] = {"allOf": [
    {"if": {"properties": {"status": {"const": AttendanceStatus.EXCUSED.value}}},
     "then": {"required": ["reason"],
              "properties": {"reason": {"type": "string",
                                        "pattern": FILLED_MULTI_LINE_PATTERN}}}},
    {"if": {"properties": {"status": {"enum": sorted(
        s.value for s in AttendanceStatus if s not in ARRIVED_STATUSES)}}},
     "then": {"properties": {"arrived_at": {"type": "null"}}}},
]}
# On submission someone marked attended must have had their ID checked.
SUBMIT_RULES: dict[str, Any] = {
    "if": {"properties": {"submit": {"const": True}}, "required": ["submit"]},
    "then": {"properties": {"entries": {"items": {
        "if": {"properties": {"status": {"const": AttendanceStatus.ATTENDED.value}}},
        "then": {"required": ["id_checked"], "properties": {"id_checked": {"const": True}}}}}}},
}


class RegisterLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=LINE_RULES)

    reference: FilledLine = Field(max_length=20, description="The referral's reference")
    # Not strict: a strict enum takes only AttendanceStatus objects, never JSON's strings.
    status: AttendanceStatus = Field(strict=False)
    id_checked: bool = False
    arrived_at: Instant | None = None
    reason: Lines | None = Field(default=None, max_length=1000,
                                 description="Required when the status is `excused`")
    participation_note: Lines | None = Field(
        default=None, max_length=1000, description="The facilitator's opinion; not a fact")


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=SUBMIT_RULES)

    entries: list[RegisterLineIn] = Field(max_length=MAX_VENUE_CAPACITY)
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
           tags=("sessions",),
           descriptions={
               409: "The session is cancelled, its register is not open yet (an hour before "
                    "the start) or has been submitted",
               422: "Refused by rules no schema states, which depend on the session and its "
                    "bookings: every reference must be booked on the session and listed once; "
                    "an arrival after the late cut-off cannot be marked attended; and with "
                    "`submit`, everyone booked must have a mark, from this request or an "
                    "earlier one (so `entries` may be empty)"})
def put_register(session_id: int) -> Any:
    actor = current_actor()
    assert actor is not None
    session = attendance_sessions.get_session_for(session_id=session_id, actor=actor)
    body = parse_body(RegisterIn)
    marks, names, seen = [], {}, set()
    for index, line in enumerate(body.entries):
        reference = normalise_reference(line.reference)
        names[reference] = f"entries.{index}"
        if reference in seen:
            raise ValidationFailed({f"entries.{index}.reference": "This person is listed twice"})
        seen.add(reference)
        marks.append(attendance_register.MarkInput(
            reference=reference, status=line.status, id_checked=line.id_checked,
            arrived_at=line.arrived_at, clear_arrival=line.arrived_at is None,
            reason=line.reason or "", participation_note=line.participation_note))
    result = attendance_register.save_register(session=session, marks=marks, submit=body.submit,
                                    actor=actor, now=now_utc(), field_names=names)
    return jsonify(RegisterOut(
        session_id=session.id, state=result.register.state.value,
        entries=[RegisterLineOut(reference=r.reference, attendance=r.attendance,
                                 outcome=r.outcome, status=r.referral_status)
                 for r in result.lines]).model_dump())
