"""API: record a reoffence for a person we know."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field

from diversion.api.frame import bp
from diversion.api.schema import (
    PNC_PATTERN,
    CalendarDate,
    FilledLine,
    Line,
    operation,
    parse_body,
)
from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role
from diversion.core.timeutils import now_utc
from diversion.reoffences.services import ReoffenceInput, record_reoffence

# reoffences.services finds the person by a PNC ID, or by names and date of birth; a conviction
# or caution has an outcome date. (Dates not in the future, the outcome on or after the offence,
# and the PNC ID's check letter are 422s no schema can state.)
REOFFENCE_RULES: dict[str, Any] = {
    "anyOf": [
        {"title": "Found by PNC ID", "required": ["pnc_id"],
         "properties": {"pnc_id": {"type": "string", "minLength": 1}}},
        {"title": "Found by name and date of birth",
         "required": ["family_name", "given_names", "date_of_birth"],
         "properties": {"family_name": {"type": "string", "minLength": 1},
                        "given_names": {"type": "string", "minLength": 1},
                        "date_of_birth": {"type": "string"}}},
    ],
    "if": {"properties": {"outcome": {"enum": ["caution", "conviction"]}},
           "required": ["outcome"]},
    "then": {"required": ["outcome_date"], "properties": {"outcome_date": {"type": "string"}}},
}


class NewReoffence(BaseModel):
    """Give `pnc_id`, or `family_name`, `given_names` and `date_of_birth` (or all four)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=REOFFENCE_RULES)

    pnc_id: Line | None = Field(default=None, max_length=20,
                                json_schema_extra={"pattern": PNC_PATTERN},
                                description="Finds the person; or give the names and date of birth")
    family_name: Line | None = Field(default=None, max_length=100)
    given_names: Line | None = Field(default=None, max_length=200)
    date_of_birth: CalendarDate | None = None
    offence_code: FilledLine = Field(max_length=32)
    offence_date: CalendarDate
    outcome: Literal["conviction", "caution", "arrest", "no_further_action"]
    outcome_date: CalendarDate | None = Field(default=None,
                                              description="Required for a conviction or caution")
    source_reference: FilledLine = Field(max_length=80,
                                         description="Unique: sending it again is a no-op")


class RecordedReoffence(BaseModel):
    id: int
    person_id: int
    offence_code: str
    offence_date: dt.date
    outcome: str
    outcome_date: dt.date | None
    source_reference: str
    created: bool


@bp.post("/reoffences")
@roles(Role.POLICE, Role.MANAGER)
@operation("Record a reoffence for a person on record", body=NewReoffence,
           responses={201: RecordedReoffence, 200: RecordedReoffence, 404: None, 422: None},
           tags=("reoffences",),
           descriptions={
               200: "Recorded before under this source_reference: nothing changed",
               404: "No person on record (a police user: of their force) matches the PNC ID, "
                    "or the names and date of birth",
               422: "Refused by rules no schema states: the offence and outcome dates not in "
                    "the future and the outcome on or after the offence; a PNC ID's year not "
                    "in the future and its check letter matching its number; more than one "
                    "person matching the names and date of birth (give the PNC ID); the "
                    "source_reference recorded already for someone else"})
def create_reoffence() -> Any:
    body = parse_body(NewReoffence)
    data = ReoffenceInput(**{**body.model_dump(), "offence_code": body.offence_code.strip().upper(),
                             "outcome": body.outcome.strip().lower(),
                             "source_reference": body.source_reference.strip()})
    reoffence, created = record_reoffence(data=data, actor=current_actor(), now=now_utc(),
                                          via="api")
    result = RecordedReoffence(
        id=reoffence.id, person_id=reoffence.person_id, offence_code=reoffence.offence_code,
        offence_date=reoffence.offence_date, outcome=reoffence.outcome.value,
        outcome_date=reoffence.outcome_date, source_reference=reoffence.source_reference,
        created=created)
    return jsonify(result.model_dump(mode="json")), 201 if created else 200
