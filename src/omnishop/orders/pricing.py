"""Prices, shipping fees and taxes for a set of lines: the one place checkout totals are computed.

Rules (written once, also in docs/orders.md): the unit price is the channel listing's price in the channel's
currency; a line is unit price × quantity rounded once (core.money, ROUND_HALF_UP to the currency's minor
unit). With tax-inclusive prices the tax in a line is total × rate / (1 + rate), rounded once, and the net
is the rest; with tax-exclusive prices the tax is net × rate, rounded once. Shipping is taxed like a line at
the destination's rate. Order totals are sums of rounded lines, never rounded again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.core import rows, statements
from omnishop.core.money import MAX_AMOUNT, quantize

from .errors import AmountTooLarge, QuantityTooLarge, ShippingMethodUnavailable, VariantUnavailable
from .models import ShippingMethod, TaxRate

MAX_LINE_QUANTITY = 10_000
ZERO = Decimal(0)


@dataclass
class PricedLine:
    variant_id: int
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    weight_grams: int
    tax_rate: Decimal = ZERO
    line_net: Decimal = ZERO
    line_tax: Decimal = ZERO
    line_total: Decimal = ZERO
    line_listed: Decimal = ZERO  # unit price × quantity as the channel lists it (gross or net)
    product_id: int | None = None


@dataclass
class Quote:
    currency: str
    prices_include_tax: bool
    lines: list[PricedLine]
    shipping_method: ShippingMethod | None
    tax_rate: Decimal
    subtotal: Decimal = ZERO
    shipping_total: Decimal = ZERO
    shipping_tax: Decimal = ZERO
    tax_total: Decimal = ZERO
    total: Decimal = ZERO
    weight_grams: int = 0
    notes: list[str] = field(default_factory=list)


_NO_COUNTRY = object()


def listed_lines(
    *,
    channel,
    quantities: dict[int, int] | None = None,
    skus: dict[str, int] | None = None,
    tax_country=_NO_COUNTRY,
):
    """Look up published listings (one query) for variant ids or SKUs → PricedLine without taxes. With
    `tax_country`, the same query reads the channel's tax rate for that destination into each line's
    tax_rate (what `tax_rate_for` would answer), so `quote(rate=…)` needs no query of its own."""
    by_key = {}
    for listing in _listings(channel, skus=skus, quantities=quantities, tax_country=tax_country):
        key = listing.variant.sku if skus is not None else listing.variant_id
        by_key[key] = listing
    wanted = skus if skus is not None else quantities
    lines = []
    for i, (key, quantity) in enumerate(wanted.items()):
        listing = by_key.get(key)
        if listing is None or not listing.is_published or not listing.variant.is_active:
            raise VariantUnavailable(
                f"'{key}' is not sold on channel '{channel.code}'.", field=f"lines[{i}].sku", sku=str(key)
            )
        if listing.currency != channel.currency:
            from .errors import CurrencyMismatch

            raise CurrencyMismatch(
                f"The listing of '{key}' is in {listing.currency}, the channel sells in {channel.currency}.",
                field=f"lines[{i}].sku",
            )
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise QuantityTooLarge("Quantities are whole numbers from 1.", field=f"lines[{i}].quantity")
        if quantity > MAX_LINE_QUANTITY:
            raise QuantityTooLarge(
                f"At most {MAX_LINE_QUANTITY} units per line.", field=f"lines[{i}].quantity"
            )
        variant = listing.variant
        lines.append(
            PricedLine(
                variant_id=variant.pk,
                sku=variant.sku,
                title=(listing.title or f"{variant.product.title} {variant.title}".strip())[:500],
                quantity=quantity,
                unit_price=quantize(listing.price, channel.currency),
                weight_grams=(variant.weight_grams or 0) * quantity,
                tax_rate=getattr(listing, "destination_rate", ZERO),
                product_id=variant.product_id,
            )
        )
    return lines


def _listings(channel, *, skus, quantities, tax_country) -> list[ChannelListing]:
    """The channel's listings of the wanted variants with their variant and product (and the destination's
    tax rate as `destination_rate`), in one hand-written statement: every checkout and cart quote runs it, and
    compiling the equivalent queryset (select_related, two rate subqueries) cost more CPU than the database's
    answer (bench/profile_checkout.py)."""
    keys = list(skus if skus is not None else quantities)
    if not keys:
        return []
    marks = ", ".join(["%s"] * len(keys))
    where = f"v.sku IN ({marks})" if skus is not None else f"l.variant_id IN ({marks})"
    rate, params = "", [channel.pk]
    if tax_country is not _NO_COUNTRY:
        table = TaxRate._meta.db_table
        rate = (
            f", COALESCE((SELECT r.rate FROM {table} r WHERE r.channel_id = %s AND r.country = %s),"
            f" (SELECT r.rate FROM {table} r WHERE r.channel_id = %s AND r.country = '*'))"
        )
        params = [channel.pk, tax_country or "", channel.pk, channel.pk]
    sql = (
        f"SELECT {rows.columns(ChannelListing, 'l')}, {rows.columns(Variant, 'v')}, "
        f"{rows.columns(Product, 'p')}{rate} FROM {ChannelListing._meta.db_table} l "
        f"JOIN {Variant._meta.db_table} v ON v.id = l.variant_id "
        f"JOIN {Product._meta.db_table} p ON p.id = v.product_id WHERE l.channel_id = %s AND {where}"
    )
    found = statements.fetch_all(sql, [*params, *keys])
    listings = []
    at_variant = rows.width(ChannelListing)
    at_product = at_variant + rows.width(Variant)
    at_rate = at_product + rows.width(Product)
    for row in found:
        listing = rows.instance(ChannelListing, row)
        variant = rows.instance(Variant, row, at_variant)
        product = rows.instance(Product, row, at_product)
        Variant.product.field.set_cached_value(variant, product)
        ChannelListing.variant.field.set_cached_value(listing, variant)
        if rate:
            listing.destination_rate = _rate(row[at_rate])
        listings.append(listing)
    return listings


RATE_PLACES = Decimal("0.0001")


def _rate(value) -> Decimal:
    """A tax rate as the queryset's DecimalField(6, 4) annotation reads it (SQLite answers a float)."""
    if value is None:
        return ZERO
    if not isinstance(value, Decimal):
        value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return value.quantize(RATE_PLACES)


