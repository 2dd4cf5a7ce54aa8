"""Errors of the recommendations context (codes documented in docs/recommendations.md)."""

from omnishop.catalog.errors import ProductNotFound
from omnishop.channels.services import ChannelNotFound
from omnishop.core.errors import Conflict, ValidationFailed
from omnishop.customers.errors import CustomerNotFound

__all__ = ["ChannelNotFound", "CustomerNotFound", "ProductNotFound"]  # one class per code: re-exported


class BatchTooLarge(ValidationFailed):
    code = "batch_too_large"
    status = 413


class IdentityRequired(ValidationFailed):
    code = "identity_required"


class NothingToTrain(Conflict):
    code = "nothing_to_train"
