"""Checks shared by the catalog's services for plain fields: text, slugs, whole numbers."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_unicode_slug

from omnishop.core.errors import ValidationFailed


def text(value: object, *, field: str, max_length: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text.", field=field)
    value = value.strip()
    if "\x00" in value:
        raise ValidationFailed(f"{field} may not contain NUL characters.", field=field)
    if required and not value:
        raise ValidationFailed(f"{field} may not be blank.", field=field)
    if len(value) > max_length:
        raise ValidationFailed(f"{field} is longer than {max_length} characters.", field=field)
    return value


def slug(value: str, *, field: str, max_length: int) -> str:
    value = text(value, field=field, max_length=max_length)
    try:
        validate_unicode_slug(value)
    except DjangoValidationError:
        raise ValidationFailed(
            f"'{value}' is not a slug (letters, digits, '-' and '_' only).", field=field
        ) from None
    return value


def non_negative_int(value: object, *, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationFailed(f"{field} must be a whole number ≥ {minimum}.", field=field)
    return value
