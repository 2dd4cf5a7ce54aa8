"""Payment providers behind one interface. `get_provider(code)` returns the registered instance."""

from __future__ import annotations

from .base import Provider, ProviderResult, WebhookUpdate
from .manual import ManualProvider
from .store_credit import StoreCreditProvider
from .stripe import StripeProvider
from .test_card import TEST_CARDS, TestCardProvider

PROVIDERS: dict[str, Provider] = {
    p.code: p for p in (ManualProvider(), StoreCreditProvider(), TestCardProvider(), StripeProvider())
}


def get_provider(code: str) -> Provider:
    from ..errors import UnknownProvider

    provider = PROVIDERS.get(code)
    if provider is None:
        raise UnknownProvider(
            f"Unknown payment provider '{code}'; use one of {', '.join(sorted(PROVIDERS))}.", field="provider"
        )
    return provider


__all__ = ["PROVIDERS", "TEST_CARDS", "Provider", "ProviderResult", "WebhookUpdate", "get_provider"]
