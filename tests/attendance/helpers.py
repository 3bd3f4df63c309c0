"""Reading what the register tests need to check: the messages queued with a template."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.courses.models import CourseSession
from diversion.outbox.models import OutboxMessage


def messages(template: str) -> list[OutboxMessage]:
    db.session.flush()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                   .order_by(OutboxMessage.id)))


def submit_register(client: FlaskClient, session: CourseSession, data: dict[str, str]) -> None:
    """Take a register through the page as a facilitator does: submit, check, confirm."""
    url = f"/sessions/{session.id}/register"
    check = client.post(url, data={"action": "submit", **data})
    assert check.status_code == 200, check.text
    fingerprint = re.search(r'name="fingerprint" value="([0-9a-f]+)"', check.text)
    assert fingerprint is not None
    done = client.post(url, data={"action": "confirm", "fingerprint": fingerprint.group(1)})
    assert done.status_code == 302
