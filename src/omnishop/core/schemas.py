"""Base schemas for the API: inputs reject unknown fields, outputs serialise money and times one way."""

import functools

from ninja import Schema
from pydantic import ConfigDict, TypeAdapter


class InputSchema(Schema):
    """Request bodies: an unknown field is an error (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputSchema(Schema):
    model_config = ConfigDict(from_attributes=True)


class MoneyOut(Schema):
    amount: str
    currency: str


class ErrorBody(Schema):
    code: str
    message: str
    field: str | None = None
    details: dict = {}


class ErrorOut(Schema):
    error: ErrorBody


class Page(Schema):
    """Every list endpoint answers with items and an opaque cursor for the next page (null at the end)."""

    next_cursor: str | None = None


# The client errors any endpoint can answer (docs/API.md): malformed JSON, credentials, scope, not found,
# conflicts and idempotency, body too large, wrong media type, validation, rate limit.
ERRORS = {status: ErrorOut for status in (400, 401, 403, 404, 409, 413, 415, 422, 429)}


@functools.cache
def _adapter(schema) -> TypeAdapter:
    return TypeAdapter(schema)


def conform(schema, data):
    """`data` validated against the response schema and reduced to its fields, as ninja treats a value an
    endpoint returns — for answers that leave as a ready-made response (idempotent replays, the checkout
    hot path), so they cannot drift from what the OpenAPI document promises."""
    adapter = _adapter(schema)
    return adapter.dump_python(adapter.validate_python(data))
