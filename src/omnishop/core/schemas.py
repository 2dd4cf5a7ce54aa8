"""Base schemas for the API: inputs reject unknown fields, outputs serialise money and times one way."""

import functools

from ninja import Field, Schema
from pydantic import ConfigDict, TypeAdapter, create_model

from .errors import all_codes


class InputSchema(Schema):
    """Request bodies: an unknown field is an error (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputSchema(Schema):
    model_config = ConfigDict(from_attributes=True)


class MoneyOut(Schema):
    amount: str
    currency: str


def _codes(status: int | None):
    def publish(schema: dict) -> None:
        # Filled in when the OpenAPI document is generated, once every app's errors are loaded.
        schema["enum"] = all_codes(status=status)

    return publish


@functools.cache
def error_schema(status: int | None = None) -> type[Schema]:
    """The envelope `{"error": {...}}` whose `code` is published as the enum of the codes answered with
    `status` (all codes without one); one class per status, so each has one component name."""
    suffix = "" if status is None else str(status)
    body = create_model(
        f"Error{suffix}Body",
        __base__=Schema,
        code=(
            str,
            Field(
                description="Stable machine code; clients switch on it (docs/API.md lists them all).",
                json_schema_extra=_codes(status),
            ),
        ),
        message=(str, ...),
        field=(str | None, None),
        details=(dict, {}),
    )
    return create_model(f"Error{suffix}Out", __base__=Schema, error=(body, ...))


ErrorOut = error_schema()
ErrorBody = ErrorOut.model_fields["error"].annotation


class Page(Schema):
    """Every list endpoint answers with items and an opaque cursor for the next page (null at the end)."""

    next_cursor: str | None = None


# The client errors any endpoint can answer (docs/API.md): malformed JSON, credentials, scope, not found,
# conflicts and idempotency, body too large, wrong media type, validation, rate limit.
ERRORS = {status: error_schema(status) for status in (400, 401, 403, 404, 409, 413, 415, 422, 429)}


@functools.cache
def _adapter(schema) -> TypeAdapter:
    return TypeAdapter(schema)


def conform(schema, data):
    """`data` validated against the response schema and reduced to its fields, as ninja treats a value an
    endpoint returns — for answers that leave as a ready-made response (idempotent replays, the checkout
    hot path), so they cannot drift from what the OpenAPI document promises."""
    adapter = _adapter(schema)
    if not (isinstance(schema, type) and isinstance(data, schema)):  # an instance was validated when built
        data = adapter.validate_python(data)
    return adapter.dump_python(data)
