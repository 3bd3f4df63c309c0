"""A referral's page, withdrawal, PIN reissue, and scoping by force."""

import re

import pytest
from sqlalchemy import select, update

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.referrals import pins
from diversion.referrals.lifecycle import transition
from diversion.referrals.models import Referral, ReferralEventType, ReferralStatus
from tests.builders import NOW, create_force, create_referral, create_user


@pytest.fixture
def force(app):
    return create_force("WYP", "West Yorkshire Police")


@pytest.fixture
def officer(force, login_as):
    return login_as("police", force=force)


@pytest.fixture
def referral(officer):
    referral = create_referral(actor=officer, family_name="Demoson", given_names="Adam",
                               offence_location="Water Lane")
    db.session.commit()
    return referral


def audit(action):
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_referral_page_shows_the_person_offence_deadlines_rules_and_history(
        client, officer, referral):
    response = client.get(f"/referrals/{referral.reference}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Adam Demoson" in page and "Water Lane" in page and referral.crime_reference in page
    assert "Awaiting booking" in page
    assert referral.booking_deadline.strftime("%-d %B %Y") in page
    assert page.count('data-rule="') == 7
    assert "Referral received" in page and f"by {officer.name}" in page
    (viewed,) = audit("referral.view")
    assert viewed.category is AuditCategory.CONSULTATION
    assert viewed.actor_user_id == officer.id and viewed.object_id == str(referral.id)


@pytest.mark.parametrize(("event", "words"), [
    (None, "The person has not booked a place yet. They should book by "),
    (ReferralEventType.DEADLINE_PASSED, "The person did not complete the course. Decide what "
                                        "further action to take under the conditions of the "
                                        "caution"),
    (ReferralEventType.WITHDRAWN, "The offer was withdrawn: the diversion will not go ahead"),
])
def test_the_referral_page_says_in_words_what_its_status_means_for_the_officer(
        client, officer, referral, event, words):
    if event is not None:
        transition(referral, event, actor=None, now=NOW, reason="For the test")
        db.session.commit()
    page = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    meaning = re.search(r"<p [^>]*data-status-meaning[^>]*>(.*?)</p>", page, re.S)
    assert meaning is not None and words in re.sub(r"\s+", " ", meaning.group(1))


def test_an_officer_withdraws_an_offer_with_a_reason_which_the_timeline_then_shows(
        client, officer, referral):
    form = client.get(f"/referrals/{referral.reference}/withdraw")
    assert form.status_code == 200
    missing = client.post(f"/referrals/{referral.reference}/withdraw", data={"reason": " "})
    assert missing.status_code == 400
    assert "Enter why the offer is being withdrawn" in missing.get_data(as_text=True)
    done = client.post(f"/referrals/{referral.reference}/withdraw",
                       data={"reason": "Charged instead after further evidence"})
    assert done.status_code == 302
    db.session.expire_all()
    assert referral.status is ReferralStatus.WITHDRAWN
    page = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    assert "Offer withdrawn" in page and "Reason: Charged instead after further evidence" in page
    assert "Withdraw the offer" not in page
    assert len(audit("referral.withdrawn")) == 1
    again = client.get(f"/referrals/{referral.reference}/withdraw")
    assert again.status_code == 302  # an ended referral cannot be withdrawn again


def test_reissuing_the_pin_shows_a_new_one_once_and_the_old_one_stops_working(
        client, officer, referral):
    old_hash = referral.pin_hash
    response = client.post(f"/referrals/{referral.reference}/pin")
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    pin = re.search(r"<strong data-pin>(\d{6})</strong>", page)
    assert pin is not None
    db.session.expire_all()
    assert referral.pin_hash != old_hash and pins.verify_pin(referral, pin.group(1))
    (reissued,) = audit("referral.pin_reissue")
    assert reissued.category is AuditCategory.ALTERATION and reissued.actor_user_id == officer.id
    assert "data-pin" not in client.get(response.location).get_data(as_text=True)


def test_a_manager_can_see_and_withdraw_any_forces_referral(client, app, login_as):
    other = create_referral(force=create_force("NPT"))
    db.session.commit()
    login_as("manager")
    assert client.get(f"/referrals/{other.reference}").status_code == 200
    assert client.post(f"/referrals/{other.reference}/withdraw",
                       data={"reason": "Entered in error"}).status_code == 302


@pytest.mark.parametrize("method, path", [
    ("get", "/referrals/{}"),
    ("get", "/referrals/{}/issued"),
    ("get", "/referrals/{}/letter.pdf"),
    ("get", "/referrals/{}/withdraw"),
    ("post", "/referrals/{}/withdraw"),
    ("post", "/referrals/{}/pin"),
])
def test_an_officer_of_another_force_gets_404_for_every_page_of_a_referral(
        client, officer, method, path):
    elsewhere = create_referral(actor=create_user("police", force=create_force("NPT")))
    db.session.commit()
    response = getattr(client, method)(path.format(elsewhere.reference),
                                       data={"reason": "Not mine"})
    assert response.status_code == 404
    db.session.expire_all()
    assert elsewhere.status is ReferralStatus.AWAITING_BOOKING
    assert audit("referral.view") == [] and audit("referral.pin_reissue") == []


def test_an_unknown_reference_is_404(client, officer):
    assert client.get("/referrals/ACDEFHJK").status_code == 404


def booking_and_fee(page: str) -> str:
    section = re.search(r"<dl [^>]*data-booking-and-fee.*?</dl>", page, re.DOTALL)
    assert section is not None
    return " ".join(re.sub(r"<[^>]+>", " ", section.group(0)).split())


def test_the_referral_page_shows_the_booking_and_fee_and_managers_get_the_bookings_link(
        client, auth, referral):
    from diversion.bookings.fees import record_payment
    from diversion.bookings.places import book_place
    from tests.builders import NOW, create_venue, future_session

    page = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    assert booking_and_fee(page) == ("Course session Not booked Booking None Fee £200 Paid £0 "
                                     "Still owed £200")
    assert "/bookings/referral/" not in page  # officers do not manage bookings

    session = future_session(venue=create_venue(name="Civic Hall"))
    book_place(referral=referral, session=session, actor=None, now=NOW)
    manager = create_user("manager")
    record_payment(referral=referral, amount_pence=5050, method="cash", reference=None,
                   actor=manager, now=NOW)
    db.session.commit()
    auth.logout()
    auth.login(manager.email)
    page = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    shown = booking_and_fee(page)
    assert "Civic Hall" in shown and "Booking Active" in shown
    assert "Paid £50.50 Still owed £149.50" in shown
    link = f'href="/bookings/referral/{referral.reference}"'
    assert link in page
    assert client.get(f"/bookings/referral/{referral.reference}").status_code == 200


def test_issuing_a_new_pin_is_checked_first_and_the_new_pin_has_no_reissue_button_under_it(
        client, officer, referral):
    old_hash = referral.pin_hash
    check = client.get(f"/referrals/{referral.reference}/pin")
    assert check.status_code == 200
    assert "Issue a new PIN?" in check.text
    assert "The old PIN stops working at once" in check.text
    assert "print the offer letter again" in check.text
    assert referral.person.full_name in check.text
    db.session.expire_all()
    assert referral.pin_hash == old_hash  # looking changes nothing

    issued = client.get(client.post(f"/referrals/{referral.reference}/pin").location)

    assert "New PIN issued" in issued.text and "data-pin" in issued.text
    assert "data-reissued" in issued.text
    assert f'action="/referrals/{referral.reference}/pin"' not in issued.text
    assert f'href="/referrals/{referral.reference}/pin"' not in issued.text
    later = client.get(f"/referrals/{referral.reference}/issued").text
    assert "data-pin" not in later and f'href="/referrals/{referral.reference}/pin"' in later


def test_no_new_pin_for_a_closed_referral(client, officer, referral):
    client.post(f"/referrals/{referral.reference}/withdraw", data={"reason": "Sent in error"})

    response = client.get(f"/referrals/{referral.reference}/pin")

    assert response.status_code == 302
    assert "Issue a new PIN" not in client.get(f"/referrals/{referral.reference}").text


@pytest.mark.parametrize("ending", ["withdrawn", "not_completed"])
def test_an_ended_case_owes_nothing_more_on_the_officers_page(client, officer, referral, ending):
    if ending == "withdrawn":
        client.post(f"/referrals/{referral.reference}/withdraw", data={"reason": "Charged"})
    else:
        db.session.execute(update(Referral).where(Referral.id == referral.id)
                           .values(status=ReferralStatus.NOT_COMPLETED))
        db.session.commit()
    page = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    assert booking_and_fee(page) == ("Course session Not booked Booking None Fee £200 Paid £0 "
                                     "Still owed Nothing: the case has ended")
    assert "£200 Still owed £200" not in page
