"""Domain errors: one class per business failure, each with a stable machine code and an HTTP status.

`omnishop.api` turns every DomainError (and every validation failure) into the JSON error envelope
`{"error": {"code", "message", "field", "details"}}`. The list of codes is documented in docs/API.md.
"""

from typing import Any


class DomainError(Exception):
    code = "domain_error"
    status = 400
    default_message = "The request could not be carried out."

    def __init__(self, message: str | None = None, *, field: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.field = field
        self.details = details
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field, "details": self.details}


class ValidationFailed(DomainError):
    code = "validation_error"
    status = 422
    default_message = "A field has an invalid value."


class UnknownField(ValidationFailed):
    """A field or query parameter the operation does not take: a typo must not be silently ignored."""

    code = "unknown_field"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = "No such object."


class AlreadyExists(DomainError):
    code = "already_exists"
    status = 409
    default_message = "An object with this identifier already exists."


class InvalidTransition(DomainError):
    code = "invalid_transition"
    status = 409
    default_message = "That change is not allowed in the current state."


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class AuthenticationRequired(DomainError):
    code = "authentication_required"
    status = 401
    default_message = "Authentication is required."


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    default_message = "You may not do this."


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 409
    default_message = "This Idempotency-Key was used before with a different request."


class IdempotencyInProgress(DomainError):
    code = "idempotency_in_progress"
    status = 409
    default_message = "A request with this Idempotency-Key is still being processed; retry shortly."


class InvalidEmail(ValidationFailed):
    code = "invalid_email"


class InvalidPhone(ValidationFailed):
    code = "invalid_phone"


class InvalidCountry(ValidationFailed):
    code = "invalid_country"


class BadSignature(DomainError):
    code = "bad_signature"
    status = 400
    default_message = "The webhook signature does not verify."


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests; slow down."


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413
    default_message = "The request body is too large."


# Codes the HTTP edge (omnishop.api) answers with itself rather than through a DomainError, with their
# statuses: bad JSON or media type, schema validation, ninja's authentication and permission checks, unknown
# paths, body size, rate limits, an HTTP error raised by ninja itself (any 4xx), and the 500 of a bug.
EDGE_CODES: dict[str, tuple[int, ...]] = {
    "malformed_json": (400,),
    "bad_request": (400,),
    "authentication_required": (401,),
    "permission_denied": (403,),
    "not_found": (404,),
    "payload_too_large": (413,),
    "unsupported_media_type": (415,),
    "unknown_field": (422,),
    "required": (422,),
    "validation_error": (422,),
    "rate_limited": (429,),
    "http_error": (400, 401, 403, 404, 405, 409, 413, 415, 422, 429),
    "internal_error": (500,),
}


def error_classes() -> list[type[DomainError]]:
    """Every DomainError subclass of the loaded apps (each app's errors module is imported with its API)."""
    found: list[type[DomainError]] = []
    pending = [DomainError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                pending.append(sub)
    return found


def all_codes(*, status: int | None = None) -> list[str]:
    """Every error code the API can answer with (with `status`, only those answered with that status),
    once, sorted: what the error schemas publish as enums."""
    edge = {code for code, statuses in EDGE_CODES.items() if status is None or status in statuses}
    raised = {cls.code for cls in error_classes() if status is None or cls.status == status}
    return sorted(edge | raised)
