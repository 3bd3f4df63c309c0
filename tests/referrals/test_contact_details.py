"""Correcting a person's email address and mobile number (`/referrals/<reference>/contact`),
and what it does to his queued and failed messages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.outbox.channels import LogChannel, NotifyChannel, SMTPChannel
from diversion.outbox.dispatcher import dispatch_due
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.referrals.contact import OTHER_FORCE, shown_version
from diversion.referrals.lifecycle import OFFICER_TEMPLATE
from diversion.referrals.models import ContactChannel, Person, Referral
from tests.builders import (
    NOW,
    create_booking,
    create_force,
    create_referral,
    create_user,
    future_session,
)
from tests.outbox.servers import (
    API_KEY,
    EMAIL_TEMPLATE,
    SMS_TEMPLATE,
    running_notify_stand_in,
    running_smtp_server,
)

pytestmark = pytest.mark.usefixtures("clock")

BAD = "sam@invalid.example"  # the test SMTP server answers 550 5.1.1 for this domain
GOOD = "sam.corrected@example.org"


def _person(reference: str) -> Person:
    db.session.expire_all()
    referral = db.session.scalar(select(Referral).where(Referral.reference == reference))
    assert referral is not None
    return referral.person


def _shown(reference: str) -> str:
    """The version of his details the form carries, as its page showed them."""
    return shown_version(_person(reference))


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _page_text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _smtp_channels(port: int) -> dict:  # type: ignore[type-arg]
    return {Channel.EMAIL: SMTPChannel(host="127.0.0.1", port=port, timeout=2,
                                       mail_from="noreply@diversion.example"),
            Channel.SMS: LogChannel()}


def test_a_manager_corrects_the_email_address_and_the_change_is_audited(client, login_as):
    manager = login_as("manager")
    referral = create_referral(email=BAD)
    db.session.commit()

    form = client.get(f"/referrals/{referral.reference}/contact")
    assert form.status_code == 200
    assert BAD in form.get_data(as_text=True)
    response = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": "  Sam.Corrected@EXAMPLE.org ", "mobile": "07700 900123",
        "preferred_contact": "email"}, follow_redirects=True)

    assert response.status_code == 200
    text = _page_text(response)
    assert f"Contact details saved for {referral.reference}" in text
    assert f"saved for {referral.reference}: email address and mobile phone number changed." in text
    assert "Sam.Corrected@example.org" not in text.split("Contact details saved")[1][:200]
    person = _person(referral.reference)
    assert (person.email, person.mobile) == ("Sam.Corrected@example.org", "+447700900123")
    [viewed] = _audit("person.contact_view")
    assert (viewed.category, viewed.actor_user_id) == (AuditCategory.CONSULTATION, manager.id)
    assert (viewed.object_type, viewed.object_id) == ("person", str(person.id))
    [changed] = _audit("person.contact_change")
    assert changed.category is AuditCategory.ALTERATION
    assert (changed.object_type, changed.object_id) == ("person", str(person.id))
    assert changed.details == {"changed": ["email", "mobile"], "referral_id": referral.id,
                               "pending_readdressed": 0, "pending_cancelled": 0}
    assert "example.org" not in str(changed.details) and "7700" not in str(changed.details)


def test_a_police_officer_corrects_his_own_forces_referral(client, login_as):
    officer = login_as("police")
    referral = create_referral(actor=officer, email=BAD)
    db.session.commit()

    response = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": GOOD, "mobile": "", "preferred_contact": "email"})

    assert response.status_code == 302
    assert _person(referral.reference).email == GOOD


def test_every_problem_is_named_in_one_round_and_nothing_changes(client, login_as):
    login_as("manager")
    referral = create_referral(email=BAD)
    db.session.commit()

    response = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": "not an address", "mobile": "12345", "preferred_contact": "sms"})

    assert response.status_code == 400
    text = _page_text(response)
    assert "<title>Error: " in text
    assert "govuk-error-summary" in text
    assert 'href="#email">Enter an email address in the correct format' in text
    assert 'href="#mobile">Enter a mobile phone number, like 07911 123456' in text
    assert _person(referral.reference).email == BAD
    assert _audit("person.contact_change") == []


def test_the_way_to_contact_him_must_keep_its_address(client, login_as):
    login_as("manager")
    referral = create_referral(email=BAD)
    db.session.commit()

    blank = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": "", "mobile": "", "preferred_contact": "email"})
    post = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": "", "mobile": "", "preferred_contact": "post"})
    none = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": GOOD, "mobile": ""})

    assert blank.status_code == 400
    assert "Enter an email address, or choose another way to contact the person" in _page_text(blank)
    assert post.status_code == 400
    assert "There is no postal address on record for the person" in _page_text(post)
    assert none.status_code == 400
    assert "Choose how we should contact the person" in _page_text(none)
    assert _person(referral.reference).email == BAD


def test_hostile_values_are_refused_on_their_fields(client, login_as):
    login_as("manager")
    referral = create_referral(email=BAD)
    db.session.commit()

    response = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": "a\x1b[31m@example.org", "mobile": "x" * 5000,
        "preferred_contact": "carrier-pigeon"})

    assert response.status_code == 400
    text = _page_text(response)
    assert 'href="#email"' in text and 'href="#mobile"' in text
    assert 'href="#preferred_contact">Choose email, text message or post' in text
    assert "Not a valid choice" not in text
    assert _person(referral.reference).email == BAD


def test_police_of_another_force_and_facilitators_cannot_change_it(client, login_as):
    referral = create_referral(email=BAD)
    db.session.commit()
    login_as("police")
    other_force = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": GOOD, "preferred_contact": "email"})
    client.post("/sign-out")
    login_as("facilitator")
    facilitator = client.get(f"/referrals/{referral.reference}/contact")

    assert other_force.status_code == 404
    assert facilitator.status_code == 403
    assert _person(referral.reference).email == BAD
    assert _audit("person.contact_view") == [] and _audit("person.contact_change") == []


def test_details_erased_by_retention_cannot_be_changed(client, login_as):
    login_as("manager")
    referral = create_referral(email=BAD)
    referral.person.erased_at = NOW
    db.session.commit()

    response = client.get(f"/referrals/{referral.reference}/contact", follow_redirects=True)

    assert "The person&#39;s details were erased" in response.get_data(as_text=True)
    assert _audit("person.contact_view") == []


def test_nothing_changed_says_so_and_writes_no_change(client, login_as):
    login_as("manager")
    referral = create_referral(email=GOOD)
    db.session.commit()

    response = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": GOOD, "mobile": "", "preferred_contact": "email"}, follow_redirects=True)

    assert "Nothing was changed" in _page_text(response)
    assert _audit("person.contact_change") == []


def test_pending_messages_go_to_the_corrected_address_but_the_officers_do_not(client, login_as):
    login_as("manager")
    referral = create_referral(email=BAD)
    create_booking(referral, future_session(days=20))
    db.session.commit()
    pending = list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == MessageStatus.PENDING)))
    assert pending and {m.recipient for m in pending} == {BAD}
    officer_notice = OutboxMessage(
        dedupe_key="officer-test", channel=Channel.EMAIL, recipient=BAD, template=OFFICER_TEMPLATE,
        context={}, subject_type="referral", subject_id=str(referral.id), due_at=NOW,
        next_attempt_at=NOW, created_at=NOW)
    db.session.add(officer_notice)
    db.session.commit()

    response = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": "", "mobile": "07700 900123", "preferred_contact": "sms"},
        follow_redirects=True)

    db.session.expire_all()
    moved = [db.session.get(OutboxMessage, m.id) for m in pending]
    assert {(m.channel, m.recipient) for m in moved if m} == {(Channel.SMS, "+447700900123")}
    assert db.session.get(OutboxMessage, officer_notice.id).recipient == BAD  # type: ignore[union-attr]
    assert f"{len(pending)} message" in _page_text(response)
    [changed] = _audit("person.contact_change")
    assert changed.details["pending_readdressed"] == len(pending)


def test_a_bad_address_failure_is_corrected_then_sent_again_to_the_new_address(client, login_as):
    """The whole repair, against the real SMTP test server: the address is refused, the
    messages page sends the manager to correct it, and "Send again" reaches the new one."""
    login_as("manager")
    referral = create_referral(email=BAD)
    create_booking(referral, future_session(days=20))
    db.session.commit()
    with running_smtp_server() as (port, server):
        dispatch_due(now=NOW, channels=_smtp_channels(port))
        failed = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == MessageStatus.FAILED)).all()
        assert failed and server.messages == []
        message = failed[0]

        listing = client.get(f"/messages?subject_type=referral&subject_id={referral.id}")
        page = client.get(f"/referrals/{referral.reference}")
        assert "Correct the email address, then send again" in _page_text(listing)
        assert (f'href="/referrals/{referral.reference}/contact" data-correct-address'
                in listing.get_data(as_text=True))
        assert "Send again to the email address on record now" in _page_text(listing)
        assert "could not be sent" in _page_text(page)
        assert "status=failed" in page.get_data(as_text=True)

        client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
            "email": GOOD, "mobile": "", "preferred_contact": "email"})
        resent = client.post(f"/messages/{message.id}/resend")
        assert resent.status_code == 302
        copy = db.session.scalar(select(OutboxMessage).where(
            OutboxMessage.dedupe_key == f"{message.dedupe_key}:resend:1"))
        assert copy is not None and copy.recipient == GOOD
        dispatch_due(now=NOW, channels=_smtp_channels(port))

    assert [rcpt for _, rcpt in server.envelopes] == [[GOOD]]
    [resend_row] = _audit("message.resend")
    assert resend_row.details["readdressed"] is True
    page = client.get(f"/referrals/{referral.reference}")
    assert "could not be sent" not in _page_text(page)


def test_a_refused_mobile_number_is_corrected_then_texted_through_notify(client, login_as):
    """The same repair for a text, against the Notify stand-in: the new number is the one
    Notify is asked to text."""
    login_as("manager")
    referral = create_referral(email=None, mobile="07700 900111", preferred_contact="sms")
    create_booking(referral, future_session(days=20))
    db.session.commit()
    with running_notify_stand_in() as api:
        channels = {kind: NotifyChannel(kind=kind.value, api_key=API_KEY, base_url=api.base_url,
                                        template_id=template, timeout=2)
                    for kind, template in ((Channel.EMAIL, EMAIL_TEMPLATE),
                                           (Channel.SMS, SMS_TEMPLATE))}
        api.script.append(400)
        dispatch_due(now=NOW, channels=channels)
        [message] = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == MessageStatus.FAILED)).all()
        assert (message.channel, message.recipient) == (Channel.SMS, "+447700900111")
        listing = client.get("/messages?status=failed")
        assert "Correct the mobile number, then send again" in _page_text(listing)

        client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
            "email": "", "mobile": "07700 900222", "preferred_contact": "sms"})
        client.post(f"/messages/{message.id}/resend")
        dispatch_due(now=NOW, channels=channels)

    assert [n["phone_number"] for n in api.notifications] == ["+447700900222"]


def test_a_resend_when_he_has_no_address_left_is_refused(client, login_as):
    login_as("manager")
    referral = create_referral(email=BAD, address_line_1="1 High Street", postcode="LS1 4AP")
    create_booking(referral, future_session(days=20))
    db.session.commit()
    message = db.session.scalars(select(OutboxMessage)).first()
    assert message is not None
    message.status, message.last_error = MessageStatus.FAILED, "550 5.1.1 No such user here"
    db.session.commit()
    client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference),
        "email": "", "mobile": "", "preferred_contact": "post"})
    assert _person(referral.reference).preferred_contact is ContactChannel.POST

    response = client.post(f"/messages/{message.id}/resend", follow_redirects=True)

    assert "There is no email address or mobile number for the person now" in _page_text(response)
    assert _audit("message.resend") == []


def test_the_officers_failed_notice_is_sent_again_to_the_officer(client, login_as):
    login_as("manager")
    referral = create_referral(email=GOOD)
    notice = OutboxMessage(
        dedupe_key="officer-test", channel=Channel.EMAIL, recipient="officer@police.example",
        template=OFFICER_TEMPLATE, context={}, subject_type="referral",
        subject_id=str(referral.id), due_at=NOW, next_attempt_at=NOW, created_at=NOW,
        status=MessageStatus.FAILED, last_error="550 5.1.1 No such user here")
    db.session.add(notice)
    db.session.commit()

    listing = client.get("/messages?status=failed")
    client.post(f"/messages/{notice.id}/resend")

    assert "data-correct-address" not in listing.get_data(as_text=True)
    assert "on the person’s record" not in _page_text(listing)
    assert "Correct the email address first" in _page_text(listing)
    copy = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.dedupe_key == "officer-test:resend:1"))
    assert copy is not None and copy.recipient == "officer@police.example"


def test_the_referral_page_links_to_the_change_for_police_and_managers_only(client, login_as):
    referral = create_referral(email=GOOD)
    db.session.commit()
    login_as("manager")
    manager_page = client.get(f"/referrals/{referral.reference}")
    client.post("/sign-out")
    create_user("admin")
    login_as("admin")
    admin_page = client.get(f"/referrals/{referral.reference}")

    assert "data-change-contact" in manager_page.get_data(as_text=True)
    assert admin_page.status_code in (200, 403)
    assert "data-change-contact" not in admin_page.get_data(as_text=True)


def test_an_officer_cannot_change_a_person_another_force_also_referred(client, login_as):
    """One person's record serves every force's referral of him: an officer may not move the
    messages of another force's case; the programme team may."""
    west, south = create_force("WYP", "West Yorkshire Police"), create_force("SYP", "South Yorkshire")
    ours = create_referral(force=west, email=BAD)
    theirs = create_referral(force=south, email=BAD, crime_reference="SY/2026/1")
    theirs.person_id = ours.person_id
    create_booking(theirs, future_session(days=20))
    db.session.commit()
    pending = {m.id for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == MessageStatus.PENDING))}
    assert pending

    login_as("police", force=west)
    page = _page_text(client.get(f"/referrals/{ours.reference}"))
    refused = client.post(f"/referrals/{ours.reference}/contact", data={
        "shown": _shown(ours.reference), "email": "attacker@evil.example",
        "preferred_contact": "email"}, follow_redirects=True)

    words = OTHER_FORCE.replace("'", "&#39;")
    assert "data-change-contact" not in page and words in page
    assert words in refused.get_data(as_text=True)
    assert "another" not in words  # another force's referral is not disclosed
    assert _person(ours.reference).email == BAD
    assert {m.recipient for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.id.in_(pending)))} == {BAD}
    assert _audit("person.contact_change") == []

    client.post("/sign-out")
    login_as("manager")
    saved = client.post(f"/referrals/{ours.reference}/contact", data={
        "shown": _shown(ours.reference), "email": GOOD, "preferred_contact": "email"})
    assert saved.status_code == 302
    assert _person(theirs.reference).email == GOOD


