"""Suppliers and what they charge for each variant (cost, currency, lead time, MOQ, pack size, and the
freight and duty that land on top of the cost).

Costs are the merchant's private data: the API shows them to staff and write-scoped channel keys only.
At most one offer per variant is preferred; marking one preferred unsets the others in the same
transaction (the variant row is locked, so two concurrent "make preferred" calls cannot both win).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from babel import Locale
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from email_validator import EmailNotValidError, validate_email

from omnishop.core.errors import Conflict, ValidationFailed
from omnishop.core.money import InvalidAmount, quantize_unit_cost, validate_currency

from .errors import (
    DuplicateOffer,
    DuplicateSupplier,
    InvalidCountry,
    InvalidEmail,
    InvalidPhone,
    OfferNotFound,
    SupplierNotFound,
)
from .fields import slug, text
from .models import Supplier, SupplierOffer, Variant
from .unset import UNSET

_COUNTRIES = frozenset(code for code in Locale("en").territories if len(code) == 2 and code.isalpha())
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ"})


class SupplierInUse(Conflict):
    code = "supplier_in_use"


def validate_country(code: str, *, field: str = "country") -> str:
    """ISO-3166 alpha-2 country code in upper case (blank allowed: country unknown)."""
    if not isinstance(code, str):
        raise InvalidCountry("country must be an ISO-3166 alpha-2 code.", field=field)
    code = code.strip().upper()
    if code and (code not in _COUNTRIES or code in _NOT_COUNTRIES):
        raise InvalidCountry(f"'{code}' is not an ISO-3166 alpha-2 country code.", field=field)
    return code


def normalise_email(email: str, *, field: str = "email") -> str:
    if not isinstance(email, str):
        raise InvalidEmail("email must be text.", field=field)
    email = email.strip()
    if not email:
        return ""
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidEmail(f"'{email}' is not a valid e-mail address: {exc}", field=field) from None


def normalise_phone(phone: str, *, region: str | None = None, field: str = "phone") -> str:
    """E.164 form of `phone` (read as a national number of `region` when it has no +country prefix)."""
    if not isinstance(phone, str):
        raise InvalidPhone("phone must be text.", field=field)
    phone = phone.strip()
    if not phone:
        return ""
    region = region or settings.OMNISHOP_DEFAULT_PHONE_REGION
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(f"'{phone}' is not a phone number.", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"'{phone}' is not a valid phone number for {region}.", field=field, region=region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _text(value: Any, *, field: str, max_length: int, required: bool = False) -> str:
    return text(value, field=field, max_length=max_length, required=required)


def _whole(value: Any, *, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationFailed(f"{field} must be a whole number ≥ {minimum}.", field=field)
    return value


def parse_cost(value: Any, *, field: str = "cost") -> Decimal:
    """A unit cost: decimal string, ≥ 0, up to 4 decimal places (suppliers quote fractions of a cent)."""
    if isinstance(value, float | bool) or value is None:
        raise InvalidAmount('Send money as a decimal string, e.g. "1.2500".', field=field)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidAmount(f"'{value}' is not a decimal amount.", field=field) from None
    if not amount.is_finite() or amount < 0:
        raise InvalidAmount("A cost is a decimal amount ≥ 0.", field=field)
    # Magnitude first: quantising 1E+30 to 4 places overflows the decimal context.
    if amount >= Decimal("1e10") or amount != amount.quantize(Decimal("0.0001")):
        raise InvalidAmount("A cost has at most 4 decimal places and 10 integer digits.", field=field)
    return amount.quantize(Decimal("0.0001"))


MAX_DUTY_PERCENT = Decimal("999.9999")


def parse_percent(value: Any, *, field: str = "duty_percent") -> Decimal:
    """A percentage from 0 to 999.9999 (duties above 100 % exist), up to 4 decimal places."""
    if isinstance(value, float | bool) or value is None:
        raise ValidationFailed('Send a percentage as a decimal string, e.g. "12.5".', field=field)
    try:
        percent = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed(f"'{value}' is not a decimal percentage.", field=field) from None
    if not percent.is_finite() or not 0 <= percent <= MAX_DUTY_PERCENT:
        raise ValidationFailed(f"A percentage is from 0 to {MAX_DUTY_PERCENT}.", field=field)
    if percent != percent.quantize(Decimal("0.0001")):
        raise ValidationFailed("A percentage has at most 4 decimal places.", field=field)
    return percent.quantize(Decimal("0.0001"))


def landed_unit_cost(*, cost: Decimal, freight_per_unit: Decimal, duty_percent: Decimal) -> Decimal:
    """What one unit costs once on the shelf: cost + freight a unit + duty % × cost, all in one currency,
    rounded once, half up, to 4 places (duty is charged on the cost, the goods' value at the supplier)."""
    return quantize_unit_cost(cost + freight_per_unit + cost * duty_percent / 100)


def offer_landed_unit_cost(offer: SupplierOffer) -> Decimal:
    return landed_unit_cost(
        cost=offer.cost, freight_per_unit=offer.freight_per_unit, duty_percent=offer.duty_percent
    )


# --- suppliers ----------------------------------------------------------------------------------


def get_supplier(supplier_id: int) -> Supplier:
    try:
        return Supplier.objects.get(pk=supplier_id)
    except (Supplier.DoesNotExist, ValueError, TypeError):
        raise SupplierNotFound(f"No supplier {supplier_id}.", field="supplier_id") from None


def _supplier_fields(supplier: Supplier, changes: dict[str, Any]) -> None:
    if "name" in changes:
        supplier.name = _text(changes["name"], field="name", max_length=200, required=True)
    if "country" in changes:
        supplier.country = validate_country(changes["country"])
    if "email" in changes:
        supplier.email = normalise_email(changes["email"] or "")
    if "phone" in changes or ("country" in changes and supplier.phone):
        raw = changes.get("phone", supplier.phone) or ""
        supplier.phone = normalise_phone(raw, region=supplier.country or None)
    if "city" in changes:
        supplier.city = _text(changes["city"] or "", field="city", max_length=200)
    if "postcode" in changes:
        supplier.postcode = _text(changes["postcode"] or "", field="postcode", max_length=20)
    if "currency" in changes:
        supplier.currency = validate_currency(changes["currency"])
    if "default_lead_time_days" in changes:
        supplier.default_lead_time_days = _whole(
            changes["default_lead_time_days"], field="default_lead_time_days", minimum=0
        )
    if "is_active" in changes:
        supplier.is_active = bool(changes["is_active"])


def create_supplier(
    *,
    code: str,
    name: str,
    email: str = "",
    phone: str = "",
    country: str = "",
    city: str = "",
    postcode: str = "",
    currency: str = "GBP",
    default_lead_time_days: int = 7,
    is_active: bool = True,
) -> Supplier:
    """Register a supplier; e-mail is validated, the phone stored as E.164, the currency checked."""
    supplier = Supplier(code=slug(code, field="code", max_length=50))
    _supplier_fields(
        supplier,
        {
            "name": name,
            "country": country,
            "email": email,
            "phone": phone,
            "city": city,
            "postcode": postcode,
            "currency": currency,
            "default_lead_time_days": default_lead_time_days,
            "is_active": is_active,
        },
    )
    try:
        with transaction.atomic():
            supplier.save()
    except IntegrityError:
        raise DuplicateSupplier(f"A supplier '{supplier.code}' exists.", field="code") from None
    return supplier


def update_supplier(*, supplier: Supplier, **changes: Any) -> Supplier:
    """Change a supplier's details (only the fields given); `is_active=False` retires it."""
    allowed = {
        "name",
        "email",
        "phone",
        "country",
        "city",
        "postcode",
        "currency",
        "default_lead_time_days",
        "is_active",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    _supplier_fields(supplier, {k: v for k, v in changes.items() if v is not UNSET})
    supplier.save()
    return supplier


def delete_supplier(*, supplier: Supplier) -> None:
    """Delete a supplier and its offers, unless other records (purchase orders) refer to it."""
    try:
        with transaction.atomic():
            supplier.delete()
    except (ProtectedError, RestrictedError):
        raise SupplierInUse(
            "Other records refer to this supplier; set is_active to false instead.", field="supplier_id"
        ) from None


# --- offers -------------------------------------------------------------------------------------


def get_offer(offer_id: int) -> SupplierOffer:
    try:
        return SupplierOffer.objects.select_related("supplier", "variant").get(pk=offer_id)
    except (SupplierOffer.DoesNotExist, ValueError, TypeError):
        raise OfferNotFound(f"No supplier offer {offer_id}.", field="offer_id") from None


def _offer_fields(offer: SupplierOffer, changes: dict[str, Any]) -> None:
    if "cost" in changes:
        offer.cost = parse_cost(changes["cost"])
    if "currency" in changes:
        offer.currency = validate_currency(changes["currency"])
    if "lead_time_days" in changes:
        offer.lead_time_days = _whole(changes["lead_time_days"], field="lead_time_days", minimum=0)
    if "min_order_quantity" in changes:
        offer.min_order_quantity = _whole(
            changes["min_order_quantity"], field="min_order_quantity", minimum=1
        )
    if "pack_size" in changes:
        offer.pack_size = _whole(changes["pack_size"], field="pack_size", minimum=1)
    if "supplier_sku" in changes:
        offer.supplier_sku = _text(changes["supplier_sku"] or "", field="supplier_sku", max_length=100)
    if "is_preferred" in changes:
        offer.is_preferred = bool(changes["is_preferred"])
    if "freight_per_unit" in changes:
        offer.freight_per_unit = parse_cost(changes["freight_per_unit"], field="freight_per_unit")
    if "duty_percent" in changes:
        offer.duty_percent = parse_percent(changes["duty_percent"])


def save_offer(*, offer: SupplierOffer) -> SupplierOffer:
    """Save an offer whose fields are checked; if it is preferred, the variant's other preferred offer is
    unset in the same transaction (used by the services below and by the back-office forms)."""
    try:
        with transaction.atomic():
            # Lock the variant: concurrent "make preferred" calls for one variant run one after the other.
            Variant.objects.select_for_update().filter(pk=offer.variant_id).first()
            if offer.is_preferred:
                SupplierOffer.objects.filter(variant_id=offer.variant_id, is_preferred=True).exclude(
                    pk=offer.pk
                ).update(is_preferred=False)
            offer.save()
    except IntegrityError:
        if (
            SupplierOffer.objects.filter(supplier_id=offer.supplier_id, variant_id=offer.variant_id)
            .exclude(pk=offer.pk)
            .exists()
        ):
            raise DuplicateOffer(
                f"Supplier '{offer.supplier.code}' already has an offer for '{offer.variant.sku}'.",
                field="variant_id",
            ) from None
        raise Conflict("Another request changed this variant's offers at the same time; retry.") from None
    return offer


def create_offer(
    *,
    supplier: Supplier,
    variant: Variant,
    cost: Any,
    currency: str | None = None,
    lead_time_days: int | None = None,
    min_order_quantity: int = 1,
    pack_size: int = 1,
    supplier_sku: str = "",
    is_preferred: bool = False,
    freight_per_unit: Any = "0",
    duty_percent: Any = "0",
) -> SupplierOffer:
    """Record what `supplier` charges for `variant`; currency and lead time default to the supplier's; freight
    a unit and duty % (in the offer's currency) default to none."""
    offer = SupplierOffer(supplier=supplier, variant=variant)
    _offer_fields(
        offer,
        {
            "cost": cost,
            "currency": currency or supplier.currency,
            "lead_time_days": supplier.default_lead_time_days if lead_time_days is None else lead_time_days,
            "min_order_quantity": min_order_quantity,
            "pack_size": pack_size,
            "supplier_sku": supplier_sku,
            "is_preferred": is_preferred,
            "freight_per_unit": freight_per_unit,
            "duty_percent": duty_percent,
        },
    )
    if SupplierOffer.objects.filter(supplier=supplier, variant=variant).exists():
        raise DuplicateOffer(
            f"Supplier '{supplier.code}' already has an offer for '{variant.sku}'.", field="variant_id"
        )
    return save_offer(offer=offer)


def update_offer(*, offer: SupplierOffer, **changes: Any) -> SupplierOffer:
    """Change an offer (only the fields given); `is_preferred=True` unsets the variant's other preferred offer."""
    allowed = {
        "cost",
        "currency",
        "lead_time_days",
        "min_order_quantity",
        "pack_size",
        "supplier_sku",
        "is_preferred",
        "freight_per_unit",
        "duty_percent",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    _offer_fields(offer, {k: v for k, v in changes.items() if v is not UNSET})
    return save_offer(offer=offer)


def delete_offer(*, offer: SupplierOffer) -> None:
    offer.delete()
