"""Normalised e-mail addresses and phone numbers: the one spelling we store and match on.

E-mail: syntax checked by `email-validator` (no DNS lookups: a shop must accept an order while a mail
server is down), IDNA domain normalised, the whole address lower-cased (mailbox parts are case-sensitive
in theory, never in practice, and matching on them is what shoppers expect). Phone: parsed by
`phonenumbers` with the channel's country as the default region, stored as E.164.
"""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from email_validator import EmailNotValidError, validate_email

from omnishop.core.errors import InvalidEmail, InvalidPhone

__all__ = [
    "InvalidEmail",
    "InvalidPhone",
    "normalise_email",
    "normalise_phone",
    "optional_email",
    "optional_phone",
]


def normalise_email(raw: str, *, field: str = "email") -> str:
    """'  Jane.Doe@Example.COM ' -> 'jane.doe@example.com'; raises InvalidEmail."""
    value = (raw or "").strip()
    if not value:
        raise InvalidEmail("An e-mail address is required.", field=field)
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"'{value}' is not a valid e-mail address: {exc}", field=field) from None
    return result.normalized.lower()


def normalise_phone(raw: str, *, region: str | None = None, field: str = "phone") -> str:
    """'07911 123456' (GB) or '+44 7911 123456' -> '+447911123456'; raises InvalidPhone."""
    value = (raw or "").strip()
    if not value:
        raise InvalidPhone("A phone number is required.", field=field)
    region = (region or settings.OMNISHOP_DEFAULT_PHONE_REGION).upper()
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"'{value}' is not a phone number: {exc}", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"'{value}' is not a valid phone number for region {region}.", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def optional_email(raw: str | None, *, field: str = "email") -> str:
    """'' for no value, else the normalised address."""
    return normalise_email(raw, field=field) if raw and raw.strip() else ""


def optional_phone(raw: str | None, *, region: str | None = None, field: str = "phone") -> str:
    return normalise_phone(raw, region=region, field=field) if raw and raw.strip() else ""


def phone_suffix(e164: str, digits: int = 7) -> str:
    """The last digits of a number: a blocking key that survives a wrong or missing country prefix."""
    only_digits = "".join(ch for ch in e164 if ch.isdigit())
    return only_digits[-digits:] if len(only_digits) >= digits else ""


def normalise_postcode(raw: str) -> str:
    return "".join((raw or "").split()).upper()
