"""API: record a reoffence for a person we know."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field

from diversion.access import current_actor, roles
from diversion.api import bp
from diversion.api.schema import operation, parse_body
from diversion.auth.models import Role
from diversion.extensions import db
from diversion.reoffences.services import ReoffenceInput, record_reoffence
from diversion.timeutils import now_utc


class NewReoffence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pnc_id: str | None = Field(default=None, description="Finds the person; or give the names "
                                                         "and date of birth")
    family_name: str | None = Field(default=None, max_length=100)
    given_names: str | None = Field(default=None, max_length=200)
    date_of_birth: dt.date | None = None
    offence_code: str = Field(max_length=32)
    offence_date: dt.date
    outcome: str = Field(description="conviction | caution | arrest | no_further_action")
    outcome_date: dt.date | None = Field(default=None,
                                         description="Required for a conviction or caution")
    source_reference: str = Field(max_length=80, description="Unique: sending it again is a "
                                                             "no-op")


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
           tags=("reoffences",))
def create_reoffence() -> Any:
    body = parse_body(NewReoffence)
    data = ReoffenceInput(**{**body.model_dump(), "offence_code": body.offence_code.strip().upper(),
                             "outcome": body.outcome.strip().lower(),
                             "source_reference": body.source_reference.strip()})
    reoffence, created = record_reoffence(data=data, actor=current_actor(), now=now_utc(),
                                          via="api")
    db.session.commit()
    result = RecordedReoffence(
        id=reoffence.id, person_id=reoffence.person_id, offence_code=reoffence.offence_code,
        offence_date=reoffence.offence_date, outcome=reoffence.outcome.value,
        outcome_date=reoffence.outcome_date, source_reference=reoffence.source_reference,
        created=created)
    return jsonify(result.model_dump(mode="json")), 201 if created else 200
