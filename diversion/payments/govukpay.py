"""A small GOV.UK Pay client: create a payment, look one up. Plain HTTP (the standard library).

API: `POST /v1/payments` with `amount` (pence), `reference`, `description`, `return_url`,
`language`; `GET /v1/payments/{payment_id}` answers `state.status` and `state.finished`; the
paying page is `_links.next_url.href`. Refunds: `POST /v1/payments/{payment_id}/refunds` and
`GET /v1/payments/{payment_id}/refunds/{refund_id}` (`refund_id`, `amount`, `status`).
Bearer API key. Anything but a readable 2xx answer
(timeouts, refused connections, 429, 5xx, a 4xx) raises PaymentServiceUnavailable: the man is
told nothing was taken, and only the status and the provider's error code are logged.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from flask import current_app

from diversion.core.config import Settings

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 1024 * 1024
MAX_PAYMENT_ID_LENGTH = 64
# Where GOV.UK Pay's own paying pages are (its `next_url`s), beside the API's address.
CARD_PAGES_ORIGIN = "https://card.payments.service.gov.uk"


class PaymentServiceUnavailable(Exception):
    """The provider could not be reached or did not do what was asked; nothing was taken."""


@dataclass(frozen=True)
class ProviderPayment:
    payment_id: str
    status: str
    finished: bool
    amount: int
    next_url: str | None
    # refund_summary.amount_available: what can still be refunded (None when not given).
    refund_amount_available: int | None = None


@dataclass(frozen=True)
class ProviderRefund:
    refund_id: str
    amount: int
    status: str  # submitted, success or error


class GovukPayClient:
    def __init__(self, *, api_key: str | None, base_url: str,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    @property
    def paying_page_origins(self) -> tuple[str, ...]:
        """The only places the man is sent to pay: GOV.UK Pay's pages (or a test server's)."""
        return (CARD_PAGES_ORIGIN, origin_of(self.base_url))

    def create_payment(self, *, amount: int, reference: str, description: str,
                       return_url: str) -> ProviderPayment:
        """Start a card payment; the man is sent to its `next_url`."""
        answer = self._request("POST", "/v1/payments", {
            "amount": amount, "reference": reference, "description": description,
            "return_url": return_url, "language": "en"})
        payment = _payment(answer)
        if not payment.next_url or origin_of(payment.next_url) not in self.paying_page_origins:
            log.warning("GOV.UK Pay created a payment without a paying page we send people to")
            raise PaymentServiceUnavailable("no payment page address")
        return payment

    def get_payment(self, payment_id: str) -> ProviderPayment:
        """The payment as the provider has it now."""
        return _payment(self._request("GET", "/v1/payments/" + urllib.parse.quote(payment_id, safe="")))

    def create_refund(self, *, payment_id: str, amount: int,
                      refund_amount_available: int) -> ProviderRefund:
        """Refund part or all of a payment; `refund_amount_available` is what the provider last
        said could be refunded (it refuses the refund if that has changed meanwhile)."""
        answer = self._request(
            "POST", "/v1/payments/" + urllib.parse.quote(payment_id, safe="") + "/refunds",
            {"amount": amount, "refund_amount_available": refund_amount_available})
        return _refund(answer)

    def get_refund(self, *, payment_id: str, refund_id: str) -> ProviderRefund:
        """A refund as the provider has it now (submitted, success or error)."""
        return _refund(self._request(
            "GET", "/v1/payments/" + urllib.parse.quote(payment_id, safe="") + "/refunds/"
            + urllib.parse.quote(refund_id, safe="")))

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if not self.api_key:
            log.warning("GOV.UK Pay is chosen but DIVERSION_GOVUK_PAY_API_KEY is not set")
            raise PaymentServiceUnavailable("no API key")
        request = urllib.request.Request(  # noqa: S310 (the base URL is checked to be http(s))
            self.base_url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.api_key}", "Accept": "application/json",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                data = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as error:
            log.warning("GOV.UK Pay %s %s answered %s (%s)", method, path.split("/")[2],
                        error.code, _error_code(error))
            raise PaymentServiceUnavailable(f"answered {error.code}") from error
        except (urllib.error.URLError, OSError, ValueError) as error:
            log.warning("GOV.UK Pay %s could not be reached: %s", method, type(error).__name__)
            raise PaymentServiceUnavailable("not reachable") from error
        if len(data) > MAX_ANSWER_BYTES:
            raise PaymentServiceUnavailable("answer too large")
        try:
            return json.loads(data)
        except ValueError as error:
            raise PaymentServiceUnavailable("answer not JSON") from error


def _error_code(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read(4096)).get("code", "no code"))[:20]
    except (ValueError, AttributeError, OSError):
        return "no code"


def _refund(answer: Any) -> ProviderRefund:
    try:
        refund_id, refunded, status = answer["refund_id"], answer["amount"], answer["status"]
    except (KeyError, TypeError) as error:
        raise PaymentServiceUnavailable("answer without a refund") from error
    if (not isinstance(refund_id, str) or not 0 < len(refund_id) <= MAX_PAYMENT_ID_LENGTH
            or not isinstance(refunded, int) or not isinstance(status, str)):
        raise PaymentServiceUnavailable("answer with unexpected values")
    return ProviderRefund(refund_id=refund_id, amount=refunded, status=status)


def _payment(answer: Any) -> ProviderPayment:
    try:
        payment_id = answer["payment_id"]
        state = answer["state"]
        status, finished = state["status"], state["finished"]
        amount = answer["amount"]
        next_url = ((answer.get("_links") or {}).get("next_url") or {}).get("href")
        available = (answer.get("refund_summary") or {}).get("amount_available")
    except (KeyError, TypeError, AttributeError) as error:
        raise PaymentServiceUnavailable("answer without a payment") from error
    if (not isinstance(payment_id, str) or not 0 < len(payment_id) <= MAX_PAYMENT_ID_LENGTH
            or not isinstance(status, str) or not isinstance(finished, bool)
            or not isinstance(amount, int) or (next_url is not None and not isinstance(next_url, str))
            or (available is not None and not isinstance(available, int))):
        raise PaymentServiceUnavailable("answer with unexpected values")
    return ProviderPayment(payment_id=payment_id, status=status, finished=finished,
                           amount=amount, next_url=next_url, refund_amount_available=available)


def origin_of(url: str) -> str:
    """'https://host[:port]' of an address ('' when it has none)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def client_from_settings(settings: Settings | None = None) -> GovukPayClient | None:
    """This app's GOV.UK Pay client, or None when online payment is off (`none`)."""
    chosen: Settings = settings or current_app.config["SETTINGS"]
    if chosen.payment_backend != "govuk_pay":
        return None
    return GovukPayClient(api_key=chosen.govuk_pay_api_key, base_url=chosen.govuk_pay_base_url)
