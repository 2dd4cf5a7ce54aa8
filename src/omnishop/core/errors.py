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


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests; slow down."


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413
    default_message = "The request body is too large."
