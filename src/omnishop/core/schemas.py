"""Base schemas for the API: inputs reject unknown fields, outputs serialise money and times one way.

Every number a client sends has bounds its column can hold, in the schema (so clients see them) and
checked before any write: a 64-bit id, a 32-bit integer (PostgreSQL `integer`, what Django's
IntegerField and PositiveIntegerField are), an amount of at most 14 digits with 4 decimals (the money
columns). Beyond them the answer is a 422 naming the field, never an overflow in the database.
"""

from decimal import Decimal
from typing import Annotated, Any

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

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


class InputSchema(Schema):
    """Request bodies: an unknown field is an error (a typo must not be silently ignored), and so is a NUL
    character (PostgreSQL cannot store it in text or JSON; a file path holding one names nothing)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("Text may not contain NUL (\\u0000) characters.")
        return value


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
