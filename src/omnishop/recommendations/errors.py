"""Errors of the recommendations context (codes documented in docs/recommendations.md)."""

from omnishop.core.errors import Conflict, NotFound, ValidationFailed


class BatchTooLarge(ValidationFailed):
    code = "batch_too_large"
    status = 413


class ProductNotFound(NotFound):
    code = "product_not_found"


class CustomerNotFound(NotFound):
    code = "customer_not_found"


class ChannelNotFound(NotFound):
    code = "channel_not_found"


class IdentityRequired(ValidationFailed):
    code = "identity_required"


class NothingToTrain(Conflict):
    code = "nothing_to_train"
