"""The referral page leads to the certificate and to accepting an excuse, for those allowed."""

from diversion.core.extensions import db
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEventType as E
from tests.builders import NOW, create_referral


def _move(referral, *events):
    for event in events:
        lifecycle.transition(referral, event, actor=None, now=NOW)
    db.session.commit()


def test_a_manager_sees_the_certificate_link_on_a_completed_referral(client, login_as):
    login_as("manager")
    referral = create_referral()
    _move(referral, E.BOOKED, E.ATTENDED_COMPLETED)
    page = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    assert f"/referrals/{referral.reference}/certificate.pdf" in page
    assert "/excuse" not in page


def test_a_manager_sees_the_excuse_link_on_a_missed_referral(client, login_as):
    login_as("manager")
    referral = create_referral()
    _move(referral, E.BOOKED, E.MISSED)
    page = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    assert f"/referrals/{referral.reference}/excuse" in page
    assert "certificate.pdf" not in page
