"""Real servers on loopback for the channel tests: aiosmtpd, and a stand-in for GOV.UK Notify."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
from aiosmtpd.controller import Controller

SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
API_KEY = f"diversion_test-{SERVICE_ID}-{SECRET}"
EMAIL_TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
SMS_TEMPLATE = "8a1b8c2e-4b4f-4c1e-9a55-0cf6d8e1b2a3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.peers: list[Any] = []  # the client's address and port: one per connection

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address.endswith("@invalid.example"):
            return "550 5.1.1 No such user here"
        if address.endswith("@busy.example"):
            return "451 4.3.0 Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@contextmanager
def running_smtp_server(handler: RecordingHandler | None = None,
                        ) -> Iterator[tuple[int, RecordingHandler]]:
    """aiosmtpd on a free loopback port, recording what it receives (through `handler`)."""
    handler = handler or RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


@dataclass
class NotifyStandIn:
    """Implements what Diversion uses of the Notify API, and scripts failures."""

    port: int = 0
    notifications: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    # Each POST takes the next scripted reply: a status code, or "accept-then-500" (the
    # notification is created but the reply is lost, as when a connection drops).
    script: list[int | str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler_for(state: NotifyStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, kind: str, message: str) -> None:
            self._reply(status, {"status_code": status,
                                 "errors": [{"error": kind, "message": message}]})

        def _authorised(self) -> bool:
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or not token:
                self._error(401, "AuthError", "Unauthorized: authentication token must be provided")
                return False
            try:
                claims = jwt.decode(token, SECRET, algorithms=["HS256"])
            except jwt.PyJWTError:
                self._error(403, "AuthError", "Invalid token: signature")
                return False
            if claims.get("iss") != SERVICE_ID or "iat" not in claims:
                self._error(403, "AuthError", "Invalid token: iss")
                return False
            return True

        def do_POST(self) -> None:  # noqa: N802
            with state.lock:
                state.requests.append(("POST", self.path))
            if not self._authorised():
                return
            kind = self.path.rsplit("/", 1)[-1]
            if self.path not in ("/v2/notifications/email", "/v2/notifications/sms"):
                self._error(404, "NotFound", "no such endpoint")
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                scripted = state.script.pop(0) if state.script else 201
            if scripted == 429:
                self._error(429, "RateLimitError", "Exceeded rate limit for key type LIVE")
                return
            if isinstance(scripted, int) and scripted >= 500:
                self._error(scripted, "Exception", "Internal server error")
                return
            address_field = "email_address" if kind == "email" else "phone_number"
            if scripted == 400 or "@invalid" in str(body.get(address_field, "")):
                self._error(400, "ValidationError", f"{address_field} Not a valid address")
                return
            notification = {"id": str(uuid.uuid4()), "reference": body.get("reference"),
                            "type": kind, "template": {"id": body["template_id"]},
                            "personalisation": body.get("personalisation", {}),
                            address_field: body[address_field], "status": "created"}
            with state.lock:
                state.notifications.append(notification)
            if scripted == "accept-then-500":
                self._error(500, "Exception", "Internal server error")
                return
            self._reply(201, {"id": notification["id"], "reference": notification["reference"],
                              "content": {}, "uri": "", "template": notification["template"]})

        def do_GET(self) -> None:  # noqa: N802
            with state.lock:
                state.requests.append(("GET", self.path))
            if not self._authorised():
                return
            url = urlparse(self.path)
            if url.path != "/v2/notifications":
                self._error(404, "NotFound", "no such endpoint")
                return
            reference = parse_qs(url.query).get("reference", [None])[0]
            with state.lock:
                found = [n for n in state.notifications
                         if reference is None or n["reference"] == reference]
            self._reply(200, {"notifications": found, "links": {}})

    return Handler


@contextmanager
def running_notify_stand_in() -> Iterator[NotifyStandIn]:
    """The Notify stand-in on a free loopback port."""
    state = NotifyStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