def tax_rate_for(*, channel, country: str | None) -> Decimal:
    rates = dict(
        TaxRate.objects.filter(channel=channel, country__in=[country or "", "*"]).values_list(
            "country", "rate"
        )
    )
    return rates.get(country or "", rates.get("*", ZERO))


def split_tax(
    amount: Decimal, rate: Decimal, currency: str, inclusive: bool
) -> tuple[Decimal, Decimal, Decimal]:
    """(net, tax, total) of an amount as listed."""
    if inclusive:
        tax = quantize(amount * rate / (1 + rate), currency)
        return amount - tax, tax, amount
    tax = quantize(amount * rate, currency)
    return amount, tax, amount + tax


def serves_country(method: ShippingMethod, country: str | None) -> bool:
    """Whether `method` delivers to `country` (a method without a country list serves every country)."""
    return not method.countries or country in method.countries


def shipping_fee(method: ShippingMethod, *, goods: Decimal, weight_grams: int, country: str | None, currency):
    if not method.is_active:
        raise ShippingMethodUnavailable(f"'{method.code}' is not offered.", field="shipping_method")
    if not serves_country(method, country):
        raise ShippingMethodUnavailable(
            f"'{method.code}' does not ship to {country or 'an unknown country'}.", field="shipping_method"
        )
    kind = method.kind
    if kind == ShippingMethod.Kind.PICKUP:
        return quantize(method.price, currency)
    if kind == ShippingMethod.Kind.FREE_OVER:
        if method.free_over is not None and goods >= method.free_over:
            return ZERO
        return quantize(method.price, currency)
    if kind == ShippingMethod.Kind.WEIGHT:
        for band in sorted(method.bands, key=lambda b: int(b["up_to_grams"])):
            if weight_grams <= int(band["up_to_grams"]):
                return quantize(Decimal(str(band["price"])), currency)
        raise ShippingMethodUnavailable(
            f"'{method.code}' does not carry {weight_grams} g.",
            field="shipping_method",
            weight_grams=weight_grams,
        )
    return quantize(method.price, currency)


def quote(
    *,
    channel,
    lines: list[PricedLine],
    method: ShippingMethod | None,
    country: str | None,
    rate: Decimal | None = None,
) -> Quote:
    """Tax and total `lines` plus shipping for a destination country (`rate`: its tax rate, if already read)."""
    currency, inclusive = channel.currency, channel.prices_include_tax
    if rate is None:
        rate = tax_rate_for(channel=channel, country=country)
    q = Quote(
        currency=currency, prices_include_tax=inclusive, lines=lines, shipping_method=method, tax_rate=rate
    )
    for line in lines:
        line.line_listed = quantize(line.unit_price * line.quantity, currency)
        line.tax_rate = rate
        line.line_net, line.line_tax, line.line_total = split_tax(line.line_listed, rate, currency, inclusive)
        q.subtotal += line.line_listed
        q.tax_total += line.line_tax
        q.total += line.line_total
        q.weight_grams += line.weight_grams
    if method is not None:
        fee = shipping_fee(
            method, goods=q.subtotal, weight_grams=q.weight_grams, country=country, currency=currency
        )
        _, q.shipping_tax, gross = split_tax(fee, rate, currency, inclusive)
        q.shipping_total = fee
        q.tax_total += q.shipping_tax
        q.total += gross
    return q


def check_fits(q: Quote, *, shipping_field: str) -> None:
    """Refuse a quote whose amounts an order could not store: each fits DecimalField(14, 4), i.e. is below
    10^10. Unit prices are bounded where they are set, but price × quantity and the sums are not, and
    PostgreSQL refuses an overflowing INSERT (a 500) after the stock is held and the card charged."""
    limit = str(MAX_AMOUNT - Decimal("0.0001"))
    for i, line in enumerate(q.lines):
        for amount in (line.line_listed, line.line_net, line.line_tax, line.line_total):
            if abs(amount) >= MAX_AMOUNT:
                raise AmountTooLarge(
                    f"{line.quantity} × {line.unit_price} comes to {amount}; a line holds at most {limit}.",
                    field=f"lines[{i}].quantity",
                    amount=str(amount),
                    limit=limit,
                )
    goods = (
        q.subtotal,
        sum((line.line_total for line in q.lines), ZERO),
        sum((x.line_tax for x in q.lines), ZERO),
    )
    if any(abs(amount) >= MAX_AMOUNT for amount in goods):
        raise AmountTooLarge(
            f"The lines come to more than an order holds ({limit}).", field="lines", limit=limit
        )
    for amount in (q.shipping_total, q.tax_total, q.total):
        if abs(amount) >= MAX_AMOUNT:
            raise AmountTooLarge(
                f"With shipping the order comes to {q.total}; an order holds at most {limit}.",
                field=shipping_field,
                amount=str(q.total),
                limit=limit,
            )
