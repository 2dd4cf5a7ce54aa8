"""The provider interface: authorise (optionally capturing at once), capture, void, refund, webhooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class ProviderResult:
    status: str  # one of Payment.Status
    external_id: str = ""
    client_secret: str = ""
    method_label: str = ""
    failure_code: str = ""
    message: str = ""
    captured: Decimal | None = None


@dataclass
class WebhookUpdate:
    """What a verified provider event says about one payment."""

    event_id: str
    kind: str
    external_id: str
    status: str | None = None  # new Payment.Status, if the event changes it
    captured: Decimal | None = None  # total captured so far, in major units
    refunded: Decimal | None = None  # total refunded so far, in major units
    extra: dict = field(default_factory=dict)


class Provider:
    code = ""
    #: refunds and captures complete synchronously (no webhook needed to learn the outcome)
    synchronous = True
    #: answers without a network call, so a checkout may charge inside its database transaction
    in_process = True
    #: authorize() needs no saved row (no payment id sent anywhere): the payment is written once, with the
    #: answer, instead of inserted pending and updated
    authorizes_unsaved = False

    def authorize(self, *, payment, token: str, capture: bool) -> ProviderResult:
        raise NotImplementedError

    def capture(self, *, payment, amount: Decimal) -> ProviderResult:
        return ProviderResult(status="captured", captured=payment.captured + amount)

    def confirm(self, *, payment) -> ProviderResult:
        """The shopper finished the extra step (3-D Secure) or staff confirmed the transfer arrived."""
        raise NotImplementedError

    def find(self, *, payment) -> ProviderResult | None:
        """What the provider holds for this payment row when its authorisation's answer was lost (None: it
        never acted). Only remote providers can lose an answer; in-process ones never need this."""
        raise NotImplementedError

    def void(self, *, payment) -> ProviderResult:
        return ProviderResult(status="voided")

    def refund(self, *, payment, amount: Decimal, key: str) -> ProviderResult:
        return ProviderResult(status="succeeded")

    def parse_webhook(self, *, body: bytes, headers) -> list[WebhookUpdate]:
        from ..errors import BadWebhookSignature

        raise BadWebhookSignature(f"Provider '{self.code}' does not send webhooks.")
