"""Channels that deliver a rendered message. The `log` channel is for development and tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rendered:
    """A message ready to go: text (and, for email, subject and optional HTML)."""

    subject: str | None
    text: str
    html: str | None = None


@dataclass(frozen=True)
class SendResult:
    provider_reference: str | None


class TemporaryFailure(Exception):
    """Worth trying again later: a timeout, a 429, a 5xx."""


class PermanentFailure(Exception):
    """Never worth retrying: a bad address, a rejected message."""


class Channel(Protocol):
    name: str

    def send(self, *, recipient: str, message: Rendered, reference: str) -> SendResult: ...


class LogChannel:
    """Writes that a message was sent, without the recipient or the content (personal data)."""

    name = "log"

    def __init__(self) -> None:
        self.sent: list[tuple[str, Rendered, str]] = []

    def send(self, *, recipient: str, message: Rendered, reference: str) -> SendResult:
        log.info("log channel: message %s sent (%d characters)", reference, len(message.text))
        self.sent.append((recipient, message, reference))
        return SendResult(provider_reference=f"log-{reference}")