def test_no_address_left_cancels_his_pending_messages(client, login_as):
    """Removing the only number he gave (a stranger's, say) must not leave his reminders
    queued for it; a later correction is not undone by them either."""
    login_as("manager")
    referral = create_referral(email="", mobile="07700 900111", preferred_contact="sms",
                               address_line_1="1 Main Street", postcode="LS1 1AA")
    create_booking(referral, future_session(days=20))
    db.session.commit()
    pending = [m.id for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == MessageStatus.PENDING))]
    assert pending

    response = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": _shown(referral.reference), "email": "", "mobile": "",
        "preferred_contact": "post"}, follow_redirects=True)

    assert f"{len(pending)} messages waiting to be sent were cancelled" in _page_text(response)
    db.session.expire_all()
    assert {db.session.get(OutboxMessage, i).status for i in pending} == {  # type: ignore[union-attr]
        MessageStatus.CANCELLED}
    [changed] = _audit("person.contact_change")
    assert (changed.details["pending_readdressed"], changed.details["pending_cancelled"]) == (
        0, len(pending))


def test_a_page_opened_before_another_correction_saves_nothing_over_it(client, login_as):
    login_as("manager")
    referral = create_referral(email=BAD)
    db.session.commit()
    opened = _shown(referral.reference)
    first = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": opened, "email": GOOD, "preferred_contact": "email"})
    assert first.status_code == 302

    stale = client.post(f"/referrals/{referral.reference}/contact", data={
        "shown": opened, "email": BAD, "mobile": "07700 900123", "preferred_contact": "email"})
    forged = client.post(f"/referrals/{referral.reference}/contact", data={
        "email": BAD, "preferred_contact": "email"})

    assert stale.status_code == 409 and forged.status_code == 409
    text = _page_text(stale)
    assert "govuk-error-summary" in text and "changed by someone else" in text
    assert GOOD in text  # what is on record now is shown
    assert _person(referral.reference).email == GOOD
    assert len(_audit("person.contact_change")) == 1
    resend = re.search(r'name="shown"[^>]*value="([^"]+)"', stale.get_data(as_text=True))
    assert resend and resend.group(1) == _shown(referral.reference)
