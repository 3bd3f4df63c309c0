"""A failed message says what failed in plain words; when the address itself was refused, the
pages say it must be corrected on the person's record first (sending again fails the same way).
"Send again" itself is unchanged."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import update

from diversion.core.extensions import db
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.rules import failure_in_words
from tests.builders import create_message, create_referral


def _fail(message: OutboxMessage, error: str) -> None:
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                       .values(status=MessageStatus.FAILED, attempts=1, last_error=error))
    db.session.commit()


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


@pytest.mark.parametrize(("channel", "error", "bad_address"), [
    (Channel.EMAIL, "SMTP 550: 5.1.1 The email account that you tried to reach does not exist",
     True),
    (Channel.EMAIL, "SMTP 550: recipient refused", True),
    (Channel.SMS, "Notify 400: ValidationError: phone_number Not a UK mobile number", True),
    (Channel.EMAIL, "Notify 400: ValidationError: email_address Not a valid email address", True),
    (Channel.EMAIL, "SMTP 550: 5.7.1 Message rejected as spam", False),
    (Channel.SMS, "Notify 403: AuthError: Invalid token", False),
    (Channel.EMAIL, None, False),
])
def test_a_refused_address_is_told_apart_from_other_failures(channel, error, bad_address):
    words = failure_in_words(channel, error)
    assert words.bad_address is bad_address
    address = "email address" if channel is Channel.EMAIL else "mobile number"
    assert (address in words.text) is bad_address


def test_the_message_page_says_the_address_must_be_corrected_first_and_links_to_the_change(
        client, login_as):
    login_as("manager")
    referral = create_referral()
    message = create_message(subject_type="referral", subject_id=str(referral.id))
    _fail(message, "SMTP 550: 5.1.1 The email account that you tried to reach does not exist")

    page = client.get(f"/messages/{message.id}").get_data(as_text=True)

    failure = page[page.index("data-failure>") + len("data-failure>"):]
    assert _text(failure[:failure.index("</dd>")]) == (
        "The email address was refused: it does not exist or is not a real email address")
    warning = page[page.index("data-correct-address"):]
    warning = warning[:warning.index("</div>")]
    assert ("The email address must be corrected on the person’s record before this message is "
            "sent again") in _text(warning)
    assert f'href="/referrals/{referral.reference}/contact"' in warning
    assert "Correct the email address, then send again" in _text(warning)
    assert "SMTP 550: 5.1.1" in page  # the provider's own words are kept


def test_the_list_says_so_beside_send_again_which_still_queues_a_copy(client, login_as):
    login_as("manager")
    message = create_message("k")
    _fail(message, "SMTP 550: 5.1.1 No such user here")
    other = create_message("j")
    _fail(other, "SMTP 550: 5.7.1 Message rejected as spam")

    page = client.get("/messages").get_data(as_text=True)

    rows = {int(m): row for m, row in re.findall(
        r'data-message-id="(\d+)">(.*?)</tr>', page, re.S)}
    assert "Correct the email address on the person’s record first" in _text(rows[message.id])
    assert "The message could not be sent." in _text(rows[other.id])
    assert "Correct the" not in _text(rows[other.id])
    response = client.post(f"/messages/{message.id}/resend")
    assert response.status_code == 302
    assert db.session.query(OutboxMessage).filter_by(dedupe_key="k:resend:1").count() == 1
