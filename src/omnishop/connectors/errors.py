"""Connector errors. `ChannelError` subclasses say what the worker should do: retry later (unavailable,
rate limited) or stop and record (rejected). The API-facing ones are ordinary DomainErrors."""

from __future__ import annotations

from omnishop.core.errors import DomainError, NotFound

# The same business failures as elsewhere keep their one class per code (core.money, inventory).
from omnishop.core.money import CurrencyMismatch  # noqa: F401
from omnishop.inventory.errors import UnknownSku  # noqa: F401


class ChannelError(Exception):
    """A call to the channel did not do what we asked."""

    code = "channel_error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.message = message
        if code:
            self.code = code
        super().__init__(message)


class ChannelUnavailable(ChannelError):
    """5xx, timeout, connection refused: the change is still owed; try again with backoff."""

    code = "channel_unavailable"
    retryable = True


class ChannelRateLimited(ChannelUnavailable):
    """429 / THROTTLED: nobody calls this channel again before `retry_after` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChannelRejected(ChannelError):
    """The channel refused the change (4xx, userErrors): retrying the same request would not help."""

    code = "channel_rejected"


class StaleQuantity(ChannelError):
    """Shopify's compare-and-set found another quantity than we expected (someone else changed it)."""

    code = "compare_quantity_stale"
    retryable = True


class ConnectionNotFound(NotFound):
    code = "connection_not_found"
    default_message = "This channel has no connector of that kind."


class BadWebhookSignature(DomainError):
    """A channel webhook that is not signed by the channel: answered like a failed authentication (401),
    unlike the 400 `bad_signature` of carrier and payment webhooks."""

    code = "webhook_signature_invalid"
    status = 401
    default_message = "The webhook signature does not verify."
