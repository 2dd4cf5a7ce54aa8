"""The customers context's failures, one class per code (codes in docs/API.md). Validation of e-mails, phones
and countries is shared with other contexts and lives in core.errors."""

from omnishop.core.errors import InvalidCountry, InvalidEmail, InvalidPhone, NotFound, ValidationFailed

__all__ = [
    "CustomerNotFound",
    "IdentifierRequired",
    "InvalidCountry",
    "InvalidEmail",
    "InvalidPhone",
    "MergeRecordNotFound",
]


class CustomerNotFound(NotFound):
    code = "customer_not_found"


class MergeRecordNotFound(NotFound):
    code = "merge_not_found"


class IdentifierRequired(ValidationFailed):
    code = "identifier_required"
