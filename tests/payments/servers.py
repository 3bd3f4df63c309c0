"""A stand-in for GOV.UK Pay on loopback: the parts of its API Diversion uses, and a paying page.

`POST /v1/payments` and `GET /v1/payments/{id}` answer as GOV.UK Pay does (`payment_id`,
`amount`, `reference`, `description`, `return_url`, `state: {status, finished}`,
`_links.next_url.href`); `next_url` is a plain page here with "Confirm payment" and "Cancel
payment" buttons that finish the payment and send the browser to `return_url`, as the real
paying pages do. `POST /v1/payments/{id}/refunds` and `GET /v1/payments/{id}/refunds/{refund_id}`
answer as GOV.UK Pay's refunds do; `finish_refund` moves a refund on as the provider would.
"""

from __future__ import annotations

import html
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "api_test_diversion_0123456789abcdefghijklmnopqrstuvwxyz"
FINISHED = {"success", "failed", "cancelled", "error"}


@dataclass
class GovukPayStandIn:
    port: int = 0
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)  # every create body received
    requests: list[tuple[str, str]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)  # every refund body received
    # The status each new refund gets (GOV.UK Pay: submitted, success or error).
    refund_status: str = "success"
    # While set, every API request answers this status (503: the provider is down).
    down_with: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def finish(self, payment_id: str, status: str) -> None:
        """Move a payment on, as the man's actions on the paying pages would."""
        with self.lock:
            self.payments[payment_id]["state"] = {"status": status, "finished": status in FINISHED}

    def finish_refund(self, refund_id: str, status: str) -> None:
        """Move a refund on (submitted to success or error), as the provider does later."""
        with self.lock:
            (refund,) = [r for r in self.refunds if r["refund_id"] == refund_id]
            refund["status"] = status

    def only_payment_id(self) -> str:
        (payment_id,) = self.payments
        return payment_id


def _handler_for(state: GovukPayStandIn) -> type[BaseHTTPRequestHandler]:
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

        def _api_allowed(self) -> bool:
            with state.lock:
                state.requests.append((self.command, self.path))
                down = state.down_with
            if down is not None:
                self._reply(down, {"code": "P0999", "description": "GOV.UK Pay is unavailable"})
                return False
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                self._reply(401, {"code": "P0920", "description": "Credentials are required"})
                return False
            return True

        def _public(self, payment: dict[str, Any]) -> dict[str, Any]:
            found = dict(payment)
            refunded = sum(r["amount"] for r in state.refunds
                           if r["payment_id"] == payment["payment_id"] and r["status"] != "error")
            success = payment["state"]["status"] == "success"
            found["refund_summary"] = {
                "status": ("full" if refunded >= payment["amount"] else "available") if success
                else "unavailable",
                "amount_available": payment["amount"] - refunded if success else 0,
                "amount_submitted": refunded}
            found["_links"] = {
                "self": {"href": f"{state.base_url}/v1/payments/{payment['payment_id']}",
                         "method": "GET"},
                "next_url": None if payment["state"]["finished"] else {
                    "href": f"{state.base_url}/secure/{payment['payment_id']}", "method": "GET"}}
            return found

        def do_POST(self) -> None:  # noqa: N802
            if self.path.startswith("/secure/"):
                self._paying_page_action()
                return
            if not self._api_allowed():
                return
            if self.path.endswith("/refunds"):
                self._refund()
                return
            if self.path != "/v1/payments":
                self._reply(404, {"code": "P0200", "description": "Not found"})
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            missing = [k for k in ("amount", "reference", "description", "return_url") if k not in body]
            if missing or not isinstance(body["amount"], int) or body["amount"] < 1:
                self._reply(400, {"code": "P0101", "field": (missing or ["amount"])[0],
                                  "description": "Missing mandatory attribute"})
                return
            payment_id = uuid.uuid4().hex[:26]
            payment = {"payment_id": payment_id, "amount": body["amount"],
                       "reference": body["reference"], "description": body["description"],
                       "return_url": body["return_url"], "language": body.get("language", "en"),
                       "state": {"status": "created", "finished": False},
                       "created_date": "2026-06-15T09:00:00.000Z", "payment_provider": "sandbox"}
            with state.lock:
                state.created.append(body)
                state.payments[payment_id] = payment
            self._reply(201, self._public(payment))

        def _refund(self) -> None:
            payment_id = self.path.removeprefix("/v1/payments/").removesuffix("/refunds")
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                payment = state.payments.get(payment_id)
            if payment is None:
                self._reply(404, {"code": "P0700", "description": "Not found"})
                return
            available = self._public(payment)["refund_summary"]["amount_available"]
            if body.get("refund_amount_available") != available:
                self._reply(412, {"code": "P0604", "description": "Refund amount available mismatch"})
                return
            if not isinstance(body.get("amount"), int) or not 0 < body["amount"] <= available:
                self._reply(400, {"code": "P0603", "description": "The payment is not available for refund"})
                return
            refund = {"refund_id": uuid.uuid4().hex[:26], "payment_id": payment_id,
                      "amount": body["amount"], "status": state.refund_status,
                      "created_date": "2026-06-15T09:00:00.000Z"}
            with state.lock:
                state.refunds.append(refund)
            self._reply(202, {k: v for k, v in refund.items() if k != "payment_id"})

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/secure/"):
                self._paying_page()
                return
            if not self._api_allowed():
                return
            if "/refunds/" in self.path:
                self._get_refund()
                return
            payment_id = self.path.removeprefix("/v1/payments/")
            with state.lock:
                payment = state.payments.get(payment_id)
            if payment is None:
                self._reply(404, {"code": "P0200", "description": "Not found"})
                return
            self._reply(200, self._public(payment))

        def _get_refund(self) -> None:
            payment_id, _, refund_id = self.path.removeprefix("/v1/payments/").partition("/refunds/")
            with state.lock:
                found = [dict(r) for r in state.refunds
                         if r["payment_id"] == payment_id and r["refund_id"] == refund_id]
            if not found:
                self._reply(404, {"code": "P0700", "description": "Not found"})
                return
            self._reply(200, {k: v for k, v in found[0].items() if k != "payment_id"})

        def _paying_page(self) -> None:
            payment_id = self.path.removeprefix("/secure/")
            with state.lock:
                payment = state.payments.get(payment_id)
                if payment is not None and payment["state"]["status"] == "created":
                    payment["state"] = {"status": "started", "finished": False}
            if payment is None:
                self.send_error(404)
                return
            page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Enter card details - GOV.UK Pay (stand-in)</title></head>
<body><main><h1>Enter card details</h1>
<p>{html.escape(payment['description'])}: &pound;{payment['amount'] // 100}.{payment['amount'] % 100:02d}</p>
<form method="post" action="/secure/{payment_id}/confirm">
<button type="submit">Confirm payment</button></form>
<form method="post" action="/secure/{payment_id}/cancel">
<button type="submit">Cancel payment</button></form>
</main></body></html>""".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def _paying_page_action(self) -> None:
            payment_id, _, action = self.path.removeprefix("/secure/").partition("/")
            with state.lock:
                payment = state.payments.get(payment_id)
            if payment is None or action not in ("confirm", "cancel"):
                self.send_error(404)
                return
            state.finish(payment_id, "success" if action == "confirm" else "cancelled")
            self.send_response(303)
            self.send_header("Location", payment["return_url"])
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@contextmanager
def running_govuk_pay_stand_in() -> Iterator[GovukPayStandIn]:
    """The GOV.UK Pay stand-in on a free loopback port."""
    state = GovukPayStandIn()
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
