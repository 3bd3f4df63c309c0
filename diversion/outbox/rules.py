"""Pure rules for messages: where to send, quiet hours, retry delays, discreet wording. No database,
no clock."""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass

from diversion.core.timeutils import london_to_utc, to_london
from diversion.outbox.models import Channel

SMS_QUIET_FROM = dt.time(20, 0)  # London wall clock
SMS_QUIET_UNTIL = dt.time(8, 0)

BACKOFF_BASE = dt.timedelta(seconds=60)
BACKOFF_CAP = dt.timedelta(hours=6)

# Words no subject line or SMS may contain (DESIGN.md: none names the offence): whoever glances
# at a phone or an inbox must not learn why the person is on a course.
INDISCREET = re.compile(
    r"kerb|curb|crawl|solicit|prostitut|\bsex|offen[cs]e|\bs\.?\s?51a",
    re.IGNORECASE,
)


def choose_contact(*, preferred: str | None, email: str | None,
                   mobile: str | None) -> tuple[Channel, str] | None:
    """The person's preferred channel when he gave that address, else the one he gave; None
    when he gave neither an email address nor a mobile number (nothing can be sent)."""
    if preferred == "sms" and mobile:
        return Channel.SMS, mobile
    if email:
        return Channel.EMAIL, email
    if mobile:
        return Channel.SMS, mobile
    return None


def pounds(pence: int) -> str:
    """An amount as a message shows it: £150.00 (pages write £150: core.web.format_pounds)."""
    return f"£{pence // 100:,}.{pence % 100:02d}"


MASK = "\u2022\u2022\u2022"  # •••


def mask_email(email: str) -> str:
    """'d•••@example.com': enough for him to recognise his address, not enough to learn it."""
    local, at, domain = email.strip().partition("@")
    return f"{local[:1]}{MASK}{at}{domain}" if at else MASK


def mask_mobile(mobile: str) -> str:
    """'07••• ••• 123': the first two and the last three digits of a mobile number."""
    digits = "".join(c for c in mobile if c.isdigit())
    if mobile.strip().startswith("+44"):
        digits = "0" + digits[2:]  # stored as E.164; he knows his number as 07…
    if len(digits) < 6:
        return f"{MASK} {MASK}"
    return f"{digits[:2]}{MASK} {MASK} {digits[-3:]}"


def next_allowed_sms_time(due_utc: dt.datetime) -> dt.datetime:
    """The earliest instant at or after `due_utc` outside 20:00-08:00 London time."""
    if due_utc.tzinfo is None:
        raise ValueError("due_utc must be an aware datetime")
    wall = to_london(due_utc)
    if SMS_QUIET_UNTIL <= wall.time() < SMS_QUIET_FROM:
        return due_utc.astimezone(dt.UTC)
    day = wall.date() if wall.time() < SMS_QUIET_UNTIL else wall.date() + dt.timedelta(days=1)
    # 08:00 exists on every London day: the clocks change at 01:00 and 02:00.
    return london_to_utc(dt.datetime.combine(day, SMS_QUIET_UNTIL))


def retry_delay(attempts: int, *, rng: random.Random | None = None,
                base: dt.timedelta = BACKOFF_BASE, cap: dt.timedelta = BACKOFF_CAP) -> dt.timedelta:
    """Exponential backoff with "equal jitter": half the step fixed, half random, capped.

    The jitter spreads retries after a provider outage so they do not arrive all at once.
    """
    factor: int = 2 ** max(attempts - 1, 0)
    step = min(base * factor, cap)
    half = step / 2
    jitter: float = (rng or random).random()
    return half + half * jitter


def indiscreet_words(text: str) -> list[str]:
    """Words in a subject line or SMS that could reveal why someone is on a course."""
    return sorted({match.group(0).lower() for match in INDISCREET.finditer(text)})


@dataclass(frozen=True)
class FailureInWords:
    """Why a failed message failed, for the messages pages: `text` in plain words, and whether
    the address itself was refused (sending it again to the same address fails the same way)."""

    text: str
    bad_address: bool


# What providers say when the address itself is the fault: SMTP's enhanced codes 5.1.x (no such
# mailbox, bad address syntax; a bare 550 may be a policy refusal, so it alone is not enough),
# Notify's "Not a valid email address / phone number" and "Not a UK mobile number", and the
# plain words both use.
_BAD_ADDRESS = re.compile(
    r"\b5\.1\.\d\b|does not exist|no such (user|mailbox|address)|user unknown"
    r"|unknown user|recipient (address )?(refused|rejected)|address rejected|mailbox unavailable"
    r"|not a valid (email|e-mail|address|phone|mobile)|not a uk mobile|invalid (recipient|address"
    r"|email|phone|number)",
    re.IGNORECASE)


def failure_in_words(channel: Channel, last_error: str | None) -> FailureInWords:
    """A failed message's stored error (the provider's words) as a manager can act on it."""
    address = "email address" if channel is Channel.EMAIL else "mobile number"
    error = last_error or ""
    if _BAD_ADDRESS.search(error):
        return FailureInWords(f"The {address} was refused: it does not exist or is not a "
                              f"real {address}", bad_address=True)
    if error.startswith("delivery unknown"):
        return FailureInWords("It is not known whether the message arrived: sending stopped "
                              "part way. Check with the person before sending it again",
                              bad_address=False)
    return FailureInWords("The message could not be sent", bad_address=False)
