"""The customer's address book: validated countries and phones, one default for shipping and one for
billing, defaults that pass on when an address goes."""

from __future__ import annotations

from babel import Locale
from django.db import transaction

from omnishop.core.errors import InvalidCountry, NotFound, ValidationFailed

from .models import Address, Customer
from .normalise import optional_phone


class AddressNotFound(NotFound):
    code = "address_not_found"


def _countries() -> frozenset[str]:
    territories = Locale("en").territories
    return frozenset(
        code
        for code in territories
        if len(code) == 2 and code.isalpha() and code not in {"ZZ", "EU", "EZ", "UN", "QO"}
    )


COUNTRIES = _countries()

ADDRESS_FIELDS = ("name", "company", "line1", "line2", "city", "postcode", "region", "country", "phone")


def _clean_address(values: dict) -> dict:
    cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
    if "country" in cleaned:
        country = (cleaned["country"] or "").upper()
        if country not in COUNTRIES:
            raise InvalidCountry(
                f"'{cleaned['country']}' is not an ISO-3166 alpha-2 country code.", field="country"
            )
        cleaned["country"] = country
    for required in ("name", "line1", "city"):
        if required in cleaned and not cleaned[required]:
            raise ValidationFailed(f"'{required}' must not be empty.", field=required)
    if cleaned.get("postcode"):
        cleaned["postcode"] = cleaned["postcode"].upper()
    return cleaned


def add_address(
    *,
    customer: Customer,
    name: str,
    line1: str,
    city: str,
    country: str,
    company: str = "",
    line2: str = "",
    postcode: str = "",
    region: str = "",
    phone: str = "",
    is_default_shipping: bool = False,
    is_default_billing: bool = False,
) -> Address:
    """Add to the address book; the first address becomes the default for shipping and billing."""
    values = _clean_address(
        dict(
            name=name,
            company=company,
            line1=line1,
            line2=line2,
            city=city,
            postcode=postcode,
            region=region,
            country=country,
        )
    )
    values["phone"] = optional_phone(phone, region=values["country"])
    with transaction.atomic():
        first = not customer.addresses.exists()
        ship, bill = is_default_shipping or first, is_default_billing or first
        _clear_defaults(customer, shipping=ship, billing=bill)
        return Address.objects.create(
            customer=customer, is_default_shipping=ship, is_default_billing=bill, **values
        )


def update_address(*, address: Address, **changes) -> Address:
    unknown = set(changes) - {*ADDRESS_FIELDS, "is_default_shipping", "is_default_billing"}
    if unknown:
        raise ValidationFailed(
            f"Unknown address field(s): {', '.join(sorted(unknown))}.", field=sorted(unknown)[0]
        )
    flags = {k: changes.pop(k) for k in ("is_default_shipping", "is_default_billing") if k in changes}
    values = _clean_address(changes)
    if "phone" in values:
        values["phone"] = optional_phone(values["phone"], region=values.get("country", address.country))
    with transaction.atomic():
        _clear_defaults(
            address.customer,
            shipping=bool(flags.get("is_default_shipping")),
            billing=bool(flags.get("is_default_billing")),
            keep=address.pk,
        )
        for key, value in {**values, **flags}.items():
            setattr(address, key, value)
        address.save()
    return address


def delete_address(*, address: Address) -> None:
    """Remove from the address book; a removed default passes to the most recently added address left."""
    with transaction.atomic():
        customer = address.customer
        was_shipping, was_billing = address.is_default_shipping, address.is_default_billing
        address.delete()
        successor = customer.addresses.order_by("-created_at", "-pk").first()
        if successor is not None and (was_shipping or was_billing):
            successor.is_default_shipping = successor.is_default_shipping or was_shipping
            successor.is_default_billing = successor.is_default_billing or was_billing
            successor.save(update_fields=["is_default_shipping", "is_default_billing", "updated_at"])


def get_address(*, customer: Customer, address_id: int) -> Address:
    address = customer.addresses.filter(pk=address_id).first()
    if address is None:
        raise AddressNotFound(f"No address {address_id} in this address book.", field="address_id")
    return address


def _clear_defaults(customer: Customer, *, shipping: bool, billing: bool, keep: int | None = None) -> None:
    others = customer.addresses.exclude(pk=keep) if keep else customer.addresses.all()
    if shipping:
        others.filter(is_default_shipping=True).update(is_default_shipping=False)
    if billing:
        others.filter(is_default_billing=True).update(is_default_billing=False)
