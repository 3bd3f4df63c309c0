from sqlalchemy import select

from diversion.audit.models import AuditEvent
from tests.builders import create_user


def test_signing_in_shows_the_dashboard_and_writes_an_audit_row(client, auth, app):
    user = create_user("manager")
    from diversion.core.extensions import db

    db.session.commit()
    response = auth.login(user.email)
    assert response.status_code == 302
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Programme manager" in page.get_data(as_text=True)
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "auth.sign_in" in actions
