import re

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.core.errors import Conflict, ValidationFailed
from diversion.core.extensions import db
from diversion.programmes import services
from diversion.programmes.models import Programme
from tests.builders import NOW, create_programme

FORM = {
    "code": "kcrc", "name": "Kerb-crawler re-education course",
    "eligible_offence_codes": "SOA2003-S51A\nsoa1985-s1, SOA1985-S2",
    "booking_deadline_days": "28", "completion_deadline_months": "4", "fee": "200.00",
    "transfer_limit": "2", "late_cutoff_minutes": "15", "grace_days": "3",
    "duration_minutes": "420", "default_capacity": "20", "retention_months": "72",
    "referral_warning_days": "28", "repeat_window_months": "36",
}


def test_a_new_programme_has_the_design_defaults(app):
    programme = create_programme()
    assert (programme.eligible_offence_codes, programme.booking_deadline_days,
            programme.completion_deadline_months, programme.fee_pence, programme.transfer_limit,
            programme.late_cutoff_minutes, programme.grace_days, programme.default_capacity,
            programme.referral_warning_days) == (
        ["SOA2003-S51A", "SOA1985-S1", "SOA1985-S2"], 28, 4, 20000, 2, 15, 3, 20, 28)


def test_settings_out_of_range_are_refused_by_field(app):
    settings = services.ProgrammeSettings(code="a b", name="", eligible_offence_codes=[],
                                          fee_pence=-1, booking_deadline_days=0)
    with pytest.raises(ValidationFailed) as caught:
        services.create_programme(settings=settings, actor=None, now=NOW)
    assert set(caught.value.errors) == {"code", "name", "eligible_offence_codes", "fee_pence",
                                        "booking_deadline_days"}


def test_a_second_programme_with_the_same_code_is_a_conflict(app):
    create_programme("KCRC")
    with pytest.raises(Conflict):
        services.create_programme(settings=services.ProgrammeSettings(code="kcrc", name="Again"),
                                  actor=None, now=NOW)


def test_the_database_refuses_a_negative_fee(app):
    from sqlalchemy.exc import IntegrityError

    create_programme().fee_pence = -5
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_only_admins_can_open_programme_settings(client, login_as):
    login_as("manager")
    assert client.get("/admin/programmes").status_code == 403


def test_an_admin_adds_a_programme_through_the_form(client, login_as):
    login_as("admin")
    page = client.get("/admin/programmes")
    assert "There are no programmes yet" in page.get_data(as_text=True)
    response = client.post("/admin/programmes/new", data=FORM)
    assert response.status_code == 302
    programme = db.session.scalar(select(Programme))
    assert programme.code == "KCRC" and programme.fee_pence == 20000
    assert programme.eligible_offence_codes == ["SOA2003-S51A", "SOA1985-S1", "SOA1985-S2"]
    listing = client.get("/admin/programmes").get_data(as_text=True)
    assert "Kerb-crawler re-education course" in listing and "£200" in listing


def test_an_admin_changes_settings_and_the_change_is_audited(client, login_as):
    admin = login_as("admin")
    programme = create_programme()
    db.session.commit()
    form = dict(FORM, fee="110.50", grace_days="5")
    response = client.post(f"/admin/programmes/{programme.id}", data=form)
    assert response.status_code == 302
    db.session.expire_all()
    assert (programme.fee_pence, programme.grace_days) == (11050, 5)
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "programme.update")).one()
    assert audit.actor_user_id == admin.id
    assert audit.details["changed"]["fee_pence"] == {"from": 20000, "to": 11050}


def test_bad_settings_are_shown_beside_their_fields(client, login_as):
    login_as("admin")
    programme = create_programme()
    db.session.commit()
    response = client.post(f"/admin/programmes/{programme.id}",
                           data=dict(FORM, grace_days="999", booking_deadline_days="many"))
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "There is a problem" in text
    assert "Enter the booking deadline as a whole number of days" in text
    db.session.expire_all()
    assert programme.grace_days == 3


def test_a_missing_programme_is_not_found(client, login_as):
    login_as("admin")
    assert client.get("/admin/programmes/999").status_code == 404


def test_numbers_that_cannot_be_read_are_shown_back_as_typed(client, login_as):
    """"ten" in a number box comes back as "ten" beside its error, not as an empty box."""
    login_as("admin")
    text = client.post("/admin/programmes/new", data=dict(
        FORM, booking_deadline_days="ten", fee="£lots", grace_days="-5")).get_data(as_text=True)
    assert 'name="booking_deadline_days" type="text" value="ten"' in text
    assert 'name="fee" type="text" value="£lots"' in text
    assert 'name="grace_days" type="text" value="-5"' in text


def test_the_error_summary_lists_problems_in_the_order_of_the_fields(client, login_as):
    login_as("admin")
    text = client.post("/admin/programmes/new", data=dict(
        FORM, booking_deadline_days="x", referral_warning_days="x", repeat_window_months="x",
        fee="x")).get_data(as_text=True)
    summary = text.split('class="govuk-error-summary', 1)[1].split("</ul>", 1)[0]
    linked = re.findall(r'<a href="#([a-z_]+)"', summary)
    assert linked == ["booking_deadline_days", "referral_warning_days", "repeat_window_months",
                      "fee"]
