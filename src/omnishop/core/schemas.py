"""Base schemas for the API: inputs reject unknown fields, outputs serialise money and times one way.

Every number a client sends has bounds its column can hold, in the schema (so clients see them) and
checked before any write: a 64-bit id, a 32-bit integer (PostgreSQL `integer`, what Django's
IntegerField and PositiveIntegerField are), an amount of at most 14 digits with 4 decimals (the money
columns). Beyond them the answer is a 422 naming the field, never an overflow in the database.
"""

import functools
from decimal import Decimal
from typing import Annotated, Any

from ninja import Schema
from pydantic import ConfigDict, Field, TypeAdapter, create_model, field_validator

from .errors import all_codes

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# A primary key or other bigint identifier: positive, at most 2^63 - 1.
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
# A count, quantity, number of seconds or days: what an IntegerField column holds.
Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX)]
# An amount as a number (the money columns are DecimalField(max_digits=14, decimal_places=4)).
Amount = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.9999"), max_digits=14, decimal_places=4)]
# A share, a score or a probability: 0 to 1.
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def has_nul(value: Any) -> bool:
    """Whether a string, or any key or value nested in a dict or list, holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class RefusesNul(Schema):
    """Any input: a NUL character is an error (PostgreSQL cannot store it in text or JSON; a file path holding
    one names nothing). Query-parameter schemas use it directly; request bodies through InputSchema."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("Text may not contain NUL (\\u0000) characters.")
        return value


class InputSchema(RefusesNul):
    """Request bodies: an unknown field is an error (a typo must not be silently ignored), and so is a NUL
    character (RefusesNul)."""

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
