"""Bank transfer / cash on delivery: nothing is charged until staff (or an API call) confirm the money came."""

from .base import Provider, ProviderResult


class ManualProvider(Provider):
    code = "manual"
    authorizes_unsaved = True

    def authorize(self, *, payment, token: str, capture: bool) -> ProviderResult:
        return ProviderResult(status="pending", method_label=token[:60] or "bank transfer")

    def confirm(self, *, payment) -> ProviderResult:
        return ProviderResult(status="captured", captured=payment.amount)
