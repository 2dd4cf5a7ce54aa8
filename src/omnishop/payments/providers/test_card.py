"""A sandbox card processor for development and tests; the token is one of the documented test numbers.

4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined; 4000 0000 0000 9995 has insufficient funds;
4000 0025 0000 3155 requires action (3-D Secure) until `confirm`. Any other 16-digit number succeeds.
"""

from __future__ import annotations

import secrets

from ..errors import InvalidPaymentToken
from .base import Provider, ProviderResult

TEST_CARDS = {
    "4242424242424242": "success",
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000002500003155": "requires_action",
}


class TestCardProvider(Provider):
    code = "test_card"
    authorizes_unsaved = True

    def authorize(self, *, payment, token: str, capture: bool) -> ProviderResult:
        number = token.replace(" ", "")
        if len(number) != 16 or not number.isdigit():
            raise InvalidPaymentToken("A test card number has 16 digits.", field="payment.token")
        outcome = TEST_CARDS.get(number, "success")
        external_id = f"tc_{secrets.token_hex(8)}"
        label = f"card •••• {number[-4:]}"
        if outcome in ("card_declined", "insufficient_funds"):
            return ProviderResult(
                status="failed", external_id=external_id, method_label=label, failure_code=outcome
            )
        if outcome == "requires_action":
            return ProviderResult(
                status="requires_action",
                external_id=external_id,
                method_label=label,
                client_secret=f"{external_id}_secret_{secrets.token_hex(8)}",
            )
        if capture:
            return ProviderResult(
                status="captured", external_id=external_id, method_label=label, captured=payment.amount
            )
        return ProviderResult(status="authorized", external_id=external_id, method_label=label)

    def confirm(self, *, payment) -> ProviderResult:
        return ProviderResult(status="captured", captured=payment.amount)
