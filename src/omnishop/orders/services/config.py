"""Merchant configuration the checkout reads: shipping methods and tax rates per channel, and the methods a
shop offers its shoppers before they check out."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from omnishop.core.errors import AlreadyExists, ValidationFailed
from omnishop.core.money import parse_amount
from omnishop.inventory import services as inventory

from ..models import ShippingMethod, TaxRate
from ..pricing import serves_country
from .common import COUNTRY_CODES


def create_shipping_method(
    *,
    channel,
    code: str,
    name: str,
    kind: str,
    price: str = "0",
    free_over: str | None = None,
    bands: list[dict] | None = None,
    countries: list[str] | None = None,
    pickup_location: str | None = None,
) -> ShippingMethod:
    if kind not in ShippingMethod.Kind.values:
        raise ValidationFailed(f"kind is one of {', '.join(ShippingMethod.Kind.values)}.", field="kind")
    currency = channel.currency
    clean_bands = []
    for i, band in enumerate(bands or []):
        try:
            grams = int(band["up_to_grams"])
        except (KeyError, TypeError, ValueError):
            raise ValidationFailed("Each band has up_to_grams and price.", field=f"bands[{i}]") from None
        if grams < 1:
            raise ValidationFailed("up_to_grams is positive.", field=f"bands[{i}].up_to_grams")
        clean_bands.append(
            {
                "up_to_grams": grams,
                "price": str(parse_amount(band.get("price"), currency, field=f"bands[{i}].price")),
            }
        )
    if kind == ShippingMethod.Kind.WEIGHT and not clean_bands:
        raise ValidationFailed("A weight-band method needs bands.", field="bands")
    if kind == ShippingMethod.Kind.FREE_OVER and free_over is None:
        raise ValidationFailed("A free-over method needs free_over.", field="free_over")
    codes = [c.upper() for c in countries or []]
    for i, c in enumerate(codes):
        if c not in COUNTRY_CODES:
            raise ValidationFailed(f"'{c}' is not an ISO-3166 country.", field=f"countries[{i}]")
    location = None
    if kind == ShippingMethod.Kind.PICKUP:
        if not pickup_location:
            raise ValidationFailed("Store pick-up names its location.", field="pickup_location")
        location = inventory.location_by_code(pickup_location, field="pickup_location")
        if not location.serves_pickup:
            raise ValidationFailed(f"'{pickup_location}' does not serve pick-up.", field="pickup_location")
    try:
        with transaction.atomic():
            return ShippingMethod.objects.create(
                channel=channel,
                code=code,
                name=name,
                kind=kind,
                price=parse_amount(price, currency, field="price"),
                free_over=parse_amount(free_over, currency, field="free_over")
                if free_over is not None
                else None,
                bands=clean_bands,
                countries=codes,
                pickup_location=location,
            )
    except IntegrityError:
        raise AlreadyExists(f"Channel {channel.code} already has method '{code}'.", field="code") from None


def set_tax_rate(*, channel, country: str, rate: str) -> TaxRate:
    country = country.upper()
    if country != "*" and country not in COUNTRY_CODES:
        raise ValidationFailed(f"'{country}' is not an ISO-3166 country (or '*').", field="country")
    try:
        value = Decimal(str(rate))
    except ArithmeticError:
        raise ValidationFailed('rate is a decimal such as "0.20".', field="rate") from None
    if not value.is_finite() or not (0 <= value < 1) or value != value.quantize(Decimal("0.0001")):
        raise ValidationFailed("rate is between 0 and 1 with at most 4 decimals.", field="rate")
    found, _ = TaxRate.objects.update_or_create(channel=channel, country=country, defaults={"rate": value})
    return found


def offered_shipping_methods(*, channel, country: str | None = None) -> list[ShippingMethod]:
    """The active methods a shopper of `channel` can choose, cheapest first; with `country` (the shipping
    address's), only those the checkout accepts for it, by the same `countries` rule as the quote."""
    if country is not None:
        country = country.upper()
        if country not in COUNTRY_CODES:
            raise ValidationFailed(f"'{country}' is not an ISO-3166 country.", field="country")
    methods = ShippingMethod.objects.filter(channel=channel, is_active=True).select_related("pickup_location")
    return [m for m in methods.order_by("price", "code") if country is None or serves_country(m, country)]
