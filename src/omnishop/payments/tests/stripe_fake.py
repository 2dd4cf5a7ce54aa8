"""A fake of the part of Stripe's API the adapter calls, on 127.0.0.1, speaking Stripe's wire format.

Written from the public API reference (https://docs.stripe.com/api): form-encoded requests with bracketed keys
(`metadata[payment]=7`), `Authorization: Bearer <secret key>`, the `Idempotency-Key` header (a repeated key
answers the first response again, https://docs.stripe.com/api/idempotent_requests), errors as
`{"error": {"type", "code", "decline_code", "message", "param"}}` with 400/401/402/404
(https://docs.stripe.com/api/errors), PaymentIntents (create with `confirm=true`, retrieve, capture, cancel,
search with `metadata['key']:'value'`, https://docs.stripe.com/search#search-query-language) and Refunds.
Test payment methods as Stripe names them: `pm_card_visa`, `pm_card_chargeDeclined`,
`pm_card_chargeDeclinedInsufficientFunds`, `pm_card_authenticationRequired` (3-D Secure).

Faults (`fail_next(n, mode)`): the shared "500" / "429" / "hang" (nothing applied), and "lost_reply": the
request IS applied, then the connection is dropped before the answer — what a timeout after Stripe acted is.
"""

from __future__ import annotations

import itertools
import re
import time
from urllib.parse import parse_qsl

from omnishop.connectors.fakes.base import FakeApp, Reply, Request

SECRET_KEY = "sk_test_omnishop_fake"
_SEARCH = re.compile(r"^metadata\['([A-Za-z0-9_]+)'\]:'([^']*)'$")


def _error(status: int, kind: str, message: str, **extra) -> Reply:
    return Reply(status, {"error": {"type": kind, "message": message, **extra}})


class StripeFake(FakeApp):
    def __init__(self) -> None:
        super().__init__()
        self.intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.replies: dict[str, Reply] = {}  # idempotency key -> the first answer
        self._ids = itertools.count(1)

    # --- transport ------------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply | None:
        with self.lock:
            lost = bool(self.faults) and self.faults[0][0] == "lost_reply"
            if lost:
                self.faults.pop(0)
        if lost:
            with self.lock:
                self.requests.append(request)
                self.handle(request)
            return None  # applied; the answer never reaches the client
        return super().dispatch(request)

    def fault_reply(self, mode: str, retry_after: float) -> Reply:
        raise ValueError(f"Unknown fault mode {mode!r}")

    def handle(self, request: Request) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            return _error(401, "invalid_request_error", "Invalid API Key provided.")
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key and key in self.replies:
            return self.replies[key]
        reply = self._route(request)
        if request.method == "POST" and key and reply.status != 401:
            self.replies[key] = reply
        return reply

    def _route(self, request: Request) -> Reply:
        form = dict(parse_qsl(request.body.decode())) if request.body else {}
        path = request.path
        if request.method == "POST" and path == "/v1/payment_intents":
            return self._create(form)
        if request.method == "GET" and path == "/v1/payment_intents/search":
            return self._search(request.query.get("query", ""))
        match = re.fullmatch(r"/v1/payment_intents/(pi_[A-Za-z0-9]+)(?:/(capture|cancel))?", path)
        if match:
            intent = self.intents.get(match[1])
            if intent is None:
                return _error(404, "invalid_request_error", f"No such payment_intent: '{match[1]}'")
            if request.method == "GET" and match[2] is None:
                return Reply(200, intent)
            if request.method == "POST" and match[2] == "capture":
                return self._capture(intent, form)
            if request.method == "POST" and match[2] == "cancel":
                return self._cancel(intent)
        if request.method == "POST" and path == "/v1/refunds":
            return self._refund(form)
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {path}).")

    # --- resources ------------------------------------------------------------------------------------

    def _create(self, form: dict) -> Reply:
        try:
            amount = int(form["amount"])
        except (KeyError, ValueError):
            return _error(400, "invalid_request_error", "Missing required param: amount.", param="amount")
        pid = f"pi_fake{next(self._ids)}"
        intent = {
            "id": pid,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": form.get("currency", ""),
            "capture_method": form.get("capture_method", "automatic"),
            "client_secret": f"{pid}_secret_fake",
            "created": int(time.time()),
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "payment_method": form.get("payment_method"),
            "status": "requires_payment_method",
        }
        self.intents[pid] = intent
        method = form.get("payment_method", "")
        if form.get("confirm") != "true":
            return Reply(200, intent)
        if method in ("pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"):
            decline = "insufficient_funds" if method.endswith("InsufficientFunds") else "generic_decline"
            return _error(
                402,
                "card_error",
                "Your card was declined.",
                code="card_declined",
                decline_code=decline,
                payment_intent=intent,
            )
        if method == "pm_card_authenticationRequired":
            intent["status"] = "requires_action"
        elif intent["capture_method"] == "manual":
            intent["status"] = "requires_capture"
        else:
            intent["status"], intent["amount_received"] = "succeeded", amount
        return Reply(200, intent)

    def _capture(self, intent: dict, form: dict) -> Reply:
        if intent["status"] != "requires_capture":
            return _error(
                400,
                "invalid_request_error",
                f"This PaymentIntent could not be captured because it has a status of {intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        intent["amount_received"] = int(form.get("amount_to_capture", intent["amount"]))
        intent["status"] = "succeeded"
        return Reply(200, intent)

    def _cancel(self, intent: dict) -> Reply:
        if intent["status"] in ("succeeded", "canceled"):
            return _error(
                400,
                "invalid_request_error",
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        intent["status"] = "canceled"
        return Reply(200, intent)

    def _refund(self, form: dict) -> Reply:
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return _error(400, "invalid_request_error", "This PaymentIntent has no charge to refund.")
        done = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"])
        amount = int(form.get("amount", intent["amount_received"] - done))
        if done + amount > intent["amount_received"]:
            return _error(
                400,
                "invalid_request_error",
                "Refund amount is greater than unrefunded amount on charge.",
                code="amount_too_large",
            )
        rid = f"re_fake{next(self._ids)}"
        self.refunds[rid] = {
            "id": rid,
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "status": "succeeded",
        }
        return Reply(200, self.refunds[rid])

    def _search(self, query: str) -> Reply:
        match = _SEARCH.match(query.strip())
        if match is None:
            return _error(400, "invalid_request_error", f"Invalid search query: {query}", param="query")
        field, value = match.groups()
        found = [i for i in self.intents.values() if i["metadata"].get(field) == value]
        return Reply(
            200,
            {
                "object": "search_result",
                "url": "/v1/payment_intents/search",
                "has_more": False,
                "next_page": None,
                "data": found,
            },
        )

    def refunded(self, intent_id: str) -> int:
        with self.lock:
            return sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent_id)
