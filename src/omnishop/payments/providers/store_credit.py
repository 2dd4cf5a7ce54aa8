"""Pay from the customer's store-credit balance (gift cards, refunds as credit); spent at once, no holds."""

from __future__ import annotations

from .base import Provider, ProviderResult


class StoreCreditProvider(Provider):
    code = "store_credit"

    def authorize(self, *, payment, token: str, capture: bool) -> ProviderResult:
        from ..credit import spend_credit

        spend_credit(
            customer=payment.customer,
            amount=payment.amount,
            currency=payment.currency,
            reference=payment.reference,
            key=f"payment:{payment.pk}",
        )
        return ProviderResult(status="captured", method_label="store credit", captured=payment.amount)

    def refund(self, *, payment, amount, key: str) -> ProviderResult:
        from ..credit import credit_back

        credit_back(
            customer=payment.customer,
            amount=amount,
            currency=payment.currency,
            reference=payment.reference,
            key=f"refund:{payment.pk}:{key}",
        )
        return ProviderResult(status="succeeded")
