"""Payment failures, one class per business outcome."""

from omnishop.core.errors import BadSignature, Conflict, DomainError, NotFound, ValidationFailed

BadWebhookSignature = BadSignature  # one class per code: the signature error is core's


class PaymentDeclined(DomainError):
    code = "payment_declined"
    status = 402
    default_message = "The payment was declined."


class InsufficientFunds(PaymentDeclined):
    code = "insufficient_funds"
    default_message = "The card or balance does not cover the amount."


class UnknownProvider(ValidationFailed):
    code = "unknown_payment_provider"


class InvalidPaymentToken(ValidationFailed):
    code = "invalid_payment_token"


class RefundExceedsCaptured(Conflict):
    code = "refund_exceeds_captured"
    default_message = "The refund is larger than what was captured and not yet refunded."


class RefundKeyReused(Conflict):
    code = "refund_key_reused"
    default_message = "This refund key was used before for another amount."


class CaptureExceedsAuthorized(Conflict):
    code = "capture_exceeds_authorized"
    default_message = "The capture is larger than the authorised amount."


class PaymentNotFound(NotFound):
    code = "payment_not_found"


class ProviderUnavailable(DomainError):
    code = "provider_unavailable"
    status = 502
    default_message = "The payment provider could not be reached."


class PaymentOutcomeUnknown(ProviderUnavailable):
    """The provider may have taken the money: the connection broke or it answered 5xx after the request left.
    The attempt stays `pending` and is settled later (payments.services.settle_unknown_attempts)."""

    code = "payment_outcome_unknown"
    status = 502
    default_message = (
        "The payment provider did not answer; if the card was charged, the charge will be given back."
    )
